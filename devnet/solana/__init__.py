"""Local Solana devnet: JSON-RPC 2.0 over HTTP backed by `solders.litesvm.LiteSVM`.

    devnet = SolanaDevnet(SolanaDevnetConfig(slot_ms=50, finalized_lag=4))
    url = await devnet.start()          # port 0 = any free port
    AsyncClient(url) ...                # the real solana-py client
    devnet.advance(5)                   # produce blocks by hand (slot_ms=0 disables the clock)
    await devnet.stop()                 # saves to config.state_path when set

Genesis is deterministic from `seed`: `accounts` funded keypairs (1,000 SOL each), a classic
SPL Token mint ("USDC") and a Token-2022 mint (6 decimals, mint authority = account 0), and an
ATA for both mints per funded account holding 1,000,000 tokens. `info()` describes it.

Faithful to an Agave node: reply shapes, error codes and messages; 150-block blockhash expiry;
preflight checks (blockhash, status cache) against the preflight-commitment block, landing
checks against the newest one; duplicates refused in preflight and silently dropped when
preflight is skipped; failing transactions with skipPreflight land with `meta.err` and pay the
fee; getSignaturesForAddress lists only transactions whose account keys include the address;
getSignatureStatuses without `searchTransactionHistory` sees only the status cache; reads at
confirmed/finalized commitment (balances, accounts, token accounts) return the state of that
block; durable-nonce transactions are accepted while the nonce account holds their blockhash.

Known deviations: one validator, no forks (a confirmed block always finalizes); every
`skip_every`-th slot is skipped deterministically; transactions land in the current slot;
simulation and preflight execute against the newest state whatever the commitment (only the
blockhash/status checks use the commitment's block); no rewards, vote transactions, getBlock,
websockets or base64+zstd; `costUnits` is not reported; Token-2022 extension state is not
decoded in jsonParsed (names only); the priority fee in getFeeForMessage assumes the
200k-per-instruction default compute limit; blockhashes derive from a random genesis hash.
"""

from devnet.solana.config import SolanaDevnetConfig
from devnet.solana.server import SolanaDevnet

__all__ = ["SolanaDevnet", "SolanaDevnetConfig"]
