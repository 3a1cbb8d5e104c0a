"""Hyperliquid's signing as the simulator checks it: addresses, the L1-action signature and the nonce
window (docs "Exchange endpoint", "Signing", "Nonces and API wallets").

An L1 action (order, cancel, updateIsolatedMargin, updateLeverage, setReferrer) is signed by an agent
(API) wallet or the account's own key: ``hash = keccak(msgpack(action) || nonce (8 bytes, big endian)
|| 0x00 | 0x01 vaultAddress || [0x00 expiresAfter])``, then EIP-712 over the phantom agent
(``monitor.venues.hyperliquid.signing``: the hashing the client signs with). The signer is
recovered from ``{r, s, v}`` (coincurve): the simulator knows the account by the wallet that signed,
as the exchange does.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import coincurve

from monitor.venues.hyperliquid.signing import (
    ZERO_ADDRESS,
    action_hash,
    address_of_key,
    address_of_public_key,
    l1_digest,
)

__all__ = ["ZERO_ADDRESS", "Nonces", "SignatureError", "action_hash", "address_of_key", "l1_digest"]

_HEX64 = re.compile(r"0x[0-9a-fA-F]{64}\Z")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")
# the node keeps the highest 100 nonces per signer (20, plus one per 1M USDC traded, up to 100) and
# refuses a nonce more than two days behind or a day ahead of its clock
NONCE_WINDOW = 100
NONCE_PAST_MS = 2 * 24 * 3600 * 1000
NONCE_AHEAD_MS = 24 * 3600 * 1000


class SignatureError(ValueError):
    """A signature the exchange would not accept; the text is what it answers."""


def is_address(value: object) -> bool:
    return isinstance(value, str) and _ADDRESS.match(value) is not None


def account_address(api_key: str) -> str:
    """A simulated account's master address (what a user watches): derived from its simulator key."""
    return "0x" + hashlib.sha256(f"monitor-sim/hyperliquid/{api_key}".encode()).hexdigest()[:40]


def check_shape(signature: object) -> tuple[bytes, bytes, int]:
    """``{r, s, v}``: ``r`` and ``s`` 0x and 64 hex digits, ``v`` 27 or 28."""
    if not isinstance(signature, dict):
        raise SignatureError("Failed to deserialize the JSON body into the target type: signature")
    r, s, v = signature.get("r"), signature.get("s"), signature.get("v")
    if not (isinstance(r, str) and _HEX64.match(r) and isinstance(s, str) and _HEX64.match(s)):
        raise SignatureError("Failed to deserialize the JSON body into the target type: signature r, s")
    if v not in (27, 28) or isinstance(v, bool):
        raise SignatureError("Failed to deserialize the JSON body into the target type: signature v")
    return bytes.fromhex(r[2:]), bytes.fromhex(s[2:]), int(v)


def recover_l1_signer(
    action: Any, nonce: int, signature: object, vault: str | None, expires_after: int | None
) -> str:
    """The address that signed ``action`` (lower case). A signature of another action, nonce or vault
    recovers some other address, which the caller finds unknown, as the exchange does."""
    r, s, v = check_shape(signature)
    digest = l1_digest(action_hash(action, nonce, vault, expires_after))
    try:
        public = coincurve.PublicKey.from_signature_and_message(r + s + bytes([v - 27]), digest, hasher=None)
    except Exception:
        raise SignatureError("Invalid signature") from None
    return address_of_public_key(public)


class Nonces:
    """Every signer's highest nonces: a new one must be unused, above the smallest kept once the
    window is full, and within the time bounds of the node's clock."""

    def __init__(self) -> None:
        self._kept: dict[str, list[int]] = {}

    def use(self, signer: str, nonce: int, now_ms: int) -> None:
        if not (now_ms - NONCE_PAST_MS < nonce < now_ms + NONCE_AHEAD_MS):
            raise SignatureError(f"Invalid nonce: {nonce} is too far from the current time")
        kept = self._kept.setdefault(signer, [])
        if nonce in kept:
            raise SignatureError(f"Invalid nonce: duplicate nonce {nonce}")
        if len(kept) >= NONCE_WINDOW and nonce < kept[0]:
            raise SignatureError(f"Invalid nonce: {nonce} is lower than every nonce kept for the signer")
        kept.append(nonce)
        kept.sort()
        del kept[:-NONCE_WINDOW]
