"""Helpers shared by the monitor's end-to-end tests: watching, sending bursts of real transfers
(robust to the devnets' injected faults), waiting for finality, and checking that every event
reached the ledger and each chat exactly once."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.message import Message
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_status import TransactionConfirmationStatus
from temporalio.client import Client, WorkflowHandle
from tronpy import AsyncTron
from tronpy.keys import PrivateKey
from tronpy.providers.async_http import AsyncHTTPProvider

from chains import solana as sol
from core.assets import Asset
from core.ids import monitor_id
from core.models import Chain, MonitorStatus, Subscription
from starter.client import monitors
from starter.runtime.settings import Settings
from tests.support.stack import eventually, messages
from workflows.monitor import WalletMonitorWorkflow

SOL = 10**9
TRX = 10**6
ATTEMPTS = 40  # sends and reads retried through injected 503s and 429s


async def retrying(fn: Any, *args: Any, attempts: int = ATTEMPTS, **kwargs: Any) -> Any:
    """Call `fn` until it stops raising (the devnets may be injecting faults)."""
    for attempt in range(attempts):
        try:
            return await fn(*args, **kwargs)
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1)


# ---- watching --------------------------------------------------------------------------------


async def watch(
    client: Client, settings: Settings, chain: Chain, address: str, chat: int, **filters: Any
) -> WorkflowHandle[Any, Any]:
    """Subscribe `chat` and wait until the monitor has its cursor (watching from "now")."""
    sub = Subscription(chat_id=chat, label=f"{chain} test", **filters)
    await monitors.watch(client, settings, chain, address, sub)
    handle = client.get_workflow_handle(monitor_id(chain, address))
    await wait_ready(handle)
    return handle


async def wait_ready(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the monitor has its cursor: from then on, every transfer is reported."""

    async def ready() -> bool:
        status: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
        return status.cursor is not None

    await eventually(ready, timeout=60)


async def status(handle: WorkflowHandle[Any, Any]) -> MonitorStatus:
    result: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
    return result


async def wait_state(handle: WorkflowHandle[Any, Any], state: str) -> MonitorStatus:
    async def reached() -> MonitorStatus | None:
        s = await status(handle)
        return s if s.state == state else None

    result: MonitorStatus = await eventually(reached)
    return result


async def signals_named(handle: WorkflowHandle[Any, Any], name: str) -> int:
    """How many `name` signals the monitor's current run received."""
    count = 0
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            count += event.workflow_execution_signaled_event_attributes.signal_name == name
    return count


# ---- Solana ----------------------------------------------------------------------------------


def sol_key(devnet: Any, index: int) -> Keypair:
    return Keypair.from_base58_string(devnet.info()["accounts"][index]["secret_key"])


def sol_usdc(devnet: Any) -> Asset:
    info = devnet.info()
    return Asset(
        symbol="USDC", decimals=info["decimals"], id=info["spl_mint"], program=sol.TOKEN_PROGRAM
    )


async def sol_send_many(
    url: str,
    payer: Keypair,
    to: str,
    amounts: list[int],
    asset: Asset = sol.NATIVE,
    *,
    token_account_only: bool = False,
) -> list[str]:
    """Send one transfer per amount (distinct amounts, distinct signatures), concurrently;
    returns the signatures once the node accepted each one. `token_account_only`: a bare
    transferChecked into the existing ATA, a transaction without the owner's key."""
    gate = asyncio.Semaphore(16)
    async with AsyncClient(url, commitment=Confirmed) as client:
        resp = await retrying(client.get_latest_blockhash, Confirmed)
        blockhash = resp.value.blockhash

        async def send(amount: int) -> str:
            instructions = sol.transfer_instructions(str(payer.pubkey()), to, asset, amount)
            if token_account_only:
                instructions = instructions[1:]  # no create-ATA, which names the owner
            message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
            tx = Transaction([payer], message, blockhash)
            async with gate:
                for attempt in range(ATTEMPTS):
                    try:
                        await client.send_raw_transaction(bytes(tx))
                        break
                    except Exception as exc:
                        # An injected fault answered before the node saw it; a real duplicate
                        # means an earlier attempt did land.
                        if "already been processed" in str(exc) or attempt == ATTEMPTS - 1:
                            break
                        await asyncio.sleep(0.1)
            return str(tx.signatures[0])

        return list(await asyncio.gather(*(send(a) for a in amounts)))


async def sol_wait_finalized(url: str, signatures: list[str], timeout: float = 60) -> None:
    """Until every signature is finalized (and succeeded)."""
    async with AsyncClient(url) as client:

        async def done() -> bool:
            for start in range(0, len(signatures), 256):
                chunk = [Signature.from_string(s) for s in signatures[start : start + 256]]
                resp = await retrying(
                    client.get_signature_statuses, chunk, search_transaction_history=True
                )
                for s in resp.value:
                    if (
                        s is None
                        or s.confirmation_status != TransactionConfirmationStatus.Finalized
                    ):
                        return False
                    assert s.err is None, s.err
            return True

        await eventually(done, timeout=timeout, interval=0.2)


# ---- TRON ------------------------------------------------------------------------------------


def tron_key(devnet: Any, index: int) -> PrivateKey:
    return PrivateKey(bytes.fromhex(devnet.info()["accounts"][index]["private_key"]))


def tron_address(key: PrivateKey) -> str:
    return str(key.public_key.to_base58check_address())


async def tron_send_many(
    url: str, key: PrivateKey, to: str, amounts: list[int], *, token: str | None = None
) -> list[str]:
    """TRX (or, with `token`, TRC20) transfers, one per amount, sent one after the other."""
    txids = []
    sender = tron_address(key)
    async with AsyncTron(AsyncHTTPProvider(url)) as client:
        contract = await retrying(client.get_contract, token) if token else None

        async def build(amount: int) -> Any:
            if contract is None:
                return await client.trx.transfer(sender, to, amount).build()
            built = await contract.functions.transfer(to, amount)
            return await built.with_owner(sender).fee_limit(50 * TRX).build()

        for amount in amounts:
            tx = (await retrying(build, amount)).sign(key)
            for attempt in range(ATTEMPTS):
                try:
                    await tx.broadcast()
                    break
                except Exception as exc:
                    if "DUP_TRANSACTION" in str(exc) or attempt == ATTEMPTS - 1:
                        break
                    await asyncio.sleep(0.1)
            txids.append(tx.txid)
    return txids


async def tron_wait_solid(url: str, txids: list[str], timeout: float = 60) -> None:
    async with httpx.AsyncClient(base_url=url) as http:

        async def solid(txid: str) -> bool:
            try:
                resp = await http.post(
                    "/walletsolidity/gettransactioninfobyid", json={"value": txid}
                )
                resp.raise_for_status()
            except httpx.HTTPError:
                return False
            return bool(resp.json().get("id"))

        pending = set(txids)

        async def done() -> bool:
            # Remembered one by one: with injected faults, some polls always fail.
            polled = sorted(pending)
            results = await asyncio.gather(*map(solid, polled))
            pending.difference_update(t for t, ok in zip(polled, results, strict=True) if ok)
            return not pending

        await eventually(done, timeout=timeout, interval=0.3)


# ---- what arrived ----------------------------------------------------------------------------

DIGEST = re.compile(r"^(\d+) transfers:$", re.MULTILINE)
TX_LINK = re.compile(r'href="[^"]*/(?:tx|transaction)/([^"?]+)"')


def covered(message_text: str) -> int:
    """How many events one message stands for: a digest says so, anything else is one."""
    found = DIGEST.search(message_text)
    return int(found.group(1)) if found else 1


def linked_tx_ids(message_text: str) -> list[str]:
    return TX_LINK.findall(message_text)


@dataclass
class Delivery:
    """What one chat got for one wallet, reconciled with the ledger and the notifications."""

    ledger: list[str]  # tx ids in wallet_events, one per row
    texts: list[str]  # the chat's messages, as sent
    unknown_texts: list[str] = field(default_factory=list)  # `unknown` rows never delivered
    statuses: dict[str, int] = field(default_factory=dict)
    # `unknown` rows that were delivered after all: their message id never came back, so an
    # early one is not edited at the end: its final is a new message.
    unknown_delivered: list[str] = field(default_factory=list)

    @property
    def delivered_events(self) -> int:
        return sum(covered(t) for t in self.texts)

    @property
    def unknown_events(self) -> int:
        return sum(covered(t) for t in self.unknown_texts)

    @property
    def linked(self) -> list[str]:
        """The transfers linked by the chat's messages, but for those `unknown_delivered`."""
        counted = [t for t in self.texts if t not in self.unknown_delivered]
        return [tx for t in counted for tx in linked_tx_ids(t)]


async def delivery(
    pool: asyncpg.Pool, telegram: Any, chain: str, wallet: str, chat: int
) -> Delivery:
    rows = await pool.fetch(
        "SELECT tx_id FROM wallet_events WHERE chain = $1 AND wallet = $2 ORDER BY id",
        chain,
        wallet,
    )
    texts = [m["text"] for m in await messages(telegram, chat)]
    notes = await pool.fetch("SELECT status, text FROM notifications WHERE chat_id = $1", chat)
    statuses: dict[str, int] = {}
    for n in notes:
        statuses[n["status"]] = statuses.get(n["status"], 0) + 1
    delivered = set(texts)
    unknown = [n["text"] for n in notes if n["status"] == "unknown"]
    return Delivery(
        [r["tx_id"] for r in rows],
        texts,
        [t for t in unknown if t not in delivered],
        statuses,
        [t for t in unknown if t in delivered],
    )


def assert_exactly_once(d: Delivery, sent: list[str]) -> None:
    """Every sent transfer is in the ledger once; the chat got each one once, except those
    whose notification is explicitly `unknown` (sendMessage in flight when a worker died: if
    it was an early message, its final is a new one, so the transfer is linked twice)."""
    assert sorted(d.ledger) == sorted(sent), "ledger differs from what was sent"
    assert len(set(d.linked)) == len(d.linked), f"a transfer was notified twice: {d.texts}"
    assert set(d.linked) <= set(sent)
    assert len(set(d.texts)) == len(d.texts), "the same message arrived twice"
    assert d.delivered_events + d.unknown_events == len(sent), (
        f"{len(sent)} sent, {d.delivered_events} notified, {d.unknown_events} unknown; "
        f"statuses {d.statuses}"
    )
    assert set(d.statuses) <= {"sent", "unknown"}, d.statuses
