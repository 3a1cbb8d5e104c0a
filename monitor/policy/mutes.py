"""Mutes: silence a subject below critical for a while, without forgetting it.

A muted subject's episodes keep being tracked exactly as if alerts were sent (levels, repeat clocks),
so unmuting resumes the normal schedule instead of replaying what happened meanwhile. Critical is never
muted, nor the alert that leaves critical: a person who saw the critical alert should see it end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from monitor.policy.state import MuteScope, PolicyState


def mute(state: PolicyState, account: str | None, symbol: str | None, until_ms: int) -> PolicyState:
    """Mute ``(account, symbol)`` until ``until_ms``; ``None`` matches any account / any symbol.
    Muting a scope again replaces its end time."""
    mutes = dict(state.mutes)
    mutes[(account, symbol)] = until_ms
    return replace(state, mutes=mutes)


def unmute(state: PolicyState, account: str | None, symbol: str | None) -> PolicyState:
    """Remove the mute of exactly this scope (a wildcard mute is lifted by unmuting the wildcard)."""
    if (account, symbol) not in state.mutes:
        return state
    mutes = dict(state.mutes)
    del mutes[(account, symbol)]
    return replace(state, mutes=mutes)


def unmute_all(state: PolicyState) -> PolicyState:
    return replace(state, mutes={}) if state.mutes else state


def is_muted(mutes: Mapping[MuteScope, int], account: str | None, symbol: str | None, now_ms: int) -> bool:
    """Whether a subject of ``account`` / ``symbol`` is muted at ``now_ms``. At most four lookups,
    whatever the number of mutes: this runs for every alert."""
    if not mutes:
        return False
    for scope in ((account, symbol), (account, None), (None, symbol), (None, None)):
        until = mutes.get(scope)
        if until is not None and until > now_ms:
            return True
    return False


def prune_mutes(state: PolicyState, now_ms: int) -> PolicyState:
    """Drop mutes that have ended (housekeeping for the timer; expired mutes are already ignored)."""
    if all(until > now_ms for until in state.mutes.values()):
        return state
    return replace(state, mutes={k: v for k, v in state.mutes.items() if v > now_ms})
