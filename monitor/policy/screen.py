"""A first look at an account's positions, once per tick, before anything is said about them.

On an all-market tick every account is ticked, and nearly every position is calm, has no track and no
deviation to compare, and is one the state already knows. One pass over the positions finds out both
things at once: whether they are exactly the known ones (then lifecycle has no news) and which of
them could have something to say. The others are not looked at again this tick: for them the risk
and deviation subjects would find no track and stay at OK, so skipping them changes nothing.

When the positions come from a batch evaluation (``RiskRows`` with a ``RiskArrays``), the same questions
are asked of every row of every account at once: the thresholds per row are kept per batch
``RowLabels`` (they change only with it or with the config), one vectorised pass finds the rows that
could leave OK or whose episodes would not hold their level (``monitor.policy.levels_batch``), and
whether an account's positions are the known ones is kept per account part of the layout for as
long as neither its positions nor the known ones change; all of it in the policy's
``ScreenCache`` (``monitor.policy.screen_cache``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from monitor.margin.rows import RiskArrays, RiskRows, RowLabels, position_columns
from monitor.model import AccountRisk, MarginMode, PositionRisk, PositionSide, Side
from monitor.policy import levels_batch
from monitor.policy.levels import LIQUIDATION_RATIO
from monitor.policy.screen_cache import ScreenCache
from monitor.policy.settings import PolicyConfig
from monitor.policy.state import KnownPosition, PolicyState, PositionKey
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
        ratio = cols.margin_ratio[k] if cross_by_account or margin_mode is not MarginMode.CROSS else None
        distance = cols.distance_pct[k]
        if (
            symbol in with_tracks
            or cols.deviation_pct[k] is not None
            # ``leaves_ok(ratio, distance, thr)``, written out (the call was a visible share of it)
            or (ratio is not None and ratio >= min(thr.ratio_warn, LIQUIDATION_RATIO))
            or (distance is not None and distance <= thr.distance_warn_pct)
        ):
            worth.append(positions[k])
    return worth


def _screen_sheet(w: Work, risk: AccountRisk, rows: RiskRows, sheet: RiskArrays) -> list[PositionRisk] | None:
    """``screen_positions`` for rows of a batch: the same answer, from the step's ``ScreenCache`` and one
    vectorised pass per batch and step (``monitor.policy.levels_batch``), which also leaves out the rows
    whose episodes hold their level.

    That pass sees the episodes as they are when the step screens its first account of the batch;
    an account's episodes change only when the account itself is judged, so the answer holds for
    every account the step has not judged yet. An account judged twice in one step (only a test does
    that) has all its rows evaluated the second time: always correct, merely slower."""
    layout = sheet.layout
    k = layout.index[risk.account]
    if not _known(w.cache, layout, k, w.known_positions(risk.account)):
        return None
    seen = w.sheets.get(id(sheet))
    if seen is None or seen[0] is not sheet:
        seen = w.sheets[id(sheet)] = (sheet, _rows_with_news(w, sheet), set())
    if k in seen[2]:
        return list(rows)
    seen[2].add(k)
    start = layout.starts[k]
    return [rows[i - start] for i in seen[1][k]]


def _known(
    cache: ScreenCache, layout: RowLabels, k: int, known: Mapping[PositionKey, KnownPosition] | None
) -> bool:
    """``_are_known`` for account ``k``'s rows of a batch, kept in ``cache`` with the account's part
    of the layout per known mapping: the state replaces it, never mutates it."""
    if known is None:
        return False
    part = layout.parts[k]
    entry = cache.part(part)
    hit = entry.known
    if hit is not None and hit[0] is known:
        return hit[1]
    same = _are_known(known, part.symbols, part.position_sides, part.sides, part.modes)
    entry.known = (known, same)
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


def prepare_layout(cache: ScreenCache, layout: RowLabels, state: PolicyState, config: PolicyConfig) -> None:
    """Fill now what the next tick on ``layout`` would otherwise fill inside its decision: the
    thresholds of its rows (those of an unchanged account are kept with its part), their keys, and
    ``state``'s episodes on them. The first two are made once per layout; the episodes again after
    any step that changed the tracks (an alert, a repeat, a confirmation counting), which the tick
    after an alert would otherwise pay for. Optional: the screen fills whatever is missing itself,
    and what is already there costs two lookups."""
    levels_batch.tables(cache, layout, config)
    levels_batch.tracked(cache, layout, state.tracks, config.repeat, keep=True)


def _rows_with_news(w: Work, sheet: RiskArrays) -> list[list[int]]:
    """Per account, the rows (batch indices, ascending) that could say or change anything."""
    layout, config = sheet.layout, w.config
    current = w.current_tracks()
    episodes = levels_batch.tracked(w.cache, layout, current, config.repeat, keep=current is w.state.tracks)
    mask = levels_batch.rows_to_evaluate(
        levels_batch.tables(w.cache, layout, config),
        episodes,
        config,
        w.now_ms,
        sheet.margin_ratio,
        sheet.distance_pct,
        sheet.deviation_pct,
        sheet.deviated,
    )
    rows = np.flatnonzero(mask)
    # where each account's rows begin among them: one search rather than a walk over the accounts
    cuts = np.searchsorted(rows, layout.starts).tolist()
    picked = rows.tolist()
    return [picked[cuts[k] : cuts[k + 1]] for k in range(len(cuts) - 1)]
