"""Every devnet counts the requests it answers, per method (`/_devnet/stats`)."""

from __future__ import annotations

from typing import Any

import httpx


async def stats(http: httpx.AsyncClient, url: str, reset: bool = False) -> dict[str, Any]:
    resp = await (
        http.post(f"{url}/_devnet/stats/reset") if reset else http.get(f"{url}/_devnet/stats")
    )
    resp.raise_for_status()
    return dict(resp.json())


async def test_solana_counts_each_json_rpc_call_and_refusals(solana: Any) -> None:
    async with httpx.AsyncClient() as http:
        await stats(http, solana.url, reset=True)
        call = {"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": []}
        await http.post(solana.url, json=call)
        await http.post(solana.url, json=[call, {**call, "method": "getBlockHeight"}])
        solana.faults.update({"rate_429": 1.0})
        assert (await http.post(solana.url, json=call)).status_code == 429
        solana.faults.update({"rate_429": 0.0})
        got = await stats(http, solana.url)
    assert got["requests"] == 3
    assert got["methods"] == {"getSlot": 3, "getBlockHeight": 1}
    assert got["statuses"] == {"200": 2, "429": 1}
    assert got["refused"] == {"getSlot": 1}


async def test_tron_counts_routes(tron: Any) -> None:
    address = tron.info()["accounts"][0]["address"]
    async with httpx.AsyncClient() as http:
        await stats(http, tron.url, reset=True)
        await http.post(f"{tron.url}/walletsolidity/getnowblock", json={})
        await http.get(f"{tron.url}/v1/accounts/{address}/transactions")
        got = await stats(http, tron.url)
    assert got["methods"] == {
        "walletsolidity/getnowblock": 1,
        "v1/accounts/{address}/transactions": 1,
    }
