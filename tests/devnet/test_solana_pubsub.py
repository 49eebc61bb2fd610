"""The Solana devnet's PubSub through the real client: solana-py's `SolanaWsClient` (and a raw
aiohttp WebSocket where the exact JSON matters or solders cannot parse what a node sends).

Most tests drive blocks by hand (`slot_ms=0`, `advance()`), so "nothing arrives before the block
reaches the commitment" is exact; the fault tests run a slot clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.jsonrpc import SolanaJsonRpcError
from solana.rpc.models import MemcmpOpts, TxOpts
from solana.rpc.websocket_api import ConnectionClosed, SolanaWsClient, Subscription
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionLogsFilter, RpcTransactionLogsFilterMentions
from solders.rpc.responses import (
    AccountNotification,
    AccountNotificationJsonParsed,
    LogsNotification,
    ProgramNotification,
    ProgramNotificationJsonParsed,
    RootNotification,
    SignatureNotification,
    SlotNotification,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from devnet.solana import SolanaDevnet, SolanaDevnetConfig
from tests.devnet.solana_support import (
    SOL,
    as_json,
    funded,
    running,
    set_faults,
    signed,
    sol_transfer,
)

FINALIZED_LAG = 3
QUIET = 0.25  # how long "nothing arrives" is watched for
SYSTEM_PROGRAM = "11111111111111111111111111111111"


@pytest_asyncio.fixture(scope="module")
async def manual() -> AsyncIterator[SolanaDevnet]:
    """Blocks only advance when a test says so; every 4th slot is skipped (slot != height)."""
    config = SolanaDevnetConfig(
        slot_ms=0, confirmed_lag=1, finalized_lag=FINALIZED_LAG, skip_every=4, accounts=12
    )
    async with running(config) as devnet:
        yield devnet


@pytest_asyncio.fixture
async def rpc(manual: SolanaDevnet) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(manual.url) as client:
        yield client


@pytest_asyncio.fixture
async def clocked() -> AsyncIterator[SolanaDevnet]:
    """A running slot clock (50 ms), and faults of its own."""
    async with running(SolanaDevnetConfig(slot_ms=50, finalized_lag=4)) as devnet:
        yield devnet


# ---- helpers -------------------------------------------------------------------------------


async def send(rpc: AsyncClient, tx: VersionedTransaction) -> tuple[Signature, int]:
    """Send; the signature and the slot it landed in."""
    sig = (await rpc.send_transaction(tx)).value
    status = (await rpc.get_signature_statuses([sig])).value[0]
    assert status is not None and status.err is None, status
    return sig, status.slot


def token_payment(
    payer: Keypair, owner: Pubkey, mint: Pubkey, program: Pubkey, amount: int
) -> tuple[Pubkey, list[Instruction]]:
    """Create the owner's ATA (idempotent) and pay `amount` into it from the payer's ATA."""
    ata = get_associated_token_address(owner, mint, program)
    source = get_associated_token_address(payer.pubkey(), mint, program)
    return ata, [
        create_idempotent_associated_token_account(payer.pubkey(), owner, mint, program),
        transfer_checked(
            TransferCheckedParams(
                program_id=program,
                source=source,
                mint=mint,
                dest=ata,
                owner=payer.pubkey(),
                amount=amount,
                decimals=6,
            )
        ),
    ]


async def next_note(ws: SolanaWsClient, timeout: float = 2.0) -> Any:
    return await asyncio.wait_for(ws.recv(), timeout)


async def quiet(ws: SolanaWsClient, seconds: float = QUIET) -> None:
    """Nothing arrives for a while (a queued notification stays queued)."""
    with pytest.raises(TimeoutError):
        note = await asyncio.wait_for(ws.recv(), seconds)
        pytest.fail(f"unexpected notification: {note}")


def sid(sub: Subscription) -> int:
    return sub.subscription_id


class Raw:
    """A bare WebSocket speaking JSON-RPC: for exact JSON, and for what solders cannot parse."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 1
        self.notes: list[dict[str, Any]] = []

    async def call(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        request_id = self.next_id
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or []}
        await self.ws.send_str(json.dumps(body))
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 2)
            if msg.get("id") == request_id:
                return msg
            self.notes.append(msg)

    async def result(self, method: str, params: list[Any] | None = None) -> Any:
        reply = await self.call(method, params)
        assert "result" in reply, reply
        return reply["result"]

    async def note(self, timeout: float = 2.0) -> dict[str, Any]:
        if self.notes:
            return self.notes.pop(0)
        msg: dict[str, Any] = await asyncio.wait_for(self.ws.receive_json(), timeout)
        return msg


async def raw_ws(devnet: SolanaDevnet) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as http, http.ws_connect(devnet.ws_url) as ws:
        yield Raw(ws)


@pytest_asyncio.fixture
async def raw_manual(manual: SolanaDevnet) -> AsyncIterator[Raw]:
    async for conn in raw_ws(manual):
        yield conn


# ---- accounts ------------------------------------------------------------------------------


async def test_info_and_ws_url(manual: SolanaDevnet) -> None:
    info = manual.info()
    assert info["ws_url"] == manual.ws_url == "ws://" + manual.url.removeprefix("http://")
    async with aiohttp.ClientSession() as http, http.get(manual.url + "/") as resp:
        assert resp.status == 405  # a plain GET is no WebSocket upgrade


async def test_account_notifications_follow_commitment(
    manual: SolanaDevnet, rpc: AsyncClient
) -> None:
    payer, dest = funded(manual, 0), Keypair().pubkey()
    async with SolanaWsClient(manual.ws_url) as ws:
        processed = await ws.account_subscribe(pubkey=dest, commitment=Processed, encoding="base64")
        confirmed = await ws.account_subscribe(pubkey=dest, commitment=Confirmed, encoding="base64")
        final = await ws.account_subscribe(pubkey=dest, encoding="base64")  # default: finalized
        assert len({sid(processed), sid(confirmed), sid(final)}) == 3

        _, slot = await send(rpc, await signed(rpc, payer, [sol_transfer(payer, dest, 2 * SOL)]))
        note = await next_note(ws)
        assert isinstance(note, AccountNotification)
        assert note.subscription == sid(processed)
        assert note.result.context.slot == slot
        assert note.result.value.lamports == 2 * SOL
        assert str(note.result.value.owner) == SYSTEM_PROGRAM
        await quiet(ws)  # not confirmed yet

        manual.advance(1)
        note = await next_note(ws)
        assert (note.subscription, note.result.context.slot) == (sid(confirmed), slot)
        assert note.result.value.lamports == 2 * SOL
        assert (await rpc.get_balance(dest, Confirmed)).value == 2 * SOL
        await quiet(ws)

        manual.advance(FINALIZED_LAG - 2)
        await quiet(ws)  # one block short of finalized
        assert (await rpc.get_balance(dest, Finalized)).value == 0
        manual.advance(1)
        note = await next_note(ws)
        assert (note.subscription, note.result.context.slot) == (sid(final), slot)
        assert note.result.value.lamports == 2 * SOL
        assert (await rpc.get_balance(dest, Finalized)).value == 2 * SOL
        await quiet(ws)


async def test_account_encodings(manual: SolanaDevnet, rpc: AsyncClient, raw_manual: Raw) -> None:
    info = manual.info()
    mint = Pubkey.from_string(info["spl_mint"])
    payer, owner = funded(manual, 1), Keypair().pubkey()
    ata = get_associated_token_address(owner, mint)
    async with SolanaWsClient(manual.ws_url) as ws:
        parsed = await ws.account_subscribe(pubkey=ata, commitment=Processed, encoding="jsonParsed")
        zstd = await ws.account_subscribe(pubkey=ata, commitment=Processed, encoding="base64+zstd")
        binary = await ws.account_subscribe(pubkey=owner, commitment=Processed)  # legacy base58
        sliced = await raw_manual.result(
            "accountSubscribe",
            [
                str(ata),
                {
                    "commitment": "processed",
                    "encoding": "base64",
                    "dataSlice": {"offset": 64, "length": 8},
                },
            ],
        )
        big_binary = await raw_manual.result(
            "accountSubscribe", [str(ata), {"commitment": "processed"}]
        )

        _, instructions = token_payment(payer, owner, mint, TOKEN_PROGRAM_ID, 3_500_000)
        instructions.append(sol_transfer(payer, owner, SOL))
        _, slot = await send(rpc, await signed(rpc, payer, instructions))
        notes = {}
        for _ in range(3):
            note = await next_note(ws)
            notes[note.subscription] = note
        assert set(notes) == {sid(parsed), sid(zstd), sid(binary)}

        jp = notes[sid(parsed)]
        assert isinstance(jp, AccountNotificationJsonParsed)
        data = as_json(jp)["result"]["value"]["data"]
        assert data["program"] == "spl-token"
        assert data["parsed"]["info"]["owner"] == str(owner)
        assert data["parsed"]["info"]["tokenAmount"]["amount"] == "3500000"

        on_chain = (await rpc.get_account_info(ata, Processed)).value
        assert on_chain is not None
        assert notes[sid(zstd)].result.value.data == on_chain.data  # solders decodes the zstd
        assert notes[sid(zstd)].result.context.slot == slot
        assert notes[sid(binary)].result.value.lamports == SOL

        by_id = {}
        for _ in range(2):
            note = await raw_manual.note()
            by_id[note["params"]["subscription"]] = note["params"]["result"]
        assert set(by_id) == {sliced, big_binary}
        amount = base64.b64decode(by_id[sliced]["value"]["data"][0])
        assert struct.unpack("<Q", amount)[0] == 3_500_000
        assert by_id[sliced]["value"]["space"] == 165
        # Agave's legacy binary encoding for data over 128 bytes (solders cannot parse it).
        assert by_id[big_binary] == {
            "context": {"slot": slot},
            "value": {
                "data": "error: data too large for bs58 encoding",
                "executable": False,
                "lamports": on_chain.lamports,
                "owner": str(TOKEN_PROGRAM_ID),
                "rentEpoch": on_chain.rent_epoch,
                "space": 165,
            },
        }


async def test_zero_lag_levels_are_served_as_transactions_land() -> None:
    """confirmed_lag=0: a transaction is confirmed as it lands, so is its notification."""
    devnet = SolanaDevnet(SolanaDevnetConfig(slot_ms=0, confirmed_lag=0, finalized_lag=1))
    await devnet.start()
    try:
        payer, dest = funded(devnet, 0), Keypair().pubkey()
        async with SolanaWsClient(devnet.ws_url) as ws, AsyncClient(devnet.url) as rpc:
            confirmed = await ws.account_subscribe(
                pubkey=dest, commitment=Confirmed, encoding="base64"
            )
            final = await ws.account_subscribe(pubkey=dest, encoding="base64")
            _, slot = await send(rpc, await signed(rpc, payer, [sol_transfer(payer, dest, SOL)]))
            note = await next_note(ws)
            assert (note.subscription, note.result.context.slot) == (sid(confirmed), slot)
            await quiet(ws)
            devnet.advance(1)
            note = await next_note(ws)
            assert (note.subscription, note.result.context.slot) == (sid(final), slot)
    finally:
        await devnet.stop()


# ---- programs ------------------------------------------------------------------------------


async def test_program_subscribe_memcmp_and_data_size(
    manual: SolanaDevnet, rpc: AsyncClient
) -> None:
    info = manual.info()
    spl_mint = Pubkey.from_string(info["spl_mint"])
    t22_mint = Pubkey.from_string(info["token2022_mint"])
    payer, wallet, other = funded(manual, 2), Keypair().pubkey(), Keypair().pubkey()
    owner_is = MemcmpOpts(offset=32, bytes=str(wallet))
    async with SolanaWsClient(manual.ws_url) as ws:
        spl = await ws.program_subscribe(
            program_id=TOKEN_PROGRAM_ID,
            commitment=Processed,
            encoding="base64",
            filters=[165, owner_is],
        )
        t22 = await ws.program_subscribe(
            program_id=TOKEN_2022_PROGRAM_ID,
            commitment=Processed,
            encoding="base64",
            filters=[owner_is],
        )
        # Never matched: the size of a mint, another owner, Token-2022's 170-byte accounts.
        never: list[tuple[Pubkey, list[int | MemcmpOpts]]] = [
            (TOKEN_PROGRAM_ID, [82, owner_is]),
            (TOKEN_PROGRAM_ID, [MemcmpOpts(offset=32, bytes=str(other))]),
            (TOKEN_2022_PROGRAM_ID, [165, owner_is]),
        ]
        for program, filters in never:
            await ws.program_subscribe(
                program_id=program, commitment=Processed, encoding="base64", filters=filters
            )
        parsed = await ws.program_subscribe(
            program_id=TOKEN_PROGRAM_ID,
            commitment=Confirmed,
            encoding="jsonParsed",
            filters=[owner_is],
        )

        # A transfer into a brand-new ATA of the wallet: the new account is caught by owner.
        ata, instructions = token_payment(payer, wallet, spl_mint, TOKEN_PROGRAM_ID, 5_000_000)
        _, slot = await send(rpc, await signed(rpc, payer, instructions))
        note = await next_note(ws)
        assert isinstance(note, ProgramNotification)
        assert note.subscription == sid(spl)
        assert note.result.context.slot == slot
        assert note.result.value.pubkey == ata
        data = bytes(note.result.value.account.data)
        assert len(data) == 165 and data[32:64] == bytes(wallet)
        assert struct.unpack_from("<Q", data, 64)[0] == 5_000_000
        assert note.result.value.account.owner == TOKEN_PROGRAM_ID
        await quiet(ws)  # the payer's source ATA changed too, but it is not the wallet's

        manual.advance(1)
        note = await next_note(ws)
        assert isinstance(note, ProgramNotificationJsonParsed)
        assert note.subscription == sid(parsed)
        value = as_json(note)["result"]["value"]
        assert value["pubkey"] == str(ata)
        assert value["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"] == "5000000"

        ata22, instructions = token_payment(payer, wallet, t22_mint, TOKEN_2022_PROGRAM_ID, 7)
        _, slot = await send(rpc, await signed(rpc, payer, instructions))
        note = await next_note(ws)
        assert (note.subscription, note.result.context.slot) == (sid(t22), slot)
        assert note.result.value.pubkey == ata22
        data = bytes(note.result.value.account.data)
        assert len(data) == 170 and data[32:64] == bytes(wallet)
        await quiet(ws)


async def test_program_filters_over_raw_json(
    manual: SolanaDevnet, rpc: AsyncClient, raw_manual: Raw
) -> None:
    """memcmp given as base64 and as a byte array, and the exact programNotification JSON."""
    spl_mint = Pubkey.from_string(manual.info()["spl_mint"])
    payer, wallet = funded(manual, 3), Keypair().pubkey()
    b64 = base64.b64encode(bytes(wallet)).decode()
    by_b64 = await raw_manual.result(
        "programSubscribe",
        [
            str(TOKEN_PROGRAM_ID),
            {
                "commitment": "processed",
                "encoding": "base64",
                "filters": [{"memcmp": {"offset": 32, "bytes": b64, "encoding": "base64"}}],
            },
        ],
    )
    by_mint_and_owner = await raw_manual.result(
        "programSubscribe",
        [
            str(TOKEN_PROGRAM_ID),
            {
                "commitment": "processed",
                "encoding": "base64",
                "filters": [
                    {"memcmp": {"offset": 0, "bytes": str(spl_mint)}},
                    {"memcmp": {"offset": 32, "bytes": list(bytes(wallet))}},
                    {"dataSize": 165},
                    "tokenAccountState",
                ],
            },
        ],
    )
    bad = await raw_manual.call(
        "programSubscribe", [str(TOKEN_PROGRAM_ID), {"filters": [{"memcmp": {"offset": 0}}]}]
    )
    assert bad["error"]["code"] == -32602

    ata, instructions = token_payment(payer, wallet, spl_mint, TOKEN_PROGRAM_ID, 1)
    _, slot = await send(rpc, await signed(rpc, payer, instructions))
    got = {}
    for _ in range(2):
        note = await raw_manual.note()
        assert note["jsonrpc"] == "2.0" and note["method"] == "programNotification"
        got[note["params"]["subscription"]] = note["params"]["result"]
    assert set(got) == {by_b64, by_mint_and_owner}
    for result in got.values():
        assert result["context"] == {"slot": slot}
        assert result["value"]["pubkey"] == str(ata)
        account = result["value"]["account"]
        assert set(account) == {"data", "executable", "lamports", "owner", "rentEpoch", "space"}
        assert account["owner"] == str(TOKEN_PROGRAM_ID) and account["space"] == 165
    with pytest.raises(TimeoutError):
        await raw_manual.note(QUIET)


# ---- logs, signatures, slots --------------------------------------------------------------


async def test_logs_subscribe(manual: SolanaDevnet, rpc: AsyncClient) -> None:
    payer, dest = funded(manual, 4), Keypair().pubkey()
    manual.advance(1)  # earlier tests' transactions are confirmed before "all" subscribes
    async with SolanaWsClient(manual.ws_url) as ws:
        mention = await ws.logs_subscribe(
            filter_=RpcTransactionLogsFilterMentions(dest), commitment=Processed
        )
        everything = await ws.logs_subscribe(
            filter_=RpcTransactionLogsFilter.All, commitment=Confirmed
        )
        other = await ws.logs_subscribe(
            filter_=RpcTransactionLogsFilterMentions(Keypair().pubkey()), commitment=Processed
        )
        assert len({sid(mention), sid(everything), sid(other)}) == 3
        sig, slot = await send(rpc, await signed(rpc, payer, [sol_transfer(payer, dest, SOL)]))
        note = await next_note(ws)
        assert isinstance(note, LogsNotification)
        assert note.subscription == sid(mention)
        assert note.result.context.slot == slot
        assert note.result.value.signature == sig and note.result.value.err is None
        assert f"Program {SYSTEM_PROGRAM} success" in note.result.value.logs
        await quiet(ws)
        manual.advance(1)
        note = await next_note(ws)
        assert (note.subscription, note.result.context.slot) == (sid(everything), slot)
        assert note.result.value.signature == sig
        await quiet(ws)


async def test_signature_subscribe_is_one_shot(manual: SolanaDevnet, rpc: AsyncClient) -> None:
    payer, dest = funded(manual, 5), Keypair().pubkey()
    tx = await signed(rpc, payer, [sol_transfer(payer, dest, SOL)])
    sig = tx.signatures[0]
    async with SolanaWsClient(manual.ws_url) as ws:
        subs = {
            level: await ws.signature_subscribe(signature=sig, commitment=level)
            for level in (Processed, Confirmed, Finalized)
        }
        before = manual.pubsub.counts()["subscriptions"]
        _, slot = await send(rpc, tx)
        note = await next_note(ws)
        assert isinstance(note, SignatureNotification)
        assert (note.subscription, note.result.context.slot) == (sid(subs[Processed]), slot)
        assert note.result.value.err is None
        assert manual.pubsub.counts()["subscriptions"] == before - 1  # gone once notified
        manual.advance(1)
        note = await next_note(ws)
        assert (note.subscription, note.result.context.slot) == (sid(subs[Confirmed]), slot)
        manual.advance(FINALIZED_LAG - 1)
        note = await next_note(ws)
        assert (note.subscription, note.result.context.slot) == (sid(subs[Finalized]), slot)
        assert manual.pubsub.counts()["subscriptions"] == before - 3

        # As on Agave: a signature already at the commitment is never notified.
        late = await ws.signature_subscribe(signature=sig, commitment=Processed)
        manual.advance(1)
        await quiet(ws)
        await ws.unsubscribe(late)


async def test_signature_received_and_errors_raw_json(
    manual: SolanaDevnet, rpc: AsyncClient, raw_manual: Raw
) -> None:
    """`receivedSignature` and custom program errors: shapes solders 0.29 cannot parse (a
    SolanaWsClient would abandon its connection), checked on the raw JSON."""
    payer, dest = funded(manual, 6), Keypair().pubkey()
    tx = await signed(rpc, payer, [sol_transfer(payer, dest, SOL)])
    sig = str(tx.signatures[0])
    sub = await raw_manual.result(
        "signatureSubscribe", [sig, {"commitment": "processed", "enableReceivedNotification": True}]
    )
    _, slot = await send(rpc, tx)
    received, processed = await raw_manual.note(), await raw_manual.note()
    assert received == {
        "jsonrpc": "2.0",
        "method": "signatureNotification",
        "params": {
            "result": {"context": {"slot": slot}, "value": "receivedSignature"},
            "subscription": sub,
        },
    }
    assert processed["params"] == {
        "result": {"context": {"slot": slot}, "value": {"err": None}},
        "subscription": sub,
    }
    gone = await raw_manual.call("signatureUnsubscribe", [sub])
    assert gone["error"] == {"code": -32602, "message": "Invalid subscription id."}

    # A transfer of more than the payer has, sent without preflight: it lands, failed.
    poor = Keypair()
    await send(rpc, await signed(rpc, payer, [sol_transfer(payer, poor.pubkey(), SOL)]))
    failing = await signed(rpc, poor, [sol_transfer(poor, dest, 2 * SOL)])
    sub = await raw_manual.result(
        "signatureSubscribe", [str(failing.signatures[0]), {"commitment": "processed"}]
    )
    await rpc.send_raw_transaction(bytes(failing), opts=TxOpts(skip_preflight=True))
    note = await raw_manual.note()
    assert note["params"]["subscription"] == sub
    assert note["params"]["result"]["value"] == {"err": {"InstructionError": [0, {"Custom": 1}]}}


async def test_slot_and_root_subscribe(manual: SolanaDevnet, rpc: AsyncClient) -> None:
    async with SolanaWsClient(manual.ws_url) as ws:
        slots = await ws.slot_subscribe()
        roots = await ws.root_subscribe()
        parent = (await rpc.get_slot(Processed)).value
        for _ in range(5):  # skip_every=4: a skipped slot shows up as parent != slot - 1
            block = manual.advance(1)
            root = (await rpc.get_slot(Finalized)).value
            note = await next_note(ws)
            assert isinstance(note, SlotNotification) and note.subscription == sid(slots)
            assert (note.result.slot, note.result.parent, note.result.root) == (
                block.slot,
                parent,
                root,
            )
            note = await next_note(ws)
            assert isinstance(note, RootNotification) and note.subscription == sid(roots)
            assert note.result == root
            parent = block.slot


async def test_unsubscribe_and_errors(
    manual: SolanaDevnet, rpc: AsyncClient, raw_manual: Raw
) -> None:
    payer, dest = funded(manual, 7), Keypair().pubkey()
    async with SolanaWsClient(manual.ws_url) as ws:
        sub = await ws.account_subscribe(pubkey=dest, commitment=Processed, encoding="base64")
        await ws.unsubscribe(sub)
        await send(rpc, await signed(rpc, payer, [sol_transfer(payer, dest, SOL)]))
        await quiet(ws)

    # The exact replies.
    params = [str(dest), {"commitment": "processed", "encoding": "base64"}]
    first = await raw_manual.call("accountSubscribe", params)
    assert set(first) == {"jsonrpc", "result", "id"} and isinstance(first["result"], int)
    assert (await raw_manual.result("accountSubscribe", params)) == first["result"]  # as Agave
    assert (await raw_manual.call("accountUnsubscribe", [first["result"]]))["result"] is True
    again = await raw_manual.call("accountUnsubscribe", [first["result"]])
    assert again == {
        "jsonrpc": "2.0",
        "error": {"code": -32602, "message": "Invalid subscription id."},
        "id": again["id"],
    }
    bad_key = await raw_manual.call("accountSubscribe", ["not-a-key"])
    assert bad_key["error"] == {
        "code": -32602,
        "message": "Invalid Request: Invalid pubkey provided",
    }
    two = await raw_manual.call("logsSubscribe", [{"mentions": [str(dest), str(payer.pubkey())]}])
    assert two["error"] == {"code": -32602, "message": "Invalid Request: Only 1 address supported"}
    bad_sig = await raw_manual.call("signatureSubscribe", ["xyz"])
    assert bad_sig["error"]["message"] == "Invalid Request: Invalid signature provided"
    batch = [
        {"jsonrpc": "2.0", "id": 900, "method": "slotSubscribe"},
        {"jsonrpc": "2.0", "id": 901, "method": "getSlot"},  # HTTP-only: not on the pubsub port
    ]
    await raw_manual.ws.send_str(json.dumps(batch))
    replies = await asyncio.wait_for(raw_manual.ws.receive_json(), 2)
    assert [r["id"] for r in replies] == [900, 901]
    assert isinstance(replies[0]["result"], int)
    assert replies[1]["error"] == {"code": -32601, "message": "Method not found"}
    unknown = await raw_manual.call("blockSubscribe", ["all"])
    assert unknown["error"] == {"code": -32601, "message": "Method not found"}
    bad_commitment = await raw_manual.call("accountSubscribe", [str(dest), {"commitment": "soon"}])
    assert bad_commitment["error"]["code"] == -32602
    await raw_manual.ws.send_str("{not json")
    parse = await raw_manual.note()
    assert parse == {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }


async def test_closed_connection_forgets_its_subscriptions(manual: SolanaDevnet) -> None:
    before = manual.pubsub.counts()
    async with SolanaWsClient(manual.ws_url) as ws:
        await ws.account_subscribe(pubkey=Keypair().pubkey())
        await ws.slot_subscribe()
        during = manual.pubsub.counts()
        assert during["connections"] == before["connections"] + 1
        assert during["connection_subscriptions"] == before["connection_subscriptions"] + 2
    for _ in range(50):
        if manual.pubsub.counts()["connections"] == before["connections"]:
            break
        await asyncio.sleep(0.02)
    after = manual.pubsub.counts()
    assert after["connections"] == before["connections"]
    assert after["subscriptions"] == before["subscriptions"]


async def test_slow_client_is_closed_with_1008(manual: SolanaDevnet) -> None:
    manual.pubsub.queue_limit = 3
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(manual.ws_url) as ws:
            conn = Raw(ws)
            await conn.result("slotSubscribe")
            manual.advance(10)  # ten notifications queued at once: more than the queue holds
            msg = await asyncio.wait_for(ws.receive(), 2)
            while msg.type is aiohttp.WSMsgType.TEXT:
                msg = await asyncio.wait_for(ws.receive(), 2)
            assert msg.type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1008
    finally:
        manual.pubsub.queue_limit = 50_000


# ---- orphans -------------------------------------------------------------------------------


async def test_orphan_is_confirmed_then_vanishes(manual: SolanaDevnet, rpc: AsyncClient) -> None:
    payer, dest = funded(manual, 8), Keypair().pubkey()
    payer_final = (await rpc.get_balance(payer.pubkey(), Finalized)).value
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{manual.url}/_devnet/orphan_next", json={"count": 1}) as resp,
    ):
        assert resp.status == 200 and (await resp.json()) == {"pending": 1}
    tx = await signed(rpc, payer, [sol_transfer(payer, dest, 3 * SOL)])
    sig = tx.signatures[0]
    async with SolanaWsClient(manual.ws_url) as ws:
        acc_c = await ws.account_subscribe(pubkey=dest, commitment=Confirmed, encoding="base64")
        await ws.account_subscribe(pubkey=dest, encoding="base64")  # finalized: never
        sig_c = await ws.signature_subscribe(signature=sig, commitment=Confirmed)
        await ws.signature_subscribe(signature=sig, commitment=Finalized)  # never
        logs_c = await ws.logs_subscribe(
            filter_=RpcTransactionLogsFilterMentions(dest), commitment=Confirmed
        )
        _, slot = await send(rpc, tx)
        await quiet(ws)
        manual.advance(1)
        notes = {}
        for _ in range(3):
            note = await next_note(ws)
            notes[note.subscription] = note
        assert set(notes) == {sid(acc_c), sid(sig_c), sid(logs_c)}
        assert all(n.result.context.slot == slot for n in notes.values())
        assert notes[sid(acc_c)].result.value.lamports == 3 * SOL  # the post-state it would have
        status = (await rpc.get_signature_statuses([sig])).value[0]
        assert status is not None and status.slot == slot
        assert str(status.confirmation_status) == "TransactionConfirmationStatus.Confirmed"
        history = (await rpc.get_signatures_for_address(dest, commitment=Confirmed)).value
        assert [h.signature for h in history] == [sig]
        got = (await rpc.get_transaction(sig, commitment=Confirmed)).value
        assert got is not None and got.transaction.meta is not None
        assert 3 * SOL in got.transaction.meta.post_balances
        # The state it produced never reaches the chain later transactions see.
        assert (await rpc.get_balance(dest, Processed)).value == 0

        manual.advance(FINALIZED_LAG - 1)  # its block would be finalized now: it vanishes
        await quiet(ws, 0.4)
    assert (await rpc.get_signature_statuses([sig])).value[0] is None
    assert (await rpc.get_signatures_for_address(dest, commitment=Confirmed)).value == []
    assert (await rpc.get_transaction(sig, commitment=Confirmed)).value is None
    assert (await rpc.get_balance(dest, Finalized)).value == 0
    assert (await rpc.get_balance(payer.pubkey(), Finalized)).value == payer_final  # no fee

    # The budget is spent: the next transfer lands on the chain, and the orphan's signature
    # can still land for real when re-sent.
    again_sig, _ = await send(rpc, tx)
    assert again_sig == sig
    manual.advance(FINALIZED_LAG)
    assert (await rpc.get_balance(dest, Finalized)).value == 3 * SOL


async def test_orphan_in_history_paging(manual: SolanaDevnet, rpc: AsyncClient) -> None:
    """getSignaturesForAddress keeps landing order around an orphan, also with before/until."""
    payer, dest = funded(manual, 9), Keypair().pubkey()
    first, _ = await send(rpc, await signed(rpc, payer, [sol_transfer(payer, dest, SOL)]))
    manual.orphan_next(1)
    orphan, _ = await send(rpc, await signed(rpc, payer, [sol_transfer(payer, dest, 2 * SOL)]))
    last, _ = await send(rpc, await signed(rpc, payer, [sol_transfer(payer, dest, 3 * SOL)]))
    manual.advance(1)

    async def listed(**kwargs: Any) -> list[Signature]:
        got = await rpc.get_signatures_for_address(dest, commitment=Confirmed, **kwargs)
        return [s.signature for s in got.value]

    assert await listed() == [last, orphan, first]
    assert await listed(limit=2) == [last, orphan]
    assert await listed(before=last) == [orphan, first]
    assert await listed(before=orphan) == [first]
    assert await listed(until=first) == [last, orphan]
    assert await listed(until=orphan) == [last]
    manual.advance(FINALIZED_LAG)
    assert await listed() == [last, first]
    assert (await rpc.get_balance(dest, Finalized)).value == 4 * SOL


# ---- faults --------------------------------------------------------------------------------


async def test_fault_drop_every(clocked: SolanaDevnet) -> None:
    await set_faults(clocked, ws_drop_every_s=0.4)
    for _ in range(2):  # a new client per reconnect, dropped again
        started = time.monotonic()
        async with SolanaWsClient(clocked.ws_url) as ws:
            await ws.slot_subscribe()
            # websockets' exception, re-exported by solana-py (websockets is no direct dependency)
            with pytest.raises(ConnectionClosed):
                while True:
                    await next_note(ws)
        assert 0.35 <= time.monotonic() - started < 2


async def test_fault_delay(clocked: SolanaDevnet) -> None:
    payer = funded(clocked, 0)
    async with SolanaWsClient(clocked.ws_url) as ws, AsyncClient(clocked.url) as rpc:
        for delay in (0, 400):
            await set_faults(clocked, ws_delay_ms=delay)
            dest = Keypair().pubkey()
            await ws.account_subscribe(pubkey=dest, commitment=Processed, encoding="base64")
            tx = await signed(rpc, payer, [sol_transfer(payer, dest, SOL)])
            started = time.monotonic()
            await rpc.send_transaction(tx)
            note = await next_note(ws)
            elapsed = time.monotonic() - started
            assert note.result.value.lamports == SOL
            if delay:
                assert elapsed >= 0.4
            else:
                assert elapsed < 0.4


async def test_fault_lose(clocked: SolanaDevnet) -> None:
    async with SolanaWsClient(clocked.ws_url) as ws:
        await ws.slot_subscribe()
        await next_note(ws)
        await set_faults(clocked, ws_lose_rate=1.0)
        while True:  # what was queued before the knob was set
            try:
                await next_note(ws, 0.1)
            except TimeoutError:
                break
        await quiet(ws, 0.4)  # eight slots, not one notification
        assert clocked.pubsub.counts()["lost"] >= 4
        await set_faults(clocked, ws_lose_rate=0.0)
        assert isinstance(await next_note(ws), SlotNotification)


async def test_fault_max_subscriptions(clocked: SolanaDevnet) -> None:
    await set_faults(clocked, ws_max_subscriptions=2)
    async with SolanaWsClient(clocked.ws_url) as ws:
        first = await ws.account_subscribe(pubkey=Keypair().pubkey())
        await ws.account_subscribe(pubkey=Keypair().pubkey())
        with pytest.raises(SolanaJsonRpcError) as exc:
            await ws.account_subscribe(pubkey=Keypair().pubkey())
        assert exc.value.code == -32603
        assert "subscription limit" in exc.value.message
        await ws.unsubscribe(first)
        await ws.account_subscribe(pubkey=Keypair().pubkey())  # room again


# ---- scale ---------------------------------------------------------------------------------


async def test_three_thousand_subscriptions_dispatch_fast(
    manual: SolanaDevnet, rpc: AsyncClient
) -> None:
    """1,000 wallets x (account + Token memcmp owner + Token-2022 memcmp owner) on one
    connection; a payment to one wallet's new ATA is notified within a second."""
    info = manual.info()
    spl_mint = Pubkey.from_string(info["spl_mint"])
    payer = funded(manual, 10)
    wallets = [Keypair().pubkey() for _ in range(1000)]
    async with SolanaWsClient(manual.ws_url) as ws:
        started = time.monotonic()

        async def three(wallet: Pubkey) -> list[Subscription]:
            owner_is = [MemcmpOpts(offset=32, bytes=str(wallet))]
            return list(
                await asyncio.gather(
                    ws.account_subscribe(pubkey=wallet, commitment=Processed, encoding="base64"),
                    ws.program_subscribe(
                        program_id=TOKEN_PROGRAM_ID,
                        commitment=Processed,
                        encoding="base64",
                        filters=owner_is,
                    ),
                    ws.program_subscribe(
                        program_id=TOKEN_2022_PROGRAM_ID,
                        commitment=Processed,
                        encoding="base64",
                        filters=owner_is,
                    ),
                )
            )

        subs: list[list[Subscription]] = []
        for start in range(0, len(wallets), 100):
            subs += await asyncio.gather(*(three(w) for w in wallets[start : start + 100]))
        subscribe_s = time.monotonic() - started
        assert len({sid(s) for group in subs for s in group}) == 3000
        print(f"\n3,000 subscriptions on one connection: {subscribe_s:.2f} s")

        target = 637
        ata, instructions = token_payment(payer, wallets[target], spl_mint, TOKEN_PROGRAM_ID, 9)
        tx = await signed(rpc, payer, instructions)
        started = time.monotonic()
        await rpc.send_transaction(tx)
        note = await next_note(ws, 1.0)
        latency = time.monotonic() - started
        print(f"send -> programNotification: {latency * 1000:.1f} ms")
        assert note.subscription == sid(subs[target][1])
        assert note.result.value.pubkey == ata
        await quiet(ws)
        assert subscribe_s < 8
