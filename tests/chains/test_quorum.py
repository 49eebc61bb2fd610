"""Independent providers for an expiry quorum: told apart by host:port, at least two."""

from __future__ import annotations

import pytest

from chains.quorum import check_quorum, independent, proven_dead, provider


def test_providers_are_told_apart_by_host_and_port() -> None:
    assert provider("http://127.0.0.1:8899") == "127.0.0.1:8899"
    assert provider("https://RPC.example.com/key-a") == "rpc.example.com:443"
    assert provider("http://rpc.example.com/") == "rpc.example.com:80"
    urls = [
        "https://rpc.example.com/key-a",
        "https://rpc.example.com:443/key-b",  # same provider, another key: counts once
        "http://rpc.example.com:8899",
        "http://127.0.0.1:8899",
        "http://localhost:8899",
    ]
    assert independent(urls) == [0, 2, 3, 4]


def test_a_quorum_is_at_least_two_agreeing_providers() -> None:
    assert not proven_dead([True], 2)
    assert not proven_dead([True, False], 2)
    assert proven_dead([True, True], 2)
    assert proven_dead([True, False, True], 2)
    assert not proven_dead([True, True, False], 3)
    with pytest.raises(ValueError, match="at least 2"):
        check_quorum(1)
    with pytest.raises(ValueError, match="at least 2"):
        proven_dead([True], 1)
