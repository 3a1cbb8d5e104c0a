"""The SQLite outbox and the button tokens, without a network."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from telegram.error import RetryAfter, TimedOut

from monitor.alerts import Level, Transition
from monitor.daemon.store import open_db
from monitor.notify.outbox import NewPart, Outbox, Part, PendingBatch, alert_from_json, alert_to_json
from monitor.notify.pacing import Backoff, ChatPacer
from monitor.notify.pending_actions import PendingActions, Refusal, TokenKind
from monitor.notify.ports import ActionKind, ActionRequest
from monitor.notify.routing import LANE_CRITICAL, LANE_NORMAL
from monitor.notify.telegram import retry_after_seconds, surely_not_sent

from .conftest import make_alert

CHAT = 1

# PTB itself reads its deprecated ``RetryAfter.retry_after`` while building the exception.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


def _batch(outbox: Outbox) -> PendingBatch:
    c = outbox.next_candidate()
    assert isinstance(c, PendingBatch)
    return c


def test_alerts_round_trip_through_json() -> None:
    a = make_alert(level=Level.CRITICAL, transition=Transition.ESCALATED, previous_level=Level.DANGER)
    a2 = make_alert(facts={"margin_ratio": float("inf"), "top1_symbol": "X", "ok": True, "n": None})
    assert alert_from_json(alert_to_json(a)) == a
    assert alert_from_json(alert_to_json(a2)) == a2


def test_only_the_latest_repeat_of_a_key_survives(tmp_path: Path) -> None:
    ob = Outbox(open_db(tmp_path / "s.db"))
    ob.enqueue({CHAT: [make_alert("k", Level.WARN, Transition.OPENED)]})
    for _ in range(4):
        ob.enqueue({CHAT: [make_alert("k", Level.WARN, Transition.REPEATED)]})
    ob.enqueue({CHAT: [make_alert("other", Level.WARN, Transition.REPEATED)]})
    ob.enqueue({CHAT: [make_alert("k", Level.DANGER, Transition.ESCALATED, previous_level=Level.WARN)]})
    counts = ob.counts()
    # the four repeats of k: three folded by the next repeat, the fourth by the escalation
    assert counts["alerts.folded"] == 4
    assert counts["alerts.pending"] == 3  # opened k, repeated other, escalated k


def test_a_rendered_message_cannot_be_folded_but_a_released_one_can(tmp_path: Path) -> None:
    ob = Outbox(open_db(tmp_path / "s.db"))
    ob.enqueue({CHAT: [make_alert("k", transition=Transition.REPEATED)]})
    part = ob.materialize(_batch(ob), [NewPart("text")], silent=True)
    ob.enqueue({CHAT: [make_alert("k", transition=Transition.REPEATED)]})
    assert ob.counts().get("alerts.folded", 0) == 0
    ob.release(part, "connection refused")
    # the repeat that was out when the newer one came is folded by it on release, as enqueue would
    assert ob.counts()["alerts.folded"] == 1
    assert ob.pending_count() == 1
    ob.enqueue({CHAT: [make_alert("k", transition=Transition.REPEATED)]})
    assert ob.counts()["alerts.folded"] == 2
    assert ob.pending_count() == 1


def test_a_released_message_keeps_what_nothing_newer_supersedes(tmp_path: Path) -> None:
    """Only repeats are folded on release, only by a newer alert of their key in their chat."""
    ob = Outbox(open_db(tmp_path / "s.db"))
    ob.enqueue(
        {
            CHAT: [
                make_alert("k", transition=Transition.REPEATED),
                make_alert("j", transition=Transition.REPEATED),
                make_alert("o", Level.WARN, Transition.OPENED),
            ]
        }
    )
    part = ob.materialize(_batch(ob), [NewPart("text")], silent=True)
    ob.enqueue({2: [make_alert("k", transition=Transition.REPEATED)]})  # another chat
    ob.enqueue({CHAT: [make_alert("o", Level.DANGER, Transition.ESCALATED, previous_level=Level.WARN)]})
    ob.release(part, "connection refused")
    assert ob.counts().get("alerts.folded", 0) == 0


def test_order_is_lane_then_messages_under_way_then_newest(tmp_path: Path) -> None:
    ob = Outbox(open_db(tmp_path / "s.db"))
    b_warn_old = ob.enqueue({CHAT: [make_alert("a", Level.WARN)]})
    b_warn_new = ob.enqueue({CHAT: [make_alert("b", Level.WARN)]})
    b_crit = ob.enqueue({CHAT: [make_alert("c", Level.CRITICAL)]})
    b_other_chat = ob.enqueue({2: [make_alert("d", Level.CRITICAL)]})
    first = _batch(ob)
    assert (first.batch, first.lane) == (b_other_chat, LANE_CRITICAL)
    second = ob.next_candidate(exclude_chats={2})
    assert isinstance(second, PendingBatch) and second.batch == b_crit
    # a two-part warn message with its first part sent goes before any unrendered warn batch
    ob.materialize(second, [NewPart("c")], silent=False)
    c = ob.next_candidate(exclude_chats={2})
    assert isinstance(c, Part)
    ob.mark_sent(c.id, 1)
    newest = ob.next_candidate(exclude_chats={2})
    assert isinstance(newest, PendingBatch) and newest.batch == b_warn_new and newest.lane == LANE_NORMAL
    p0 = ob.materialize(newest, [NewPart("1"), NewPart("2")], silent=True)
    ob.mark_sent(p0.id, 2)
    ob.enqueue({CHAT: [make_alert("e", Level.WARN)]})
    nxt = ob.next_candidate(exclude_chats={2})
    assert isinstance(nxt, Part) and nxt.index == 1 and nxt.batch == b_warn_new
    ob.mark_sent(nxt.id, 3)
    ob.mark_sent(ob.materialize(_batch_excluding(ob, {2}), [NewPart("e")], silent=True).id, 4)
    last = ob.next_candidate(exclude_chats={2})
    assert isinstance(last, PendingBatch) and last.batch == b_warn_old


def _batch_excluding(ob: Outbox, chats: set[int]) -> PendingBatch:
    c = ob.next_candidate(exclude_chats=chats)
    assert isinstance(c, PendingBatch)
    return c


def test_a_partly_sent_or_uncertain_message_is_kept_on_release(tmp_path: Path) -> None:
    ob = Outbox(open_db(tmp_path / "s.db"))
    ob.enqueue({CHAT: [make_alert("k")]})
    p0 = ob.materialize(_batch(ob), [NewPart("1"), NewPart("2")], silent=True)
    ob.mark_uncertain(p0.id, "TimedOut")
    assert ob.release(p0, "refused") == ()
    again = ob.next_candidate()
    assert isinstance(again, Part) and again.uncertain and again.index == 0


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    ob = Outbox(open_db(path))
    ob.enqueue({CHAT: [make_alert("k")], 2: []})
    p = ob.materialize(_batch(ob), [NewPart("x")], silent=True, tokens=["t1"])
    ob.mark_sent(p.id, 7)
    ob.enqueue({CHAT: [make_alert("j")]})
    reopened = Outbox(open_db(path))
    c = reopened.next_candidate()
    assert isinstance(c, PendingBatch) and [a.key for a in c.alerts] == ["j"]
    assert reopened.counts()["parts.sent"] == 1


# --- tokens -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


REQ = ActionRequest("main", "BTC/USDT:USDT", "both", ActionKind.REDUCE, 0.25)


def test_tokens_are_short_single_use_and_bound_to_their_chat(tmp_path: Path) -> None:
    pa = PendingActions(open_db(tmp_path / "s.db"), clock_ms=Clock())
    token = pa.create(TokenKind.OFFER, CHAT, ttl_s=120, request=REQ, size_seen=0.5)
    assert len(f"p:{token}".encode()) <= 64 and len(token) == 16
    assert pa.consume(token, chat_id=2, user_id=9, kinds=[TokenKind.OFFER]) is Refusal.WRONG_CHAT
    assert pa.consume(token, chat_id=CHAT, user_id=9, kinds=[TokenKind.CONFIRM]) is Refusal.WRONG_KIND
    got = pa.consume(token, chat_id=CHAT, user_id=9, kinds=[TokenKind.OFFER])
    assert not isinstance(got, Refusal)
    assert got.request() == REQ and got.size_seen == 0.5
    assert pa.consume(token, chat_id=CHAT, user_id=9, kinds=[TokenKind.OFFER]) is Refusal.USED
    assert pa.consume("nope", chat_id=CHAT, user_id=9, kinds=[TokenKind.OFFER]) is Refusal.UNKNOWN


def test_tokens_expire_and_delivery_restarts_their_clock(tmp_path: Path) -> None:
    clock = Clock()
    pa = PendingActions(open_db(tmp_path / "s.db"), clock_ms=clock)
    a = pa.create(TokenKind.OFFER, CHAT, ttl_s=120, request=REQ)
    b = pa.create(TokenKind.OFFER, CHAT, ttl_s=120, request=REQ)
    clock.ms += 100_000
    pa.restart_clock([b])  # b's message was delivered only now
    clock.ms += 30_000
    assert pa.consume(a, chat_id=CHAT, user_id=1, kinds=[TokenKind.OFFER]) is Refusal.EXPIRED
    assert not isinstance(pa.consume(b, chat_id=CHAT, user_id=1, kinds=[TokenKind.OFFER]), Refusal)


def test_ack_tokens_carry_their_keys(tmp_path: Path) -> None:
    pa = PendingActions(open_db(tmp_path / "s.db"), clock_ms=Clock())
    t = pa.create(TokenKind.ACK, CHAT, ttl_s=60, keys=["risk:a", "risk:b"])
    got = pa.consume(t, chat_id=CHAT, user_id=1, kinds=[TokenKind.ACK])
    assert not isinstance(got, Refusal) and got.keys == ("risk:a", "risk:b")


# --- pacing -----------------------------------------------------------------------------------------


class Seconds:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_pacer_spaces_chats_groups_and_the_whole_bot() -> None:
    clock = Seconds()
    pacer = ChatPacer(1.0, group_interval_s=3.0, global_interval_s=0.1, clock=clock)
    pacer.reserve(1)
    pacer.reserve(-5)
    assert pacer.blocked() == {1: 101.0, -5: 103.0}
    assert pacer.global_wait() == pytest.approx(0.2)  # two sends reserved two global slots
    clock.t = 101.0
    assert set(pacer.blocked()) == {-5}
    pacer.block_for(1, 30)  # a 429 with retry_after=30
    assert pacer.ready_at(1) == 131.0
    pacer.block_for(1, 1)  # a shorter wait never shortens a longer one
    assert pacer.ready_at(1) == 131.0


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    b = Backoff(0.5, 4.0, jitter=0.0)
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next() == 0.5


def test_only_connect_and_pool_timeouts_count_as_surely_not_sent() -> None:
    def timed_out(cause: BaseException) -> TimedOut:
        exc = TimedOut()
        exc.__cause__ = cause
        return exc

    assert surely_not_sent(timed_out(httpx.ConnectTimeout("x")))
    assert surely_not_sent(timed_out(httpx.PoolTimeout("x")))
    assert not surely_not_sent(timed_out(httpx.ReadTimeout("x")))
    assert not surely_not_sent(timed_out(httpx.WriteTimeout("x")))
    assert retry_after_seconds(RetryAfter(7)) == 7.0
