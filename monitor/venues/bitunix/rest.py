"""Bitunix's REST API on ``aiohttp``: signed requests, the body's ``code`` read as the answer, the
venue's rate limits kept on our side.

Every error comes back as HTTP 200 with an integer ``code`` (``errors.py`` maps them); the status is
read only for what no code covers (a proxy's 5xx, a 429 from the edge with a ``Retry-After``). A
request whose answer is lost (timeout, reset) raises ``VenueUnavailable``: it may have been executed.

Limits (Bitunix's docs): market reads 10 per second per IP, account and position reads and orders
10 per second per key, margin adjustments 5 per second. A ``Pacer`` (``pacing.py``) holds each
kind's requests instead of letting the venue refuse them; the market pacer and the ``RestGate`` are
the venue's, shared by every account (one IP), the others are the account's.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from monitor.venues import errors
from monitor.venues.base import RestGate, VenueAccount, hhmmss, now_ms
from monitor.venues.bitunix import signing
from monitor.venues.bitunix.errors import OK, RATE_LIMIT_PAUSE_MS, error_for
from monitor.venues.bitunix.pacing import Pacer

TIMEOUT_S = 10.0
READ_RETRIES = 2


MARKET_PER_S = 9
"""Market reads a second from this IP (the venue's limit: 10)."""


@dataclass
class AccountPacers:
    """One key's limits: reads and orders 10/s, margin adjustments 5/s (kept one under each)."""

    reads: Pacer = field(default_factory=lambda: Pacer(9))
    orders: Pacer = field(default_factory=lambda: Pacer(9))
    margin: Pacer = field(default_factory=lambda: Pacer(4))


class BitunixRest:
    """One account's REST client (``account`` None: public endpoints only)."""

    def __init__(
        self,
        base_url: str,
        *,
        account: VenueAccount | None,
        gate: RestGate,
        market_pacer: Pacer,
        clock: Callable[[], int] = now_ms,
        nonce: Callable[[], str] = signing.new_nonce,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.gate = gate
        self.market_pacer = market_pacer
        self.pacers = AccountPacers()
        self.clock = clock
        self._nonce = nonce
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.last_date_ms: int | None = None  # the venue's clock (its Date header): no time endpoint

    @property
    def timeout(self) -> float:
        """The request timeout in milliseconds (as ccxt's clients spell it)."""
        return (self._timeout.total or 0.0) * 1000

    @timeout.setter
    def timeout(self, ms: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=ms / 1000)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def public(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A market read (no signature), paced by the venue's per-IP limit."""
        return await self._get(self.market_pacer, path, params, signed=False)

    async def read(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """A signed account or position read."""
        return await self._get(self.pacers.reads, path, params, signed=True)

    async def _get(self, pacer: Pacer, path: str, params: Mapping[str, str] | None, *, signed: bool) -> Any:
        """A read, sent again once the venue's one-second rate-limit window is over: a request
        refused for its rate was not executed, and another client of the same key or address
        (a daemon that just restarted) may have used the window. A longer ban is not waited out."""
        for attempt in range(READ_RETRIES + 1):
            await pacer.wait()
            try:
                return await self._send("GET", path, dict(params or {}), None, signed=signed)
            except errors.RateLimited:
                wait_s = self.gate.remaining_s()
                if attempt == READ_RETRIES or wait_s > RATE_LIMIT_PAUSE_MS / 1000:
                    raise
                await asyncio.sleep(wait_s)
        raise AssertionError("unreachable")

    async def order(self, path: str, body: Mapping[str, object]) -> Any:
        """A signed trade request (place, cancel, close)."""
        await self.pacers.orders.wait()
        return await self._send("POST", path, {}, body, signed=True)

    async def margin(self, path: str, body: Mapping[str, object]) -> Any:
        """A signed margin adjustment (5 per second)."""
        await self.pacers.margin.wait()
        return await self._send("POST", path, {}, body, signed=True)

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        body: Mapping[str, object] | None,
        *,
        signed: bool,
    ) -> Any:
        until = self.gate.closed_until()
        if until is not None:
            raise errors.RateLimited(f"bitunix REST paused: rate limited until {hhmmss(until)} UTC", until)
        text = signing.body_text(body)
        headers = {"Content-Type": "application/json"}
        if signed:
            if self.account is None:
                raise errors.AuthenticationRefused(f"bitunix {path}: a signed request needs an account")
            headers = signing.rest_headers(
                self.account.api_key,
                self.account.secret,
                self._nonce(),
                self.clock(),
                signing.query_text(params),
                text,
            )
        url = self.base_url + path
        try:
            data = text.encode() if body is not None else None
            async with self._http().request(
                method, url, params=params or None, data=data, headers=headers, timeout=self._timeout
            ) as reply:
                raw = await reply.read()
                status = reply.status
                self._note_date(reply.headers.get("Date"))
                retry_after = reply.headers.get("Retry-After")
        except TimeoutError as exc:
            # no answer in time: the request may have been executed
            raise errors.VenueUnavailable(
                f"RequestTimeout: bitunix {method} {path} gave no answer in {self.timeout:.0f} ms"
            ) from exc
        except aiohttp.ClientError as exc:
            raise errors.VenueUnavailable(f"bitunix {method} {path}: {type(exc).__name__}: {exc}") from exc
        return self._read(method, path, status, raw, retry_after)

    def _read(self, method: str, path: str, status: int, raw: bytes, retry_after: str | None) -> Any:
        where = f"bitunix {method} {path}"
        if status in (418, 429):
            seconds = RestGate.DEFAULT_RETRY_AFTER_S
            if retry_after and retry_after.isdigit():
                seconds = int(retry_after)
            self.gate.close(self.clock() + seconds * 1000, status, f"{where}: HTTP {status}")
            raise errors.RateLimited(f"{where}: HTTP {status}", self.gate.closed_until())
        if status >= 500:
            raise errors.VenueUnavailable(f"{where}: HTTP {status}")
        try:
            payload = json.loads(raw)
        except ValueError:
            raise errors.BadResponse(f"{where}: HTTP {status}, not JSON") from None
        code = payload.get("code") if isinstance(payload, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            raise errors.BadResponse(f"{where}: HTTP {status}, no integer code in the body")
        if code != OK:
            msg = payload.get("msg")
            raise error_for(code, str(msg)[:200] if msg is not None else "", gate=self.gate, clock=self.clock)
        if status != 200:
            raise errors.BadResponse(f"{where}: HTTP {status} with code 0")
        if "data" not in payload:
            raise errors.BadResponse(f"{where}: no data in the body")
        return payload["data"]

    def _note_date(self, value: str | None) -> None:
        if not value:
            return
        try:
            self.last_date_ms = int(email.utils.parsedate_to_datetime(value).timestamp() * 1000)
        except (TypeError, ValueError):
            return
