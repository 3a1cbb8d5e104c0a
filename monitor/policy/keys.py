"""Subject keys: stable names for what an alert is about.

A key must be the same after a restart (the outbox folds repeats by key, the store indexes episodes by
it), so it is built only from configuration labels and exchange identities, never from times or ids.
Account labels are unique across venues (the config refuses duplicates), so keys do not repeat the
venue, except where the subject is the venue's own stream. Symbols contain ``:`` (``BTC/USDT:USDT``):
keys are names, not something to split.
"""

from __future__ import annotations


def position_risk(account: str, symbol: str, position_side: str) -> str:
    return f"risk:{account}:{symbol}:{position_side}"


def account_risk(account: str) -> str:
    return f"risk:{account}:cross"


def deviation(account: str, symbol: str, position_side: str) -> str:
    return f"deviation:{account}:{symbol}:{position_side}"


def position_subjects(account: str, symbol: str, position_side: str) -> tuple[str, str]:
    """``(position_risk, deviation)`` keys of one position. Equal arguments give equal keys however
    they are spelled: ``PositionSide.BOTH`` and ``"both"`` are the same key."""
    side = str(position_side)
    return position_risk(account, symbol, side), deviation(account, symbol, side)


def position(account: str, symbol: str, position_side: str) -> str:
    return f"position:{account}:{symbol}:{position_side}"


def stream_stale(stream: str) -> str:
    return f"stale:{stream}"


def mark_stale(venue: str, symbol: str) -> str:
    return f"stale:{venue}:mark:{symbol}"


def liquidation(account: str, symbol: str, position_side: str) -> str:
    return f"liquidation:{account}:{symbol}:{position_side}"


def adl(account: str, symbol: str, position_side: str) -> str:
    return f"adl:{account}:{symbol}:{position_side}"


def margin_call(account: str) -> str:
    return f"margin_call:{account}"


def ban(venue: str) -> str:
    return f"ban:{venue}"
