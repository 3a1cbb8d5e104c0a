"""Risk and deviation subjects of one account.

Subjects, for an ``AccountRisk``:

- each position, ``risk:<account>:<symbol>:<position_side>``: an isolated position by its own margin
  ratio and distance to liquidation; a cross position by the account's cross ratio (which is what
  liquidates it) and its own distance;
- the cross pool, ``risk:<account>:cross``, by the cross ratio, with the positions that carry most of
  its maintenance requirement in the facts (what to cut first);
- each position whose liquidation price we can compare with the exchange's,
  ``deviation:<account>:<symbol>:<position_side>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from monitor.alerts import AlertKind, Level
from monitor.model import AccountRisk, MarginMode, PositionRisk, Venue
from monitor.policy import keys
from monitor.policy.facts import cross_facts, deviation_facts, judged_ratio, position_facts
from monitor.policy.levels import deviation_level, distance_level, leaves_ok, ratio_level
from monitor.policy.settings import LevelThresholds
from monitor.policy.state import Subject
from monitor.policy.work import Work


def step_account_risk(w: Work, risk: AccountRisk, positions: Iterable[PositionRisk]) -> None:
    """The cross pool, then ``positions``: all of the account's, or those ``screen_positions``
    found worth a look (each subject returns early when it has nothing to say). The thresholds are
    looked up once per account when no symbol overrides them."""
    _cross_account(w, risk)
    account = risk.account
    config = w.config
    shared = config.account_wide_thresholds(account)
    for p in positions:
        risk_key, deviation_key = keys.position_subjects(account, p.symbol, p.position_side)
        _position(w, risk, p, risk_key, shared or config.thresholds_for(account, p.symbol))
        _deviation(w, risk, p, deviation_key)


def _cross_account(w: Work, risk: AccountRisk) -> None:
    key = keys.account_risk(risk.account)
    track = w.track(key)
    cross = risk.cross
    if cross is None:
        if track is not None:
            w.close(key, AlertKind.RISK, {"reason": "no_cross_positions"})
        return
    thr = w.config.thresholds_for(risk.account, None)
    current = Level.OK if track is None else track.level
    candidate = ratio_level(cross.margin_ratio, current, thr)
    if track is None and candidate == Level.OK:
        return
    facts = partial(cross_facts, risk, thr, w.config.top_positions)
    subject = _cross_subject(risk.venue, risk.account)
    w.step(key, track, AlertKind.RISK, candidate, thr.confirm_ticks, subject, facts, source=w.evaluation)


def _cross_subject(venue: Venue, account: str) -> Subject:
    return Subject(venue=venue.value, account=account, margin_mode=MarginMode.CROSS.value)


def _position(
    w: Work,
    risk: AccountRisk,
    p: PositionRisk,
    key: str,
    thr: LevelThresholds,
) -> None:
    """A calm position without an episode stops at ``leaves_ok``. The facts are a partial over
    immutable values (they may be kept unbuilt in the state, see ``LazyFacts``)."""
    track = w.track(key)
    ratio = judged_ratio(p.margin_ratio, p.margin_mode, w.config)
    if track is None and not leaves_ok(ratio, p.distance_pct, thr):
        return
    current = Level.OK if track is None else track.level
    by_ratio = ratio_level(ratio, current, thr)
    by_distance = distance_level(p.distance_pct, current, thr)
    candidate = max(by_ratio, by_distance)
    if track is None and candidate == Level.OK:
        return
    facts = partial(position_facts, p, thr, by_ratio, by_distance)
    w.step(
        key,
        track,
        AlertKind.RISK,
        candidate,
        thr.confirm_ticks,
        position_subject(risk, p),
        facts,
        source=w.evaluation,
    )


def position_subject(risk: AccountRisk, p: PositionRisk) -> Subject:
    return Subject(
        venue=risk.venue.value,
        account=risk.account,
        symbol=p.symbol,
        position_side=p.position_side.value,
        margin_mode=p.margin_mode.value,
        side=p.side.value,
    )


def _deviation(w: Work, risk: AccountRisk, p: PositionRisk, key: str) -> None:
    track = w.track(key)
    if track is None and p.deviation_pct is None:
        return
    cfg = w.config.deviation
    current = Level.OK if track is None else track.level
    candidate = deviation_level(p.deviation_pct, current, cfg)
    if track is None and candidate == Level.OK:
        return
    facts = partial(deviation_facts, p, cfg)
    w.step(
        key,
        track,
        AlertKind.DEVIATION,
        candidate,
        cfg.confirm_ticks,
        position_subject(risk, p),
        facts,
        source=w.evaluation,
    )
