"""The Temporal Web UI, in headless Chromium, with the codec server (issue 17): a person who
signed in at the codec server's /login and turned on "Include cross-origin credentials" sees a
withdrawal's destination and amount on its workflow page; a browser without that session sees
only ciphertext. Every assertion reads DOM text, never pixels.

The UI and the codec server are both on `localhost` (different ports): the session cookie is
SameSite=Strict, so they must be the same site. The dev server's codec setting has no "include
credentials" option, so the browser sets it in the UI's codec dialog (stored in the browser's
localStorage as `overrideRemoteCodecConfiguration`, `endpoint`, `includeCredentials`).
Chromium is Debian's (`apt-get install chromium`): Playwright cannot download browsers here.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import secrets
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest_asyncio
from aiohttp import web
from solders.keypair import Keypair
from temporalio.testing import WorkflowEnvironment

from core import search_attributes
from starter.client import connect, withdrawals
from starter.client.signer import Signer
from starter.devstack import free_port
from starter.runtime.codec import KeyRing, new_key
from starter.runtime.codec_server import COOKIE, make_app
from starter.runtime.settings import load_settings
from tests.support.stack import eventually
from tests.support.tools import unavailable

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Page

KEY = new_key("ui")
TOKEN = "codec-token-" + uuid.uuid4().hex
AMOUNT = "3.141592"  # SOL, display units: distinctive enough not to appear by chance
WAIT_MS = 30_000
# Headless as root, and quiet: without the background-networking flags Chromium keeps calling
# Google services, which a closed network turns into a flood of failing requests.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Site:
    env: WorkflowEnvironment  # its client has no codec: it reads history as stored
    ui: str  # http://localhost:U
    codec: str  # http://localhost:C


@dataclass(frozen=True)
class Withdrawal:
    url: str  # its workflow page in the UI
    to: str
    ciphertext: str  # base64 of the encrypted input payload, as the history stores it


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        unavailable("chromium is not installed: apt-get install chromium")
    return path


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if importlib.util.find_spec("playwright") is None:
        unavailable("playwright is not installed: make install (the dev extra)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(scope="module")
async def site() -> AsyncIterator[Site]:
    """A dev server whose UI decodes through a codec server, both on localhost."""
    ui_port, codec_port = free_port(), free_port()
    ui, codec = f"http://localhost:{ui_port}", f"http://localhost:{codec_port}"
    runner = web.AppRunner(make_app(KeyRing.parse(KEY), TOKEN, ui), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", codec_port).start()
    try:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
            search_attributes=search_attributes.ALL,
            dev_server_log_level="error",
            # The SDK waits 5 s by default: too short on 2 busy cores (xdist, the other stacks).
            dev_server_startup_timeout=timedelta(seconds=60),
            ui=True,
            ui_port=ui_port,
            dev_server_extra_args=["--ui-codec-endpoint", codec, "--ui-disable-news-fetch"],
        )
        try:
            await eventually(lambda: _codec_endpoint(ui), timeout=30)
            yield Site(env=env, ui=ui, codec=codec)
        finally:
            await env.shutdown()
    finally:
        await runner.cleanup()


async def _codec_endpoint(ui: str) -> bool:
    """Whether the UI is up, with the codec endpoint it was started with."""
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{ui}/api/v1/settings") as resp:
            return resp.status == 200 and bool((await resp.json())["Codec"]["Endpoint"])
    except aiohttp.ClientError:
        return False


@pytest_asyncio.fixture(scope="module")
async def withdrawal(site: Site) -> Withdrawal:
    """A signed withdrawal started by an encrypting client, as `walletflow withdraw` does. No
    worker polls its task queue here: only its (encrypted) input is shown."""
    address = site.env.client.service_client.config.target_host
    settings = load_settings(TEMPORAL_ADDRESS=address, WALLETFLOW_CODEC_KEYS=KEY)
    client = await connect(settings)
    to = str(Keypair().pubkey())
    req = withdrawals.build_request(
        settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount=AMOUNT,
        request_id=f"ui-{uuid.uuid4().hex[:12]}",
        requested_by="set by the signature",
    )
    workflow_id, _ = await withdrawals.start(
        client, settings, req, Signer("ui-tester", secrets.token_bytes(32))
    )
    stored = site.env.client.get_workflow_handle(workflow_id)
    history = await stored.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (payload,) = started.input.payloads
    assert payload.metadata["encoding"] == b"binary/encrypted"
    run_id = started.original_execution_run_id
    return Withdrawal(
        url=f"{site.ui}/namespaces/default/workflows/{workflow_id}/{run_id}/history",
        to=to,
        ciphertext=base64.b64encode(payload.data).decode(),
    )


def decode_statuses(page: Page, codec: str) -> list[int]:
    """The HTTP statuses of the page's calls to the codec server's /decode, as they come."""
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.url.startswith(f"{codec}/decode") else None,
    )
    return statuses


def input_panel(page: Page) -> Locator:
    """The workflow page's "Input and Results" panel (the input is a CodeMirror view)."""
    return page.get_by_test_id("input-and-result")


async def sign_in(page: Page, codec: str) -> None:
    """The codec server's login form, filled in the browser: the cookie lands in its jar."""
    from playwright.async_api import expect

    await page.goto(f"{codec}/login")
    await page.get_by_placeholder("codec token").fill(TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body")).to_contain_text("Signed in for 12 hours", timeout=WAIT_MS)


async def include_credentials(page: Page, codec: str) -> None:
    """In the UI's codec dialog (opened from the codec status icon): use a browser setting with
    the same endpoint and "Include cross-origin credentials", then reload to decode again."""
    from playwright.async_api import expect

    status = page.get_by_test_id("data-encoder-status-error")  # the decode calls got a 401
    await expect(status).to_be_visible(timeout=WAIT_MS)
    await status.click()
    dialog = page.locator("#data-encoder-settings")
    await dialog.get_by_test_id("use-local-endpoint-input").check()
    await dialog.get_by_test_id("data-encoder-endpoint-input").fill(codec)
    # The switch itself is visually hidden (sr-only): a person clicks its label.
    await dialog.get_by_test_id("data-encoder-include-credentials").click()
    switch = dialog.get_by_role("switch", name="Include cross-origin credentials")
    await expect(switch).to_be_checked()
    await dialog.get_by_role("button", name="Apply").click()
    await expect(dialog).to_be_hidden(timeout=WAIT_MS)
    stored = await page.evaluate(
        "() => ['overrideRemoteCodecConfiguration', 'endpoint', 'includeCredentials']"
        ".map(k => localStorage.getItem(k))"
    )
    assert [json.loads(v) for v in stored] == [True, codec, True]
    await page.reload()


async def shows_only_ciphertext(page: Page, withdrawal: Withdrawal) -> None:
    from playwright.async_api import expect

    await expect(input_panel(page)).to_contain_text(withdrawal.ciphertext, timeout=WAIT_MS)
    await expect(page.get_by_test_id("data-encoder-status-error")).to_be_visible()
    text = await page.locator("body").inner_text()
    assert withdrawal.to not in text
    assert AMOUNT not in text


async def test_signed_in_with_credentials_the_ui_shows_the_destination_and_amount(
    browser: Browser, site: Site, withdrawal: Withdrawal
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context()
    try:
        page = await context.new_page()
        statuses = decode_statuses(page, site.codec)
        await sign_in(page, site.codec)
        (cookie,) = [c for c in await context.cookies(site.codec) if c["name"] == COOKIE]
        assert cookie.get("httpOnly") and cookie.get("sameSite") == "Strict"

        # Signed in is not enough: the UI sends no cookie until it includes credentials.
        await page.goto(withdrawal.url)
        await shows_only_ciphertext(page, withdrawal)
        assert statuses and set(statuses) == {401}

        await include_credentials(page, site.codec)
        panel = input_panel(page)
        await expect(panel).to_contain_text(f'"to": "{withdrawal.to}"', timeout=WAIT_MS)
        await expect(panel).to_contain_text(f'"amount": "{AMOUNT}"')
        await expect(panel).not_to_contain_text(withdrawal.ciphertext)
        # The start event's summary (user metadata, a payload too) is decoded as well.
        await expect(page.get_by_test_id("event-summary-table")).to_contain_text(
            f"{AMOUNT} SOL to {withdrawal.to} on solana", timeout=WAIT_MS
        )
        await expect(page.get_by_test_id("data-encoder-status-error")).to_have_count(0)
        assert 200 in statuses
    finally:
        await context.close()


async def test_without_the_codec_session_the_ui_shows_only_ciphertext(
    browser: Browser, site: Site, withdrawal: Withdrawal
) -> None:
    """A browser that never signed in at the codec server: the cluster's codec endpoint answers
    401, and even with "Include cross-origin credentials" on there is no cookie to send."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        statuses = decode_statuses(page, site.codec)
        await page.goto(withdrawal.url)
        await shows_only_ciphertext(page, withdrawal)

        await include_credentials(page, site.codec)
        await shows_only_ciphertext(page, withdrawal)
        assert statuses and set(statuses) == {401}
        assert COOKIE not in {c["name"] for c in await context.cookies(site.codec)}
    finally:
        await context.close()
