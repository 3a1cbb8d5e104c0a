"""The simulator's dialects: chosen by venue name, each answering every neutral refusal."""

from __future__ import annotations

import pytest

from monitor.sim.dialects import DIALECTS
from monitor.sim.errors import from_rejection
from monitor.sim.exchange import SimExchange
from monitor.sim.rejections import Reason, Rejected


def test_an_unknown_venue_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown simulator venue 'nowhere'; choose one of binanceusdm"):
        SimExchange("small", dialect="nowhere")


def test_the_default_dialect_is_binance_usdm() -> None:
    assert SimExchange("small").dialect is DIALECTS["binanceusdm"]


@pytest.mark.parametrize("reason", list(Reason))
def test_every_refusal_has_a_binance_reply(reason: Reason) -> None:
    reply = from_rejection(Rejected(reason, "amount", limit=5.0))
    assert reply.code < 0
    assert reply.msg
    assert 400 <= reply.status < 600
