"""The REST gate: when a 418/429 lets requests go again, and that a ban is heard once."""

from __future__ import annotations

from monitor.venues.base import Ban, RestGate
from monitor.venues.ccxt_client import ban_until_ms

BODY = '{"code":-1003,"msg":"Way too many requests; IP(1.2.3.4) banned until 1659146260000."}'


def test_retry_after_or_the_banned_until_time_whichever_is_later() -> None:
    assert ban_until_ms(1_000, {"Retry-After": "30"}, None) == 31_000
    assert ban_until_ms(1_000, {"retry-after": "2"}, '{"code":-1003}') == 3_000
    assert ban_until_ms(1_659_146_000_000, {"Retry-After": "30"}, BODY) == 1_659_146_260_000
    assert ban_until_ms(1_659_146_250_000, {"Retry-After": "30"}, BODY) == 1_659_146_280_000
    assert ban_until_ms(1_000, {}, "") == 1_000 + RestGate.DEFAULT_RETRY_AFTER_S * 1000
    assert ban_until_ms(1_000, {"Retry-After": "soon"}, None) == 1_000 + 60_000


def test_a_ban_is_heard_once_and_the_gate_opens_when_it_ends() -> None:
    now = [0]
    heard: list[Ban] = []
    gate = RestGate(lambda: now[0], on_ban=heard.append)
    assert gate.closed_until() is None
    gate.close(30_000, 418, "banned")
    gate.close(40_000, 418, "still banned")  # extended, not a new ban
    assert [b.until_ms for b in heard] == [30_000] and gate.closed_until() == 40_000
    assert gate.remaining_s() == 40.0
    now[0] = 40_000
    assert gate.closed_until() is None and gate.remaining_s() == 0.0
    gate.close(45_000, 429, "limited")
    assert [(b.until_ms, b.status) for b in heard] == [(30_000, 418), (45_000, 429)]
    gate.close(now[0] - 1, 429, "already over")  # a time in the past closes nothing
    assert len(heard) == 2
