"""Every setting walletflow reads, from environment variables or an optional `.env` file.

The README's settings table is generated from this class (`walletflow settings --markdown`),
so a field added here is documented there by construction.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

import chains
from core.assets import TokenList
from core.errors import InvalidInput, UserError

NOTIFY_QUEUE = "notify"
PRICES_QUEUE = "prices"  # price alerts and the price-watch loops
# One task queue per chain, the notifications' and the prices'.
QUEUES = (*chains.CHAINS, NOTIFY_QUEUE, PRICES_QUEUE)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    home: Path = Field(
        Path(".walletflow"),
        alias="WALLETFLOW_HOME",
        description="State of the embedded stack: Temporal SQLite file, Postgres data, devnets.",
    )
    temporal_address: str = Field(
        "localhost:7233",
        alias="TEMPORAL_ADDRESS",
        description="Temporal frontend host:port. `walletflow dev` starts a dev server on it.",
    )
    temporal_namespace: str = Field(
        "default", alias="TEMPORAL_NAMESPACE", description="Temporal namespace of every workflow."
    )
    temporal_profile: str | None = Field(
        None,
        alias="TEMPORAL_PROFILE",
        description="Profile of the Temporal config file (envconfig, shared with the `temporal` "
        "CLI). Unset: `default`.",
    )
    temporal_config_file: Path | None = Field(
        None,
        alias="TEMPORAL_CONFIG_FILE",
        description="Temporal config file (TOML profiles). Unset: the SDK's default location "
        "(~/.config/temporalio/temporal.toml), if present. `TEMPORAL_*` variables override it.",
    )
    temporal_api_key: SecretStr | None = Field(
        None,
        alias="TEMPORAL_API_KEY",
        description="API key sent as `Authorization: Bearer`. Turns TLS on unless TEMPORAL_TLS "
        "is `false`.",
    )
    temporal_tls: bool | None = Field(
        None,
        alias="TEMPORAL_TLS",
        description="`true`: TLS to Temporal (system CAs unless a CA is given). `false`: never. "
        "Unset: TLS when an API key or a TLS file is configured. Dev: plaintext on localhost.",
    )
    temporal_tls_server_ca_cert_path: Path | None = Field(
        None,
        alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        description="PEM CA that signed the Temporal frontend's certificate (a private CA).",
    )
    temporal_tls_client_cert_path: Path | None = Field(
        None,
        alias="TEMPORAL_TLS_CLIENT_CERT_PATH",
        description="PEM client certificate for mTLS (with TEMPORAL_TLS_CLIENT_KEY_PATH).",
    )
    temporal_tls_client_key_path: Path | None = Field(
        None,
        alias="TEMPORAL_TLS_CLIENT_KEY_PATH",
        description="PEM private key of the mTLS client certificate.",
    )
    temporal_tls_server_name: str | None = Field(
        None,
        alias="TEMPORAL_TLS_SERVER_NAME",
        description="Name the frontend's certificate must carry, when it differs from the "
        "address's host (SNI and verification).",
    )
    codec_keys: SecretStr | None = Field(
        None,
        alias="WALLETFLOW_CODEC_KEYS",
        description="Payload encryption keys, `KEY_ID:BASE64_32_BYTES` comma-separated (the first "
        "encrypts, all decrypt), or `file:/path` holding that text (owner-only). Unset: payloads "
        "in clear. `walletflow codec-key` makes one.",
    )
    codec_server_token: SecretStr | None = Field(
        None,
        alias="WALLETFLOW_CODEC_SERVER_TOKEN",
        description="Bearer token of `walletflow codec-server` (`temporal --codec-auth`, and the "
        "Web UI's login). Unset: the codec server refuses to start.",
    )
    codec_server_port: int = Field(
        8234,
        alias="WALLETFLOW_CODEC_SERVER_PORT",
        ge=1,
        le=65535,
        description="Port of `walletflow codec-server`.",
    )
    codec_ui_origin: str = Field(
        "http://localhost:8233",
        alias="WALLETFLOW_CODEC_UI_ORIGIN",
        description="The Web UI's origin, the only one the codec server's CORS allows.",
    )
    temporal_ui_port: int = Field(
        8233, alias="TEMPORAL_UI_PORT", ge=1, le=65535, description="Web UI port of the dev server."
    )
    task_queue_prefix: str = Field(
        "walletflow-",
        alias="WALLETFLOW_TASK_QUEUE_PREFIX",
        description="Task queues are {prefix}solana, {prefix}tron and {prefix}notify.",
    )
    database_url: SecretStr | None = Field(
        None,
        alias="DATABASE_URL",
        description="PostgreSQL DSN. Unset: `walletflow dev` runs an embedded PostgreSQL.",
    )
    postgres_port: int = Field(
        0,
        alias="WALLETFLOW_POSTGRES_PORT",
        ge=0,
        le=65535,
        description="Port of the embedded PostgreSQL (0 = any free port).",
    )
    solana_rpc_url: str | None = Field(
        None,
        alias="SOLANA_RPC_URL",
        description="Solana JSON-RPC URL(s), comma-separated for failover. Unset: local devnet.",
    )
    tron_api_url: str | None = Field(
        None,
        alias="TRON_API_URL",
        description="TRON full-node HTTP API URL(s), comma-separated. Unset: local devnet.",
    )
    telegram_bot_token: SecretStr | None = Field(
        None,
        alias="TELEGRAM_BOT_TOKEN",
        description="Bot token. Unset: the local Telegram stand-in with a devnet token.",
    )
    tron_api_key: SecretStr | None = Field(
        None,
        alias="TRON_API_KEY",
        description="TronGrid API key, sent as `TRON-PRO-API-KEY` on every TRON request (to any "
        "TRON_API_URL, proxies included). Unset: no key.",
    )
    telegram_api_url: str | None = Field(
        None,
        alias="TELEGRAM_API_URL",
        description="Bot API base URL. Unset: api.telegram.org, or the stand-in in dev.",
    )
    solana_tokens: str = Field(
        "",
        alias="SOLANA_TOKENS",
        description="Listed SPL tokens, SYMBOL:MINT:DECIMALS[:token2022], comma-separated. "
        "Unlisted tokens are spam. Dev: the devnet mints.",
    )
    tron_tokens: str = Field(
        "",
        alias="TRON_TOKENS",
        description="Listed TRC20 tokens, SYMBOL:CONTRACT:DECIMALS, comma-separated. "
        "Dev: the devnet token.",
    )
    solana_sweep_seconds: float = Field(
        20,
        alias="SOLANA_SWEEP_SECONDS",
        gt=0,
        description="How often the Solana trigger checks every watched account (100 per call).",
    )
    solana_ws_url: str | None = Field(
        None,
        alias="SOLANA_WS_URL",
        description="Solana WebSocket PubSub URLs for early (confirmed) alerts, comma-separated, "
        "tried in turn on reconnects. Unset: each SOLANA_RPC_URL with a ws(s):// scheme (the "
        "devnet serves its ws_url so).",
    )
    solana_swap_url: str | None = Field(
        None,
        alias="SOLANA_SWAP_URL",
        description="A Jupiter-compatible swap API (`/quote`, `/swap`) for trades, e.g. the "
        "devnet venue's swap_url. Unset: no trading on Solana.",
    )
    trade_max_slippage_bps: int = Field(
        300,
        alias="TRADE_MAX_SLIPPAGE_BPS",
        ge=1,
        le=5000,
        description="The most slippage a trade may ask for, in bps. A worker bound.",
    )
    trade_max_price_impact: Decimal = Field(
        Decimal("0.05"),
        alias="TRADE_MAX_PRICE_IMPACT",
        gt=0,
        le=1,
        description="The most price impact a quote may have (a fraction: 0.05 = 5%).",
    )
    trade_priority_fee_ceiling: int = Field(
        100_000,
        alias="TRADE_PRIORITY_FEE_CEILING",
        ge=0,
        description="The most priority fee a trade may pay, in the chain's base unit.",
    )
    price_providers: str = Field(
        "jupiter,coingecko",
        alias="PRICE_PROVIDERS",
        description="Price providers to use, comma-separated: `jupiter` (Price API v3), "
        "`coingecko`. Alerts fire on each asset's first provider; USD policy needs two.",
    )
    jupiter_price_url: str | None = Field(
        None,
        alias="JUPITER_PRICE_URL",
        description="Jupiter Price API v3 base URL (`/price/v3`). Unset: https://api.jup.ag, "
        "or the devnet's price_url in dev.",
    )
    jupiter_api_key: SecretStr | None = Field(
        None, alias="JUPITER_API_KEY", description="Sent as `x-api-key` to Jupiter."
    )
    jupiter_per_second: float = Field(
        1.0,
        alias="JUPITER_REQUESTS_PER_SECOND",
        ge=0,
        description="Jupiter calls per second per process (50 mints a call). 0: no limit.",
    )
    jupiter_stale_slots: int = Field(
        150,
        alias="JUPITER_STALE_SLOTS",
        ge=1,
        description="A Jupiter price whose blockId is this many slots behind the newest is "
        "stale (150 slots: about a minute).",
    )
    coingecko_url: str | None = Field(
        None,
        alias="COINGECKO_API_URL",
        description="CoinGecko API base URL (`/api/v3/simple/...`). Unset: "
        "https://api.coingecko.com (https://pro-api.coingecko.com with COINGECKO_PRO), or the "
        "devnet's price_url in dev.",
    )
    coingecko_api_key: SecretStr | None = Field(
        None,
        alias="COINGECKO_API_KEY",
        description="Sent as `x-cg-demo-api-key` (or `x-cg-pro-api-key` with COINGECKO_PRO).",
    )
    coingecko_pro: bool = Field(
        False, alias="COINGECKO_PRO", description="The key is a pro key (`x-cg-pro-api-key`)."
    )
    coingecko_per_second: float = Field(
        0.5, alias="COINGECKO_REQUESTS_PER_SECOND", ge=0, description="CoinGecko calls per second."
    )
    coingecko_stale_seconds: float = Field(
        120,
        alias="COINGECKO_STALE_SECONDS",
        ge=60,
        description="A CoinGecko price older than this (`last_updated_at`) is stale; CoinGecko "
        "caches for about 60 s, so at least 60.",
    )
    price_max_disagreement: Decimal = Field(
        Decimal("0.02"),
        alias="PRICE_MAX_DISAGREEMENT",
        gt=0,
        lt=1,
        description="USD tiers trust a price only when the providers agree within this "
        "fraction (0.02 = 2%); otherwise the move waits for approval.",
    )
    price_poll_seconds: float = Field(
        10,
        alias="PRICE_POLL_SECONDS",
        gt=0,
        description="How often each provider's price-watch loop fetches every watched asset.",
    )
    alert_reconcile_seconds: int = Field(
        4 * 3600,
        alias="ALERT_RECONCILE_SECONDS",
        ge=1,
        description="Each price alert reads its price itself this often, so a lost signal is "
        "only late (hours keep idle alerts under 2 history events an hour).",
    )
    webhooks_allow_insecure: bool = Field(
        False,
        alias="WEBHOOKS_ALLOW_INSECURE",
        description="Dev only: accept http:// and private-address webhook URLs (the dev stack "
        "sets it for its local receiver). Off: https to public hosts only.",
    )
    webhook_retry_hours: float = Field(
        24,
        alias="WEBHOOK_RETRY_HOURS",
        gt=0,
        description="A webhook delivery is retried with backoff this long after its first "
        "attempt, then dead-lettered (`walletflow webhooks failed`, `replay`).",
    )
    webhook_backoff_seconds: float = Field(
        10,
        alias="WEBHOOK_BACKOFF_SECONDS",
        gt=0,
        description="The first retry's wait; it doubles per attempt up to "
        "WEBHOOK_BACKOFF_MAX_SECONDS.",
    )
    webhook_backoff_max_seconds: float = Field(
        3600,
        alias="WEBHOOK_BACKOFF_MAX_SECONDS",
        gt=0,
        description="The longest wait between two attempts of one webhook delivery.",
    )
    webhook_breaker_max_seconds: float = Field(
        600,
        alias="WEBHOOK_BREAKER_MAX_SECONDS",
        gt=0,
        description="An endpoint failing every attempt is probed once per cool-down (5 s "
        "doubling up to this), not once per event.",
    )
    webhook_timeout_seconds: float = Field(
        10,
        alias="WEBHOOK_TIMEOUT_SECONDS",
        gt=0,
        description="How long a receiver has to answer one delivery.",
    )
    solana_ws_subscriptions: int = Field(
        1500,
        alias="SOLANA_WS_SUBSCRIPTIONS_PER_CONNECTION",
        ge=3,
        le=9999,
        description="Subscriptions per WebSocket connection (3 per wallet); more wallets open "
        "more connections. Keep it under your provider's limit.",
    )
    tron_block_seconds: float = Field(
        3, alias="TRON_BLOCK_SECONDS", gt=0, description="TRON block interval the trigger paces on."
    )
    push: bool = Field(
        True,
        alias="WALLETFLOW_PUSH",
        description="Early alerts: follow subscriptions (Solana) and head blocks (TRON) and send "
        "a pending message edited to final. false: one message at finality only.",
    )
    push_round_seconds: int = Field(
        3600,
        alias="WALLETFLOW_PUSH_ROUND_SECONDS",
        ge=10,
        description="How long one push activity holds its connections before it reports back "
        "and reconnects (each reconnect checks the accounts once, 100 per call).",
    )
    reconcile_seconds: int = Field(
        3600,
        alias="MONITOR_RECONCILE_SECONDS",
        gt=0,
        description="Each monitor re-reads its wallet this often even without a trigger poke.",
    )
    solana_devnet_port: int = Field(
        8899,
        alias="WALLETFLOW_SOLANA_PORT",
        ge=0,
        le=65535,
        description="Local Solana devnet port.",
    )
    tron_devnet_port: int = Field(
        8090, alias="WALLETFLOW_TRON_PORT", ge=0, le=65535, description="Local TRON devnet port."
    )
    telegram_devnet_port: int = Field(
        8081,
        alias="WALLETFLOW_TELEGRAM_PORT",
        ge=0,
        le=65535,
        description="Local Telegram Bot API stand-in port.",
    )
    shutdown_timeout: float = Field(
        5.0,
        alias="WALLETFLOW_SHUTDOWN_TIMEOUT",
        gt=0,
        description="Seconds a stopping worker lets running activities finish.",
    )
    log_level: str = Field(
        "INFO",
        alias="WALLETFLOW_LOG_LEVEL",
        pattern="^(DEBUG|INFO|WARNING|ERROR)$",
        description="DEBUG, INFO, WARNING or ERROR.",
    )
    key_file: Path | None = Field(
        None,
        alias="WALLETFLOW_KEY_FILE",
        description="The CLI's signing key (`walletflow keys new`): every withdrawal and decision "
        "is a statement signed with it. Unset: $WALLETFLOW_HOME/keys/operator.json (dev).",
    )
    bot_key_file: Path | None = Field(
        None,
        alias="WALLETFLOW_BOT_KEY_FILE",
        description="The bot's service key: it signs for the Telegram users the roster lists "
        "for it. Unset: $WALLETFLOW_HOME/keys/bot.json (dev).",
    )
    keystore: str = Field(
        "env",
        alias="WALLETFLOW_KEYSTORE",
        description="Hot-wallet keys: `env` (WALLETFLOW_SOLANA_KEY, WALLETFLOW_TRON_KEY, and "
        "WALLETFLOW_DEPOSIT_SEED: the deposit addresses' seed, 16-64 bytes of hex) or "
        '`file:/path/keys.json` (`{"solana": …, "tron": …, "deposit_seed": …}`). Dev: the '
        "devnet's funded account 0 and a seed kept in `$WALLETFLOW_HOME/run/hot-keys.json`.",
    )
    approval_thresholds: str = Field(
        "SOL:10,USDC:1000,PYUSD:1000,TRX:10000,USDT:1000",
        alias="WITHDRAWAL_APPROVAL_THRESHOLDS",
        description="Withdrawals above SYMBOL:AMOUNT need an approver (comma-separated). "
        "`USD:AMOUNT` values each move in USD (see PRICE_MAX_DISAGREEMENT).",
    )
    approval_tiers: str = Field(
        "",
        alias="WITHDRAWAL_APPROVAL_TIERS",
        description="M-of-N: above SYMBOL:AMOUNT, COUNT distinct approvers, as "
        "SYMBOL:AMOUNT:COUNT (comma-separated), e.g. SOL:100:2, or by USD value, USD:25000:2: "
        "a USD value that is not confirmed (stale, one provider, disagreeing) needs the top "
        "USD tier. The requester never counts.",
    )
    allow_program_owned: bool = Field(
        False,
        alias="WITHDRAWAL_ALLOW_PROGRAM_OWNED",
        description="Solana: allow SOL to program-owned, data-holding or off-curve addresses "
        "(PDAs). Mints, token accounts and the hot wallet stay refused.",
    )
    max_versions: int = Field(
        3,
        alias="WITHDRAWAL_MAX_VERSIONS",
        ge=1,
        le=10,
        description="Signed versions of one withdrawal before it fails (each proven dead before "
        "the next is signed). A worker bound: no request can raise it.",
    )
    expiry_quorum: int = Field(
        2,
        alias="WITHDRAWAL_EXPIRY_QUORUM",
        ge=2,
        le=10,
        description="Independent RPC providers (endpoints distinct by host:port in "
        "SOLANA_RPC_URL / TRON_API_URL) that must each prove a version expired unlanded before "
        "a new one is signed. With fewer configured, nothing is re-signed: manual review.",
    )
    daily_limits: str = Field(
        "",
        alias="WITHDRAWAL_DAILY_LIMITS",
        description="Per requester, over any rolling 24 hours, SYMBOL:AMOUNT (comma-separated); "
        "`USD:AMOUNT` over every asset by USD value (an unconfirmed value waits for approval). "
        "Empty: none.",
    )
    hot_wallet_limits: str = Field(
        "SOL:1000,USDC:100000,PYUSD:100000,TRX:1000000,USDT:100000",
        alias="WITHDRAWAL_HOT_WALLET_LIMITS",
        description="Per hot wallet, over any rolling 24 hours, SYMBOL:AMOUNT (comma-separated); "
        "`USD:AMOUNT` over every asset of the hot wallet by USD value. Checked and reserved "
        "atomically. Empty: none.",
    )
    withdrawal_allowlist: str = Field(
        "off",
        alias="WITHDRAWAL_ALLOWLIST",
        description="`off`: any destination. `on`: only the chain's allowlist "
        "(`walletflow allowlist add`, after its cooling-off). A comma-separated address list: "
        "`on`, and these addresses are allowed too, without cooling-off.",
    )
    allowlist_cooling_off_hours: float = Field(
        24,
        alias="WITHDRAWAL_ALLOWLIST_COOLING_OFF_HOURS",
        ge=0,
        description="A destination added to the allowlist counts only after this many hours.",
    )
    approval_hours: float = Field(
        24, alias="WITHDRAWAL_APPROVAL_HOURS", gt=0, description="Approval deadline, in hours."
    )
    tron_max_fee_limit: int = Field(
        100_000_000,
        alias="TRON_MAX_FEE_LIMIT",
        gt=0,
        description="Ceiling of a TRC20 transfer's fee_limit, in sun.",
    )
    tron_expiration_seconds: int = Field(
        90,
        alias="TRON_EXPIRATION_SECONDS",
        gt=0,
        le=86400,
        description="How long a signed TRON transfer may wait for a block before it expires.",
    )
    deposit_minimums: str = Field(
        "SOL:0.001,USDC:0.01,PYUSD:0.01,TRX:1,USDT:0.01",
        alias="DEPOSIT_MINIMUMS",
        description="SYMBOL:AMOUNT: a deposit below its asset's minimum is dust, not credited "
        "(comma-separated; an asset not listed: any amount).",
    )
    sweep_thresholds: str = Field(
        "",
        alias="SWEEP_THRESHOLDS",
        description="SYMBOL:AMOUNT: a deposit address's uncovered credits of the asset at or "
        "above it are swept to the hot wallet at once (needs `walletflow sweeps authorize`). "
        "Unset: only `walletflow sweep`.",
    )
    reconcile_hours: float = Field(
        6,
        alias="RECONCILE_HOURS",
        gt=0,
        description="How often the deposits-{chain} Schedule starts the due sweeps and "
        "reconciles every deposit address against the chain.",
    )
    deposits_chat: int | None = Field(
        None,
        alias="DEPOSITS_CHAT",
        description="The Telegram chat told about each credited deposit (one chat takes about "
        "a message a second). Unset: no message; `deposit.credited` webhooks and `walletflow "
        "deposits` report them. Reconcile differences go here, else to the first of "
        "TELEGRAM_ADMINS.",
    )
    telegram_admins: str = Field(
        "", alias="TELEGRAM_ADMINS", description="Telegram user ids of admins (comma-separated)."
    )
    telegram_operators: str = Field(
        "",
        alias="TELEGRAM_OPERATORS",
        description="Telegram user ids who may request withdrawals (comma-separated).",
    )
    telegram_approvers: str = Field(
        "",
        alias="TELEGRAM_APPROVERS",
        description="Telegram user ids who approve withdrawals; they get the approval request.",
    )
    telegram_open_watch: bool = Field(
        True, alias="TELEGRAM_OPEN_WATCH", description="Anyone may /watch (else operators only)."
    )
    telegram_webhook_url: str | None = Field(
        None,
        alias="TELEGRAM_WEBHOOK_URL",
        description="Public HTTPS URL Telegram posts the bot's updates to. Unset: long polling.",
    )
    telegram_webhook_port: int = Field(
        8088,
        alias="TELEGRAM_WEBHOOK_PORT",
        ge=1,
        le=65535,
        description="Port the bot listens on in webhook mode (behind the TLS proxy of the URL).",
    )
    solana_hot_wallet: str | None = Field(
        None,
        alias="WALLETFLOW_SOLANA_HOT_WALLET",
        description="Public address (never the key) of the Solana hot wallet, for the bot's fee "
        "estimates. Unset: typical figures.",
    )
    tron_hot_wallet: str | None = Field(
        None,
        alias="WALLETFLOW_TRON_HOT_WALLET",
        description="Public address (never the key) of the TRON hot wallet, for the bot's fee "
        "estimates (energy, free bandwidth). Unset: typical figures.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        alias="WALLETFLOW_LOG_FORMAT",
        description="`json`: one JSON object per log line, with workflow id, run id and "
        "activity (workers and bot). `text`: plain lines.",
    )
    health_port: int | None = Field(
        None,
        alias="WALLETFLOW_HEALTH_PORT",
        ge=1,
        le=65535,
        description="Port of /healthz (alive) and /readyz (every worker polls, Postgres and "
        "Temporal answer) of a worker or bot process. Unset: not served.",
    )
    metrics_port: int | None = Field(
        None,
        alias="WALLETFLOW_METRICS_PORT",
        ge=1,
        le=65535,
        description="Port of the process's Prometheus /metrics: Temporal SDK metrics and "
        "walletflow's own. Unset: not served.",
    )
    otel_endpoint: str | None = Field(
        None,
        alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/gRPC endpoint traces are exported to, e.g. http://otel-collector:4317. "
        "Unset: no tracing.",
    )
    otel_service_name: str = Field(
        "walletflow",
        alias="OTEL_SERVICE_NAME",
        description="Service name on the process's traces.",
    )
    solana_activities_per_second: float = Field(
        0,
        alias="SOLANA_ACTIVITIES_PER_SECOND",
        ge=0,
        description="Rate limit of the Solana task queue: activities started per second across "
        "all its workers, to stay within the RPC provider's quota. 0: no limit.",
    )
    tron_activities_per_second: float = Field(
        0,
        alias="TRON_ACTIVITIES_PER_SECOND",
        ge=0,
        description="Rate limit of the TRON task queue: activities started per second across "
        "all its workers, to stay within the API provider's quota. 0: no limit.",
    )

    @cached_property
    def temporal_host(self) -> str:
        return self.temporal_address.rsplit(":", 1)[0]

    @cached_property
    def temporal_port(self) -> int:
        try:
            return int(self.temporal_address.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            raise UserError(
                f"invalid setting TEMPORAL_ADDRESS={self.temporal_address!r}: expected host:port"
            ) from None

    def task_queue(self, queue: str) -> str:
        return f"{self.task_queue_prefix}{queue}"

    def env(self, name: str) -> object:
        """The value of the setting whose environment variable is `name` (`ChainEnv` names)."""
        return getattr(self, _FIELD_OF_ENV[name])

    @property
    def dsn(self) -> str | None:
        """DATABASE_URL in clear, for the one call that connects."""
        return _reveal(self.database_url)

    def require_dsn(self, why: str = "") -> str:
        """DATABASE_URL in clear; one clear line (saying `why` it is needed) when unset."""
        if not self.database_url:
            raise UserError("DATABASE_URL is not set" + (f" ({why})" if why else ""))
        return self.database_url.get_secret_value()

    @property
    def bot_token(self) -> str | None:
        return _reveal(self.telegram_bot_token)

    def temporal_env(self) -> dict[str, str]:
        """The environment Temporal's envconfig reads: the process's TEMPORAL_* variables, plus
        those set in `.env` or by code (which pydantic-settings saw and os.environ did not).
        Only explicitly set fields count, so a profile file's address is not masked by our
        default."""
        env = {k: v for k, v in os.environ.items() if k.startswith("TEMPORAL_")}
        for name in self.model_fields_set & _ENVCONFIG_FIELDS.keys():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[_ENVCONFIG_FIELDS[name]] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return env

    def as_env(self) -> dict[str, str]:
        """Every set value as the environment variable a subprocess reads it from (secrets in
        clear: for a child process's environment only)."""
        env = {}
        for name, field in Settings.model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None and field.alias:
                env[field.alias] = str(value)
        return env

    def secret_texts(self) -> dict[str, str]:
        """{text that must never be written: its mask}: every secret value (and the parts of
        it that travel alone: a DSN's password, a bot token's secret half, each codec key), and
        the parts of URLs that may carry an API key (query values, long path segments,
        credentials)."""
        texts: dict[str, str] = {}
        for name, field in Settings.model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                secret = value.get_secret_value()
                texts[secret] = f"***{field.alias}***"
                texts |= {part: "***" for part in _secret_parts(secret)}
            elif name in _URL_FIELDS and value:
                for url in str(value).split(","):
                    if url.strip():
                        texts[url.strip()] = redact_url(url)
                        texts |= {part: "***" for part in _secret_parts(url.strip())}
        return {k: v for k, v in texts.items() if len(k) >= 6}

    def shown(self, name: str) -> str:
        """A setting's value for display: secrets masked, URLs without paths or credentials."""
        value = getattr(self, name)
        if value is None:
            return "None"
        if isinstance(value, SecretStr):
            return "***" if value.get_secret_value() else ""
        if name in _URL_FIELDS:
            return ",".join(redact_url(u) for u in str(value).split(",") if u.strip())
        return str(value)

    def rpc_urls(self, chain: str) -> list[str]:
        env = chains.get(chain).ENV.rpc_url
        text = str(self.env(env) or "")
        if not text:
            raise UserError(f"{env} is not set")
        return [u.strip() for u in text.split(",") if u.strip()]

    def activities_per_second(self, chain: str) -> float | None:
        """The chain task queue's rate limit (None: unlimited)."""
        rate = float(str(self.env(chains.get(chain).ENV.activities_per_second)))
        return rate or None

    def hot_wallet(self, chain: str) -> str | None:
        """The public address of the chain's hot wallet, if configured."""
        value = self.env(chains.get(chain).ENV.hot_wallet)
        return str(value) if value else None

    def chain_options(self, chain: str, names: tuple[str, ...]) -> dict[str, object]:
        """The chain's own settings that its adapters read, by field name."""
        return {name: getattr(self, name) for name in names}

    def _dev_tokens(self) -> dict[str, str]:
        """The devnet's tokens from `$WALLETFLOW_HOME/devnet.json`, so that a CLI in another
        shell knows USDC/USDT of a running `walletflow dev` without configuration."""
        try:
            doc = json.loads((self.home / "devnet.json").read_text())
        except (OSError, ValueError):
            return {}
        return devnet_env(doc, self)

    def amounts(self, name: str) -> dict[str, Decimal]:
        """A SYMBOL:AMOUNT list setting as {SYMBOL: Decimal}; one clear error when malformed."""
        field = Settings.model_fields[name]
        result: dict[str, Decimal] = {}
        for item in filter(None, (p.strip() for p in str(getattr(self, name)).split(","))):
            symbol, _, amount = item.partition(":")
            try:
                value = Decimal(amount)
            except InvalidOperation:
                value = Decimal(-1)
            if not symbol or not value.is_finite() or value < 0:
                raise UserError(f"invalid setting {field.alias}: {item!r} is not SYMBOL:AMOUNT")
            result[symbol.strip().upper()] = value
        return result

    def deposit_amounts(self, name: str, chain: str, *, positive: bool) -> dict[str, int]:
        """A SYMBOL:AMOUNT setting for one chain's listed assets: {asset id: base units}.
        `positive`: an amount of 0 is refused too (a threshold must be above zero)."""
        listed = self.tokens(chain)
        result: dict[str, int] = {}
        for symbol, amount in self.amounts(name).items():
            asset = listed.by_symbol(symbol)
            if asset is None:
                continue  # another chain's asset
            if positive and amount <= 0:
                alias = Settings.model_fields[name].alias
                raise UserError(f"invalid setting {alias}: {symbol} must be above 0")
            result[asset.id] = int(amount.scaleb(asset.decimals))
        return result

    def allowlist(self) -> tuple[bool, set[str]]:
        """WITHDRAWAL_ALLOWLIST: (enforced, the addresses it lists itself)."""
        value = self.withdrawal_allowlist.strip()
        if value.lower() in ("", "off"):
            return False, set()
        if value.lower() == "on":
            return True, set()
        return True, {a.strip() for a in value.split(",") if a.strip()}

    def signing_key(self) -> Path:
        return self.key_file or self.home / "keys" / "operator.json"

    def bot_signing_key(self) -> Path:
        return self.bot_key_file or self.home / "keys" / "bot.json"

    def tiers(self) -> dict[str, list[tuple[Decimal, int]]]:
        """WITHDRAWAL_APPROVAL_TIERS as {SYMBOL: [(above, approvers)]}."""
        tiers: dict[str, list[tuple[Decimal, int]]] = {}
        for item in filter(None, (p.strip() for p in self.approval_tiers.split(","))):
            symbol, _, rest = item.partition(":")
            amount, _, count = rest.partition(":")
            try:
                above, approvers = Decimal(amount), int(count)
            except (InvalidOperation, ValueError):
                above, approvers = Decimal(-1), 0
            if not symbol or not above.is_finite() or above < 0 or approvers < 1:
                raise UserError(
                    f"invalid setting WITHDRAWAL_APPROVAL_TIERS: {item!r} is not "
                    "SYMBOL:AMOUNT:COUNT"
                )
            tiers.setdefault(symbol.strip().upper(), []).append((above, approvers))
        return tiers

    def user_ids(self, name: str) -> list[int]:
        field = Settings.model_fields[name]
        items = [p.strip() for p in str(getattr(self, name)).split(",") if p.strip()]
        if not all(i.lstrip("-").isdigit() for i in items):
            raise UserError(f"invalid setting {field.alias}: expected comma-separated user ids")
        return [int(i) for i in items]

    def tokens(self, chain: str) -> TokenList:
        """The chain's listed tokens; one clear error naming the setting when malformed."""
        spec = chains.get(chain)
        env = spec.ENV.tokens
        text = str(self.env(env) or "")
        try:
            listed: TokenList = spec.tokens_from(text or self._dev_tokens().get(env, ""))
        except InvalidInput as exc:
            raise UserError(f"invalid setting {env}: {exc}") from None
        return listed


_FIELD_OF_ENV = {f.alias: name for name, f in Settings.model_fields.items() if f.alias}
ENV_NAMES = frozenset(_FIELD_OF_ENV)
# Settings that Temporal's envconfig also reads, under the same variable names.
_ENVCONFIG_FIELDS = {
    name: str(f.alias)
    for name, f in Settings.model_fields.items()
    if f.alias and f.alias.startswith("TEMPORAL_") and f.alias != "TEMPORAL_UI_PORT"
}
_URL_FIELDS = {
    name
    for name, f in Settings.model_fields.items()
    if f.alias and (f.alias.endswith("_URL") or f.alias == "OTEL_EXPORTER_OTLP_ENDPOINT")
}


_KEYISH = re.compile(r"key|token|secret|auth|pass|sig", re.IGNORECASE)


def _secret_parts(text: str) -> set[str]:
    """Pieces of a secret value that may appear without the rest of it."""
    parts: set[str] = set()
    if "://" in text:
        url = urlsplit(text)
        parts.add(url.password or "")  # not the user name: it may be a word in every line
        # query values named like a key (api-key=, token=), or long enough to be one: not
        # `commitment=finalized`, which would mask a common word everywhere
        parts |= {v for k, v in parse_qsl(url.query) if _KEYISH.search(k) or len(v) >= 16}
        parts |= {seg for seg in url.path.split("/") if len(seg) >= 16}
    else:  # KEY_ID:BASE64 entries (codec keys), id:secret (a bot token)
        parts |= {item.strip().partition(":")[2] for item in re.split(r"[,\n]", text)}
    return {p for p in parts if len(p) >= 6}


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def redact_url(url: str) -> str:
    """scheme://host:port of a URL: its path, query and credentials may carry an API key
    (`/v2/<key>`, `?api-key=`, `user:pass@`)."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return "***"
    port = f":{parts.port}" if parts.port else ""
    rest = "/***" if (parts.path.strip("/") or parts.query or parts.username) else ""
    return f"{parts.scheme}://{parts.hostname}{port}{rest}"


def devnet_env(devnets: dict[str, Any], settings: Settings) -> dict[str, str]:
    """Each chain's settings naming its devnet's tokens and swap venue (from devnet.json's
    sections), unless the setting is set already."""
    env: dict[str, str] = {}
    for section in devnets.values():  # whichever devnet serves the price APIs
        if isinstance(section, dict) and section.get("price_url"):
            for key in ("JUPITER_PRICE_URL", "COINGECKO_API_URL"):
                if not settings.env(key):
                    env[key] = str(section["price_url"])
    for name, spec in chains.REGISTRY.items():
        section = devnets.get(name)
        swap = spec.ENV.swap_url
        offered = isinstance(section, dict) and section.get("swap_url")
        if swap and offered and not settings.env(swap):
            env[swap] = str(section["swap_url"])  # type: ignore[index]
        if isinstance(section, dict) and not settings.env(spec.ENV.tokens):
            try:
                env[spec.ENV.tokens] = spec.devnet_tokens(section)
            except KeyError:  # a devnet.json without this chain's tokens
                continue
    return env


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with one clear line (not a traceback) when one is bad."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        field = Settings.model_fields.get(name)
        env_name = field.alias if field and field.alias else name
        raise UserError(f"invalid setting {env_name}: {err['msg']}") from None
    settings.temporal_port  # noqa: B018 - validates host:port early
    return settings
