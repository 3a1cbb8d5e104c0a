"""A first look at an account's positions, once per tick, before anything is said about them.

On an all-market tick every account is ticked, and nearly every position is calm, has no track and no
deviation to compare, and is one the state already knows. One pass over the positions finds out both
things at once: whether they are exactly the known ones (then lifecycle has no news) and which of
them could have something to say. The others are not looked at again this tick: for them the risk
and deviation subjects would find no track and stay at OK, so skipping them changes nothing.
"""

from __future__ import annotations

from monitor.model import AccountRisk, PositionRisk, position_columns
from monitor.policy.hot import CROSS
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
    account = risk.account
    positions = risk.positions
    known = w.known_positions(account)
    if known is None or len(known) != len(positions):
        return None
    config = w.config
    shared = config.account_wide_thresholds(account)
    cross_by_account = config.cross_positions_use_account_ratio
    with_tracks = w.symbols_with_tracks(account)
    worth: list[PositionRisk] = []
    # the screened fields as columns: the batch evaluator's rows are built only where read
    cols = position_columns(positions)
    for k, ((symbol, position_side), was, p_symbol, p_side, p_position_side, margin_mode) in enumerate(
        zip(known, known.values(), cols.symbol, cols.side, cols.position_side, cols.margin_mode, strict=True)
    ):
        if (
            p_symbol != symbol
            or p_position_side is not position_side
            or p_side is not was.side
            or margin_mode is not was.margin_mode
        ):
            return None
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
