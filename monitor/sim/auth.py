"""Request authentication the way Binance checks it (SIGNED and USER_STREAM endpoints).

SIGNED: ``X-MBX-APIKEY`` names the key; ``signature`` is the hex HMAC-SHA256, keyed by the secret, of
the *exact* bytes sent (query string, then request body, without the ``signature`` parameter itself);
``timestamp`` must lie within ``recvWindow`` (default 5000 ms) behind the server clock and no more than
1000 ms ahead of it. USER_STREAM (listenKey) endpoints need the API key only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from urllib.parse import parse_qsl

from monitor.sim import errors

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
MAX_AHEAD_MS = 1000


def sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def split_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` parameter, and the signature (None if absent)."""
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def parse_params(*raws: str) -> dict[str, str]:
    """Query and body parameters, decoded, the later one winning on a repeated name."""
    params: dict[str, str] = {}
    for raw in raws:
        params.update(parse_qsl(raw, keep_blank_values=True))
    params.pop("signature", None)
    return params


def require_key(api_key: str | None, secret_for: Callable[[str], str | None]) -> str:
    """The secret of a known key, or the error Binance gives for a missing or unknown one."""
    if not api_key:
        raise errors.api_key_format()
    secret = secret_for(api_key)
    if secret is None:
        raise errors.bad_api_key()
    return secret


def check_signed(
    *,
    query: str,
    body: str,
    api_key: str | None,
    secret_for: Callable[[str], str | None],
    now_ms: int,
) -> dict[str, str]:
    """Verify a SIGNED request and return its decoded parameters; raises ``BinanceError``."""
    secret = require_key(api_key, secret_for)
    q, q_sig = split_signature(query)
    b, b_sig = split_signature(body)
    signature = q_sig or b_sig
    params = parse_params(query, body)
    if not signature:
        raise errors.mandatory_param("signature")
    if not hmac.compare_digest(signature.lower(), sign(q + b, secret)):
        raise errors.invalid_signature()
    raw_ts = params.get("timestamp")
    if not raw_ts or not raw_ts.isdigit():
        raise errors.mandatory_param("timestamp")
    raw_window = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
    if not raw_window.isdigit():
        raise errors.invalid_param("recvWindow")
    window = min(int(raw_window), MAX_RECV_WINDOW_MS)
    ts = int(raw_ts)
    if ts > now_ms + MAX_AHEAD_MS:
        raise errors.timestamp_ahead()
    if now_ms - ts > window:
        raise errors.invalid_timestamp()
    return params
