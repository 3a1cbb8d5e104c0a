"""Bitunix's double SHA-256 signatures: the official vector, and what goes into the hash."""

from __future__ import annotations

import hashlib

from monitor.venues.bitunix import signing


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_rest_signature_matches_the_official_vector() -> None:
    # BitunixOfficial/open-api, Demo/Golang/open_api_http_sign_test.go
    sign = signing.rest_sign(
        "11111111111111111", "22222222222222222", "33333333333333333", "1747104711262", "marginCoinUSDT", ""
    )
    assert sign == "40e87256554e263e39201a3979469b7fbb640d1c7c41759abf5c6a18f937f922"


def test_query_is_sorted_by_key_and_concatenated_without_separators() -> None:
    assert signing.query_text({"symbol": "BTCUSDT", "marginCoin": "USDT"}) == "marginCoinUSDTsymbolBTCUSDT"
    assert signing.query_text({}) == ""


def test_body_is_the_compact_json_text_sent() -> None:
    assert signing.body_text({"symbol": "BTCUSDT", "qty": "0.5", "reduceOnly": True}) == (
        '{"symbol":"BTCUSDT","qty":"0.5","reduceOnly":true}'
    )
    assert signing.body_text(None) == ""


def test_rest_headers_sign_nonce_time_key_query_and_body() -> None:
    headers = signing.rest_headers("key", "secret", "n" * 32, 1747104711262, "symbolBTCUSDT", '{"a":1}')
    expected = sha(sha("n" * 32 + "1747104711262" + "key" + "symbolBTCUSDT" + '{"a":1}') + "secret")
    assert headers["sign"] == expected
    assert (headers["api-key"], headers["nonce"], headers["timestamp"]) == ("key", "n" * 32, "1747104711262")


def test_login_signs_a_seconds_timestamp_without_query_or_body() -> None:
    frame = signing.login_frame("key", "secret", "abc", 1747104711)
    (arg,) = frame["args"]  # type: ignore[misc]
    assert frame["op"] == "login"
    assert arg == {
        "apiKey": "key",
        "timestamp": 1747104711,
        "nonce": "abc",
        "sign": sha(sha("abc" + "1747104711" + "key") + "secret"),
    }


def test_nonces_are_32_alphanumerics_and_differ() -> None:
    a, b = signing.new_nonce(), signing.new_nonce()
    assert len(a) == 32 and a.isalnum() and a.isascii()
    assert a != b
