"""Hyperliquid's L1-action hashing (docs "Exchange endpoint", "Signing"), with the encoders ccxt bundles
(msgpack, keccak, EIP-712): ccxt stays behind the venue boundary, and the simulator's signature check
(``monitor.sim.dialects.hyperliquid.signing``) hashes exactly as the client that signs.

``hash = keccak(msgpack(action) || nonce (8 bytes, big endian) || 0x00 | 0x01 vaultAddress ||
[0x00 expiresAfter])``, then EIP-712 over the phantom agent ``Agent{source: "a" (mainnet) | "b"
(testnet), connectionId: hash}`` with domain ``Exchange``, version 1, chain id 1337, the zero
verifying contract. msgpack keeps the key order of the action as given.
"""

from __future__ import annotations

from typing import Any

import coincurve
from ccxt.static_dependencies import ethabi, keccak, msgpack

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def address_of_public_key(public: coincurve.PublicKey) -> str:
    """The EVM address of a public key: keccak of its uncompressed form, the last 20 bytes."""
    return "0x" + bytes(keccak.SHA3(public.format(compressed=False)[1:]))[-20:].hex()


def address_of_key(private_key: str) -> str:
    """The EVM address of a hex private key (``0x`` optional)."""
    return address_of_public_key(
        coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x"))).public_key
    )


def action_hash(action: Any, nonce: int, vault: str | None, expires_after: int | None) -> bytes:
    data = msgpack.packb(action) + nonce.to_bytes(8, "big")
    data += b"\x00" if vault is None else b"\x01" + bytes.fromhex(vault.removeprefix("0x"))
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return bytes(keccak.SHA3(data))


def l1_digest(connection_id: bytes, *, testnet: bool = False) -> bytes:
    domain = {"chainId": 1337, "name": "Exchange", "verifyingContract": ZERO_ADDRESS, "version": "1"}
    types = {"Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]}
    message = {"source": "b" if testnet else "a", "connectionId": connection_id}
    encoded = ethabi.encode_typed_data(domain, types, message)
    return bytes(keccak.SHA3(b"\x19\x01" + encoded.header + encoded.body))
