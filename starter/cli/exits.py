"""The exit codes of `walletflow`, documented in the README and in `walletflow --help`."""

from __future__ import annotations

OK = 0
ERROR = 1  # an error: a bad value (chain, asset, address, amount), a setting, an unreachable
#            service, no such workflow, a changed migration file
USAGE = 2  # command-line usage: unknown command or option, missing or malformed argument
REFUSED = 3  # refused by policy: a withdrawal that ended other than confirmed, a signed
#              decision the workflow refused (with its reason: self-approval, a role the key's
#              principal lacks, a revoked key, a state that no longer allows it)
TIMED_OUT = 4  # gave up waiting: `withdraw --wait --timeout`, `setup --timeout`
INTERRUPTED = 130  # Ctrl-C before `walletflow dev` was ready

TABLE = (
    (OK, "ok"),
    (ERROR, "error: bad value, setting or state, unreachable service, changed migration"),
    (USAGE, "usage: unknown command or option, missing argument"),
    (REFUSED, "refused by policy: withdrawal not confirmed, a decision the workflow refused"),
    (TIMED_OUT, "timed out waiting (withdraw --wait --timeout, setup --timeout)"),
    (INTERRUPTED, "interrupted (Ctrl-C) while `walletflow dev` was starting"),
)

EPILOG = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in TABLE) + "."
