"""Errors a person caused (bad input, bad configuration): printed as one line, exit code 1."""


class UserError(Exception):
    """Raised for anything the user can fix; the CLI prints `error: <message>` and exits 1."""
