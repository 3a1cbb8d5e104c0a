"""A first look at an account's positions, once per tick, before anything is said about them.

On an all-market tick every account is ticked, and nearly every position is calm, has no track and no
deviation to compare, and is one the state already knows. One pass over the positions finds out both
things at once: whether they are exactly the known ones (then lifecycle has no news) and which of
them could have something to say. The others are not looked at again this tick: for them the risk
and deviation subjects would find no track and stay at OK, so skipping them changes nothing.

When the positions come from a batch evaluation (``RiskRows`` with a ``Sheet``), the same questions
are asked of every row of every account at once: the thresholds per row are kept with the batch's
``Layout`` (they change only with it or with the config), one vectorised comparison finds the rows
that could leave OK, and whether an account's positions are the known ones is remembered per
account for as long as neither its layout nor its known positions change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from monitor.model import (
    AccountRisk,
    Layout,
    MarginMode,
    PositionRisk,
    PositionSide,
    RiskRows,
    Sheet,
    Side,
    position_columns,
)
from monitor.policy import keys
from monitor.policy.config import PolicyConfig
from monitor.policy.episodes import holds
from monitor.policy.facts import judged_ratio
from monitor.policy.hot import CROSS
from monitor.policy.levels import deviation_level, distance_level, ratio_level
from monitor.policy.state import KnownPosition, PositionKey
from monitor.policy.work import Work


def screen_positions(w: Work, risk: AccountRisk) -> list[PositionRisk] | None:
    """The positions of ``risk`` worth evaluating, in order: those whose symbol has a track in this
    account, that would leave OK, or that have a deviation to compare. ``None`` when the positions
    are not exactly the ones the state knows, with the same sides and margin modes in the order
    they were recorded: then lifecycle must look, and every position is evaluated.

    Why the positions must be the known ones: skipping a position is safe only if no other position
    of the account shares its subject keys (evaluating that one first could open an episode this one
    must then see), and the known positions, a mapping by key, guarantee that. They are compared in
    the order recorded, which spares building and hashing a key per position; a reordering (or an
    enum spelled as its string) therefore counts as a change, and lifecycle, comparing as mappings,
    finds nothing to say.
    """
    positions = risk.positions
    if isinstance(positions, RiskRows) and positions.sheet is not None:
        return _screen_sheet(w, risk, positions, positions.sheet)
    account = risk.account
    # the screened fields as columns: the batch evaluator's rows are built only where read
    cols = position_columns(positions)
    known = w.known_positions(account)
    if not _are_known(known, cols.symbol, cols.position_side, cols.side, cols.margin_mode):
        return None
    config = w.config
    shared = config.account_wide_thresholds(account)
    cross_by_account = config.cross_positions_use_account_ratio
    with_tracks = w.symbols_with_tracks(account)
    worth: list[PositionRisk] = []
    for k, (symbol, margin_mode) in enumerate(zip(cols.symbol, cols.margin_mode, strict=True)):
        # the thresholds and ratio ``risk._position`` judges the position by
        thr = shared or config.thresholds_for(account, symbol)
        ratio = cols.margin_ratio[k] if cross_by_account or margin_mode is not CROSS else None
        distance = cols.distance_pct[k]
        if (
            symbol in with_tracks
            or cols.deviation_pct[k] is not None
            # ``leaves_ok(ratio, distance, thr)``, written out: the call cost a tenth of the screen
            or (ratio is not None and ratio >= thr.ratio_warn)
            or (distance is not None and distance <= thr.distance_warn_pct)
        ):
            worth.append(positions[k])
    return worth


def _screen_sheet(w: Work, risk: AccountRisk, rows: RiskRows, sheet: Sheet) -> list[PositionRisk] | None:
    """``screen_positions`` for rows of a batch: the same answer, from per-layout memos and one
    vectorised pass per batch and step."""
    layout = sheet.layout
    k = layout.index[risk.account]
    start = layout.starts[k]
    if not _known(layout, k, w.known_positions(risk.account)):
        return None
    seen = w.sheets.get(id(sheet))
    if seen is None or seen[0] is not sheet:
        seen = w.sheets[id(sheet)] = (sheet, _hot_rows(sheet, w.config))
    local = seen[1][k]
    with_tracks = w.symbols_with_tracks(risk.account)
    if with_tracks:
        by_symbol = _rows_by_symbol(layout)[k]
        tracked = [i for symbol in with_tracks for i in by_symbol.get(symbol, ())]
        if tracked:
            hot = set(local)
            local = [i for i in sorted({*local, *tracked}) if _has_news(w, sheet, risk.account, i, i in hot)]
    return [rows[i - start] for i in local]


def _has_news(w: Work, sheet: Sheet, account: str, i: int, hot: bool) -> bool:
    """Whether row ``i`` (of a symbol with a track) could say or change anything. An open episode
    that holds its level is left as it is (``Work.step``), so its row need not even be built: most
    rows with an episode are such rows, on most ticks. Without a track of its own a row is worth a
    look when it is hot (it could open one)."""
    layout = sheet.layout
    symbol = layout.symbols[i]
    risk_key, deviation_key = keys.position_subjects(account, symbol, layout.position_sides[i])
    track = w.track(risk_key)
    dev_track = w.track(deviation_key)
    if track is None and dev_track is None:
        return hot
    config = w.config
    if track is None:
        if hot:
            return True
    else:
        # the level ``risk._position`` would find, from the batch's arrays
        thr = config.account_wide_thresholds(account) or config.thresholds_for(account, symbol)
        ratio = judged_ratio(sheet.margin_ratio.item(i), layout.modes[i], config)
        distance: float | None = sheet.distance_pct.item(i)
        if distance != distance:
            distance = None
        level = track.level
        candidate = max(ratio_level(ratio, level, thr), distance_level(distance, level, thr))
        if not holds(track, candidate, w.now_ms, config.repeat):
            return True
    deviation = sheet.deviation_pct[i]
    if dev_track is None:
        return deviation is not None
    candidate = deviation_level(deviation, dev_track.level, config.deviation)
    return not holds(dev_track, candidate, w.now_ms, config.repeat)


def _known(layout: Layout, k: int, known: Mapping[PositionKey, KnownPosition] | None) -> bool:
    """``_are_known`` for account ``k``'s rows of a batch, remembered per known mapping: the state
    replaces it, never mutates it."""
    if known is None:
        return False
    memo: dict[int, tuple[Mapping[PositionKey, KnownPosition], bool]] = layout.memo.setdefault("known", {})
    hit = memo.get(k)
    if hit is not None and hit[0] is known:
        return hit[1]
    a, b = layout.starts[k], layout.starts[k + 1]
    same = _are_known(
        known, layout.symbols[a:b], layout.position_sides[a:b], layout.sides[a:b], layout.modes[a:b]
    )
    memo[k] = (known, same)
    return same


def _are_known(
    known: Mapping[PositionKey, KnownPosition] | None,
    symbols: Sequence[str],
    position_sides: Sequence[PositionSide],
    sides: Sequence[Side],
    modes: Sequence[MarginMode],
) -> bool:
    """Whether the positions (as columns) are exactly ``known``, in its order, with the same sides
    and margin modes (see ``screen_positions`` for why the order)."""
    return (
        known is not None
        and len(known) == len(symbols)
        and all(
            symbol == p_symbol
            and position_side is p_position_side
            and was.side is p_side
            and was.margin_mode is margin_mode
            for ((symbol, position_side), was), p_symbol, p_position_side, p_side, margin_mode in zip(
                known.items(), symbols, position_sides, sides, modes, strict=True
            )
        )
    )


def _hot_rows(sheet: Sheet, config: PolicyConfig) -> list[list[int]]:
    """Per account, the rows (batch indices, ascending) that could leave OK or have a deviation."""
    ratio_warn, distance_warn = _warn_thresholds(sheet.layout, config)
    hot = (sheet.margin_ratio >= ratio_warn) | (sheet.distance_pct <= distance_warn)
    hot[list(sheet.deviated)] = True
    starts = sheet.layout.starts
    out: list[list[int]] = [[] for _ in range(len(starts) - 1)]
    k = 0
    for i in np.flatnonzero(hot).tolist():
        while i >= starts[k + 1]:
            k += 1
        out[k].append(i)
    return out


Floats = npt.NDArray[np.float64]


def _warn_thresholds(layout: Layout, config: PolicyConfig) -> tuple[Floats, Floats]:
    """Per row, the ratio at and the distance under which ``risk._position`` leaves OK; a ratio of
    NaN where the position is not judged by ratio (a cross position, unless the config says to
    judge it by the account's). Kept per layout for the config it was made for.

    A row not judged by ratio gets NaN, which no ratio reaches (``inf`` would reach ``inf``, the
    ratio of an account with no equity left)."""
    hit = layout.memo.get("warn")
    if hit is not None and hit[0] is config:
        thresholds: tuple[Floats, Floats] = hit[1]
        return thresholds
    ratio_warn = np.empty(len(layout.symbols))
    distance_warn = np.empty(len(layout.symbols))
    cross_by_account = config.cross_positions_use_account_ratio
    for k, account in enumerate(layout.accounts):
        shared = config.account_wide_thresholds(account)
        for i in range(layout.starts[k], layout.starts[k + 1]):
            thr = shared or config.thresholds_for(account, layout.symbols[i])
            judged = cross_by_account or layout.modes[i] is not CROSS
            ratio_warn[i] = thr.ratio_warn if judged else np.nan
            distance_warn[i] = thr.distance_warn_pct
    thresholds = (ratio_warn, distance_warn)
    layout.memo["warn"] = (config, thresholds)
    return thresholds


def _rows_by_symbol(layout: Layout) -> list[dict[str, Sequence[int]]]:
    """Per account, each symbol's rows (batch indices), for the symbols that have tracks."""
    hit: list[dict[str, Sequence[int]]] | None = layout.memo.get("by_symbol")
    if hit is None:
        hit = []
        for k in range(len(layout.accounts)):
            rows: dict[str, list[int]] = {}
            for i in range(layout.starts[k], layout.starts[k + 1]):
                rows.setdefault(layout.symbols[i], []).append(i)
            hit.append(dict(rows))
        layout.memo["by_symbol"] = hit
    return hit
