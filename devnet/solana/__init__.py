"""Local Solana devnet: JSON-RPC 2.0 over HTTP backed by `solders.litesvm.LiteSVM`, and PubSub
(JSON-RPC over a WebSocket) on the same port.

    devnet = SolanaDevnet(SolanaDevnetConfig(slot_ms=50, finalized_lag=4))
    url = await devnet.start()          # port 0 = any free port
    AsyncClient(url) ...                # the real solana-py client
    SolanaWsClient(devnet.ws_url) ...   # ws://same host and port: `GET /` upgrades
    devnet.advance(5)                   # produce blocks by hand (slot_ms=0 disables the clock)
    await devnet.stop()                 # saves to config.state_path when set

Genesis is deterministic from `seed`: `accounts` funded keypairs (1,000 SOL each), a classic
SPL Token mint ("USDC") and a Token-2022 mint (6 decimals, mint authority = account 0), and an
ATA for both mints per funded account holding 1,000,000 tokens. `info()` describes it (`url`,
`ws_url`, accounts with secret keys, mints, decimals, slot_ms and the commitment lags).

Faithful to an Agave node: reply shapes, error codes and messages; 150-block blockhash expiry;
preflight checks (blockhash, status cache) against the preflight-commitment block, landing
checks against the newest one; duplicates refused in preflight and silently dropped when
preflight is skipped; failing transactions with skipPreflight land with `meta.err` and pay the
fee; getSignaturesForAddress lists only transactions whose account keys include the address;
getSignatureStatuses without `searchTransactionHistory` sees only the status cache; reads at
confirmed/finalized commitment (balances, accounts, token accounts) return the state of that
block; durable-nonce transactions are accepted while the nonce account holds their blockhash.

PubSub (`devnet/solana/pubsub.py`): accountSubscribe (encodings binary, base58, base64,
base64+zstd, jsonParsed for token accounts; dataSlice), programSubscribe (filters memcmp with
base58/base64/byte-array bytes, dataSize, tokenAccountState), logsSubscribe ("all",
"allWithVotes", {"mentions": [one address]}), signatureSubscribe (one-shot;
enableReceivedNotification), slotSubscribe ({parent, root, slot}), rootSubscribe, and their
unsubscribes (`true`, or -32602 "Invalid subscription id."). Default commitment finalized and
default account encoding binary, as Agave. A notification at commitment C is sent when the
block holding the change reaches C (processed: as the transaction lands), with `context.slot`
= that block's slot; accounts are notified with their state at the end of that block (at
processed: right after the transaction). As on Agave: every writable account of a successful
transaction is notified, changed or not (a failed one: its fee payer); identical subscriptions
share one id across connections; a signature already at the commitment when subscribed is never
notified. Not served: blockSubscribe, voteSubscribe, slotsUpdatesSubscribe (Method not found).
solders 0.29 (so SolanaWsClient) cannot parse three shapes a node really sends: the
"receivedSignature" value, a signatureNotification whose err holds a `Custom` instruction
error, and the binary encoding's "error: data too large for bs58 encoding" (data over 128 bytes
with the default encoding); the devnet sends them anyway.

Faults (`POST /_devnet/faults`, see devnet/faults.py) for websockets: `ws_drop_every_s` aborts
each connection that has been open that long (no close frame), `ws_delay_ms` delays each
notification, `ws_lose_rate` drops that share of notifications silently,
`ws_max_subscriptions` caps subscriptions per connection (-32603 "Internal Error: Subscription
refused. Node subscription limit reached"). `only_methods` does not apply to them. A connection
whose send queue (50,000 messages) overflows is closed with 1008.

Orphans (a confirmed transaction that never finalizes): `POST /_devnet/orphan_next
{"count": N}` (default 1) or `devnet.orphan_next(N)` makes the next N sendTransaction calls
that would execute successfully land as orphans. An orphan is simulated, not executed: its
post-state never reaches the LiteSVM state later transactions see. Until its block would be
finalized it is visible at processed/confirmed: getSignatureStatuses, getSignaturesForAddress
and getTransaction at confirmed, and account, program, logs and signature notifications at
processed/confirmed carrying the post-state it would have produced. Then it vanishes: status
null, in no history, no finalized notification, no fee charged; it may be re-sent and land for
real. Approximations: only that one transaction is orphaned (its block and the other
transactions in it finalize); account reads over HTTP (getBalance, getAccountInfo, ...) never
show its post-state; a later transaction's processed notification for an account it also wrote
shows the real state; orphans are not saved in the state file.

Swap venue (`devnet/solana/venue.py`): Jupiter's `GET /swap/v1/quote` and `POST /swap/v1/swap`
on the same port (`swap_url` in info()), over constant-product pools whose reserves are real
accounts of a per-pool authority; swaps settle as versioned transactions the authority has
already signed. Genesis opens USDC/SOL and Token-2022/SOL at 150 a SOL and USDC/Token-2022;
`POST /_devnet/pools` creates or seeds more. Faults apply to `quote` and `swap` by those names.

Price APIs (`devnet/solana/prices.py`, `price_url` in info()): Jupiter Price v3 `GET /price/v3`
and CoinGecko `GET /api/v3/simple/price` and `/api/v3/simple/token_price/{platform}`, prices
derived from the venue's pools where a pool exists, else set by `POST /_devnet/prices` (a
seeded random walk for benches, a stale `blockId`, an API key).

Known deviations: one validator, no forks (a confirmed block always finalizes, orphans aside);
every `skip_every`-th slot is skipped deterministically; transactions land in the current slot;
simulation and preflight execute against the newest state whatever the commitment (only the
blockhash/status checks use the commitment's block); no rewards, vote transactions, getBlock,
or base64+zstd over HTTP; base64+zstd over PubSub is a valid zstd frame of stored
(uncompressed) blocks; `costUnits` is not reported; Token-2022 extension state is not decoded in
jsonParsed (names only); the priority fee in getFeeForMessage assumes the 200k-per-instruction
default compute limit; blockhashes derive from a random genesis hash.
"""

from devnet.solana.config import SolanaDevnetConfig
from devnet.solana.server import SolanaDevnet

__all__ = ["SolanaDevnet", "SolanaDevnetConfig"]
