"""`walletflow codec-key` and `walletflow codec-server`: payload encryption keys and the codec
server that lets the `temporal` CLI and the Web UI read encrypted payloads."""

from __future__ import annotations

import asyncio
import logging

import typer

from core.errors import UserError
from starter.cli.output import emit_json, err
from starter.runtime.codec import new_key, read_key_ring
from starter.runtime.codec_server import serve
from starter.runtime.settings import load_settings


def register(app: typer.Typer) -> None:
    @app.command("codec-key")
    def codec_key(
        key_id: str | None = typer.Option(None, "--id", help="key id (default: kYYYYMMDD)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
    ) -> None:
        """Print a new payload encryption key, KEY_ID:BASE64, for WALLETFLOW_CODEC_KEYS.

        To rotate, put the new key first and keep the old ones after it: new payloads use the
        first, old histories stay readable."""
        entry = new_key(key_id)
        if as_json:
            emit_json({"key_id": entry.partition(":")[0], "entry": entry})
        else:
            print(entry)

    @app.command("codec-server")
    def codec_server(
        host: str = typer.Option("127.0.0.1", help="address to listen on"),
        port: int | None = typer.Option(
            None, min=1, max=65535, help="port (default: WALLETFLOW_CODEC_SERVER_PORT)"
        ),
    ) -> None:
        """Serve /encode and /decode for `temporal --codec-endpoint` and the Web UI.

        Needs WALLETFLOW_CODEC_KEYS and WALLETFLOW_CODEC_SERVER_TOKEN. The CLI passes the token
        as `--codec-auth "Bearer TOKEN"`; a Web UI user signs in once at /login."""
        settings = load_settings()
        if not settings.codec_keys or not settings.codec_keys.get_secret_value():
            raise UserError("WALLETFLOW_CODEC_KEYS is not set: the codec server has no key")
        if not settings.codec_server_token or not settings.codec_server_token.get_secret_value():
            raise UserError(
                "WALLETFLOW_CODEC_SERVER_TOKEN is not set: the codec server would be open to all"
            )
        ring = read_key_ring(settings.codec_keys.get_secret_value())
        logging.basicConfig(level=settings.log_level, format="%(message)s")
        bound = port or settings.codec_server_port
        err.print(
            f"codec server on http://{host}:{bound} ({len(ring.keys)} key(s), encrypting with "
            f"{ring.active!r}); the Web UI's origin: {settings.codec_ui_origin}",
            highlight=False,
        )
        try:
            asyncio.run(
                serve(
                    ring,
                    settings.codec_server_token.get_secret_value(),
                    settings.codec_ui_origin,
                    host,
                    bound,
                )
            )
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{bound}: {exc.strerror}") from None
        except KeyboardInterrupt:
            pass
