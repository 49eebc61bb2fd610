"""The pydantic models that cross workflow and activity boundaries (inputs, outputs, state).

Amounts are integers in base units (lamports, sun, token units) or Decimal strings; never floats.
No model here may carry key material: these values are recorded in workflow history.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from chains.base import from_base_units

Chain = Literal["solana", "tron"]


class Notification(BaseModel):
    """One Telegram message to one chat. `dedupe_key` is unique per chat and event."""

    dedupe_key: str
    chat_id: int
    text: str  # HTML, every user-supplied part already escaped


class NotificationResult(BaseModel):
    status: Literal["sent", "unknown", "failed"]
    message_id: int | None = None
    detail: str | None = None


# ---- monitoring -------------------------------------------------------------------------------

Direction = Literal["in", "out"]
DirectionFilter = Literal["in", "out", "both"]


class WalletEvent(BaseModel):
    """One balance change of a watched wallet in one finalized transaction."""

    chain: Chain
    wallet: str
    tx_id: str
    index: int  # position within the transaction; (chain, tx_id, index, wallet) is unique
    direction: Direction
    asset: str  # 'SOL' / 'TRX', or the token's mint / contract address
    symbol: str
    decimals: int
    amount: int  # base units, > 0
    counterparty: str | None = None
    block: int  # Solana slot, TRON block number
    block_time: int | None = None  # unix seconds

    @property
    def key(self) -> str:
        return f"{self.chain}:{self.tx_id}:{self.index}:{self.wallet}"

    @property
    def display_amount(self) -> Decimal:
        return from_base_units(self.amount, self.decimals)


class Subscription(BaseModel):
    """One chat watching one wallet, with its filters."""

    chat_id: int
    label: str | None = None
    min_amount: Decimal | None = None  # display units of the event's asset
    assets: list[str] | None = None  # symbols or asset ids; None: every known asset
    direction: DirectionFilter = "both"

    def wants(self, event: WalletEvent) -> bool:
        if self.direction != "both" and event.direction != self.direction:
            return False
        if self.assets is not None:
            wanted = {a.upper() for a in self.assets}
            if event.symbol.upper() not in wanted and event.asset.upper() not in wanted:
                return False
        return self.min_amount is None or event.display_amount >= self.min_amount


class Unsubscribe(BaseModel):
    chat_id: int


class Poke(BaseModel):
    """From the chain trigger: the wallet changed at or before `block`; look now."""

    block: int


class MonitorCounters(BaseModel):
    fetches: int = 0
    events: int = 0
    notifications_sent: int = 0
    notifications_unknown: int = 0
    notifications_failed: int = 0


class MonitorState(BaseModel):
    """Everything a monitor carries across continue-as-new."""

    chain: Chain
    address: str
    subscribers: dict[int, Subscription] = {}
    paused: bool = False
    cursor: dict[str, Any] | None = None  # owned by the chain reader; opaque to the workflow
    counters: MonitorCounters = MonitorCounters()
    recent: list[WalletEvent] = []  # the last few events, newest last
    pending_block: int | None = None  # a poke not yet served
    reconcile_seconds: int = 3600  # re-read the wallet this often without a poke
    notify_queue: str  # the task queue of the notification activities


class MonitorStatus(BaseModel):
    """Answer of the `status` query."""

    workflow_id: str
    chain: Chain
    address: str
    state: Literal["running", "paused", "stopping"]
    cursor: dict[str, Any] | None
    counters: MonitorCounters
    subscribers: list[Subscription]
    recent: list[WalletEvent]
    last_check: datetime | None = None


class WalletRef(BaseModel):
    chain: Chain
    address: str
    subscribers: list[Subscription] = []


class FetchRequest(BaseModel):
    chain: Chain
    address: str
    cursor: dict[str, Any] | None
    min_block: int | None = None  # a poke saw a change at this block


class FetchResult(BaseModel):
    events: list[WalletEvent]
    cursor: dict[str, Any]
    more: bool = False  # a page limit stopped this fetch: call again at once
    final_block: int  # the newest finalized/solidified block the reader saw


class WatchState(BaseModel):
    """The per-chain trigger's state: where its scan stands (chain-specific, opaque here)."""

    chain: Chain
    position: dict[str, Any] | None = None
    rounds: int = 0
    round_seconds: int = 600  # how long one watch_chain activity runs before reporting back


class WatchResult(BaseModel):
    position: dict[str, Any] | None
    pokes: int = 0
    rpc_calls: int = 0
