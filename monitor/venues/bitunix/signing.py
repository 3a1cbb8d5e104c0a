"""Bitunix's request signing: a SHA-256 over a SHA-256, for REST and for the private socket's login.

From the official demos (BitunixOfficial/open-api, Python, Go and Java), with the Go demo's test
vector (``open_api_http_sign_test.go``):

- REST: ``digest = sha256hex(nonce + timestamp_ms + api_key + query + body)``, then
  ``sign = sha256hex(digest + secret)``. ``query`` is every query parameter as key then value, sorted
  by key, with no ``=`` or ``&`` (``marginCoinUSDT``); ``body`` is the exact JSON text sent, without
  spaces. Headers ``api-key``, ``sign``, ``nonce``, ``timestamp``.
- WebSocket login: the same double hash over ``nonce + timestamp_s + api_key`` (a timestamp in
  *seconds*, an integer), no query and no body.

Pure functions: the nonce and the clock are the caller's, so a test can pin them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from collections.abc import Mapping

NONCE_LENGTH = 32
_NONCE_ALPHABET = string.ascii_letters + string.digits


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_nonce() -> str:
    """32 random alphanumeric characters, as the demos send."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_LENGTH))


def query_text(params: Mapping[str, object]) -> str:
    """The signed form of a query: key then value, sorted by key, nothing between them."""
    return "".join(f"{key}{params[key]}" for key in sorted(params))


def body_text(body: Mapping[str, object] | None) -> str:
    """The JSON text a POST sends and signs: compact (no spaces), so the bytes sent are the ones
    signed. ``""`` for no body."""
    if body is None:
        return ""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def double_hash(secret: str, *parts: str) -> str:
    """``sha256hex(sha256hex(concatenated parts) + secret)``: every Bitunix signature."""
    return sha256_hex(sha256_hex("".join(parts)) + secret)


def rest_sign(api_key: str, secret: str, nonce: str, timestamp_ms: str, query: str, body: str) -> str:
    return double_hash(secret, nonce, timestamp_ms, api_key, query, body)


def rest_headers(
    api_key: str, secret: str, nonce: str, timestamp_ms: int, query: str, body: str
) -> dict[str, str]:
    """The headers of one signed REST request."""
    stamp = str(timestamp_ms)
    return {
        "api-key": api_key,
        "nonce": nonce,
        "timestamp": stamp,
        "sign": rest_sign(api_key, secret, nonce, stamp, query, body),
        "Content-Type": "application/json",
    }


def login_frame(api_key: str, secret: str, nonce: str, timestamp_s: int) -> dict[str, object]:
    """The private socket's login op: a seconds timestamp, no query, no body."""
    sign = double_hash(secret, nonce, str(timestamp_s), api_key)
    return {
        "op": "login",
        "args": [{"apiKey": api_key, "timestamp": timestamp_s, "nonce": nonce, "sign": sign}],
    }
