"""Risk of many accounts at once: the Binance closed forms over columns.

Why: an all-market mark frame moves every symbol each second, so every watched account is revalued on
every frame. Position by position in Python that is some 5 µs a leg, 5 ms for 1,000 legs, most of the
latency budget. Here the same numbers are computed column by column with numpy, and only the rare legs
the columns cannot settle are handed to the scalar code in :mod:`monitor.margin.rules`.

What the columns settle, per leg: notional, tier at the mark, requirement, PnL; per account: the cross
pool; per *single-leg* liquidation (an isolated position, or a cross symbol held by one leg) the closed
form with the tier at the mark, accepted when that tier is also the tier at the result (the first round
of ``TieredClosedForm._single_leg``), and "no price liquidates it" when the closed form gives no
positive price and the balance has one sign over the whole price range. Everything else (a hedge-mode
symbol with two cross legs, a tier that moves on the way to liquidation, a root the segment scan must
find) goes to the scalar functions, fed with the same sums.

Every operation is written in the order the scalar path (``monitor.margin.account.evaluate_account``)
performs it, and numpy's elementwise float64 arithmetic and ``bincount`` accumulation are IEEE operations
in that same order, so the results are not close to the scalar ones but equal to them; the tests compare
with ``==``. Only Binance rules (USD-M, COIN-M) without Multi-Assets collateral are compiled; callers
check :func:`batchable` and keep the scalar path for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from monitor.margin.account import deviation_pct
from monitor.margin.rules import FIXED_POINT_ROUNDS, BinanceCoinm, BinanceUsdm, rules_for
from monitor.margin.solver import PRICE_FLOOR
from monitor.model import Account, AccountRisk, CrossRisk, MarginMode, PositionRisk, Tier

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

_COMPILED_RULES = (BinanceUsdm, BinanceCoinm)


def batchable(account: Account) -> bool:
    """Whether the columns compute this account exactly as ``evaluate_account`` does."""
    return not account.collateral and type(rules_for(account.venue)) in _COMPILED_RULES


@dataclass(frozen=True, slots=True)
class _TierRows:
    """One tier table as rows of a matrix: floors (then ``inf``), rates and deductions."""

    floors: Floats
    mmr: Floats
    cum: Floats


_ROWS: dict[int, tuple[tuple[Tier, ...], _TierRows]] = {}


def _tier_rows(tiers: tuple[Tier, ...]) -> _TierRows:
    # Keyed by identity with the table kept alive in the entry (the engine interns equal tables).
    entry = _ROWS.get(id(tiers))
    if entry is not None and entry[0] is tiers:
        return entry[1]
    rows = _TierRows(
        np.array([t.floor for t in tiers], dtype=np.float64),
        np.array([t.mmr for t in tiers], dtype=np.float64),
        np.array([t.cum for t in tiers], dtype=np.float64),
    )
    if len(_ROWS) > 4096:
        _ROWS.clear()
    _ROWS[id(tiers)] = (tiers, rows)
    return rows


class AccountColumns:
    """One account compiled: a row per position, built once per change of the account (not per tick)."""

    __slots__ = ("account", "cross", "cum", "entry", "floors", "inverse", "iso_wallet", "mmr", "q", "s")

    def __init__(self, account: Account) -> None:
        if not batchable(account):
            raise ValueError(f"account {account.name!r} cannot be compiled into columns")
        ps = account.positions
        self.account = account
        self.q = np.array([p.contracts * p.contract_size for p in ps], dtype=np.float64)
        self.s = np.array([1.0 if p.side == "long" else -1.0 for p in ps], dtype=np.float64)
        self.entry = np.array([p.entry_price for p in ps], dtype=np.float64)
        self.inverse = np.array([p.inverse for p in ps], dtype=np.bool_)
        self.cross = np.array([p.margin_mode is MarginMode.CROSS for p in ps], dtype=np.bool_)
        self.iso_wallet = np.array([p.isolated_wallet or 0.0 for p in ps], dtype=np.float64)
        width = max((len(p.tiers) for p in ps), default=1)
        self.floors = np.full((len(ps), width), np.inf)
        self.mmr = np.zeros((len(ps), width))
        self.cum = np.zeros((len(ps), width))
        for row, p in enumerate(ps):
            t = _tier_rows(p.tiers)
            k = len(t.floors)
            self.floors[row, :k] = t.floors
            self.mmr[row, :k] = t.mmr
            self.cum[row, :k] = t.cum


class Batch:
    """Several accounts' columns end to end; immutable, rebuilt (cheaply, from the cached per-account
    columns) when one of them changes."""

    def __init__(self, columns: Sequence[AccountColumns]) -> None:
        self.accounts = tuple(c.account for c in columns)
        self.positions = [p for c in columns for p in c.account.positions]
        n = len(self.positions)
        self.symbols = [p.symbol for p in self.positions]
        self.stored_marks = [p.mark_price for p in self.positions]
        sizes = [len(c.account.positions) for c in columns]
        self.starts = np.cumsum([0, *sizes]).tolist()
        self.account_of: Ints = np.repeat(np.arange(len(columns), dtype=np.intp), sizes)
        self.q = _join([c.q for c in columns])
        self.s = _join([c.s for c in columns])
        self.entry = _join([c.entry for c in columns])
        self.inverse: Bools = np.concatenate([c.inverse for c in columns]) if columns else np.zeros(0, bool)
        self.cross: Bools = np.concatenate([c.cross for c in columns]) if columns else np.zeros(0, bool)
        self.iso_wallet = _join([c.iso_wallet for c in columns])
        self.wallet = np.array([a.wallet_balance for a in self.accounts], dtype=np.float64)
        width = max((c.floors.shape[1] for c in columns), default=1)
        self.floors = _stack([c.floors for c in columns], width, np.inf)
        self.mmr = _stack([c.mmr for c in columns], width, 0.0)
        self.cum = _stack([c.cum for c in columns], width, 0.0)
        self.rows: Ints = np.arange(n, dtype=np.intp)
        self.has_cross: list[bool] = (
            np.bincount(self.account_of[self.cross], minlength=len(columns)) > 0
        ).tolist()
        # cross legs grouped by (account, symbol): a symbol held by two legs (hedge mode) has one
        # liquidation price for both and goes to the scalar closed form over legs
        groups: dict[tuple[int, str], list[int]] = {}
        for i in np.flatnonzero(self.cross).tolist():
            groups.setdefault((int(self.account_of[i]), self.symbols[i]), []).append(i)
        self.shared = [(a, idx) for (a, _), idx in groups.items() if len(idx) > 1]
        single = np.ones(n, dtype=np.bool_)
        for _, idx in self.shared:
            single[idx] = False
        self.single: Bools = single

    def evaluate(
        self, marks: Mapping[str, float] | None = None, which: Sequence[int] | None = None
    ) -> list[AccountRisk]:
        """``evaluate_account(account, marks)`` for the accounts at positions ``which`` (all when
        ``None``), in that order. The columns are computed for every leg: at this size a column costs
        less than choosing its rows."""
        mk = (
            self.stored_marks
            if not marks
            else [marks.get(s, m) for s, m in zip(self.symbols, self.stored_marks, strict=True)]
        )
        m = np.array(mk, dtype=np.float64)
        q, s, e, inv, cross = self.q, self.s, self.entry, self.inverse, self.cross
        a = self.account_of
        n_accounts = len(self.accounts)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = np.where(inv, q / m, q * m)
            at_mark = self._tier_index(value)
            req = value * self.mmr[self.rows, at_mark] - self.cum[self.rows, at_mark]
            pnl = np.where(inv, s * q * (1.0 / e - 1.0 / m), s * q * (m - e))
            cross_pnl = _per_account(a, np.where(cross, pnl, 0.0), n_accounts)
            cross_req = _per_account(a, np.where(cross, req, 0.0), n_accounts)
            equity = self.wallet + cross_pnl
            cross_ratio = _margin_ratio(cross_req, equity)
            base = np.where(
                cross, self.wallet[a] + (cross_pnl[a] - pnl) - (cross_req[a] - req), self.iso_wallet
            )
            lp, settled = self._single_leg(base, m, at_mark)
            ratio = np.where(cross, cross_ratio[a], _margin_ratio(req, self.iso_wallet + pnl))

        chosen = None if which is None else set(which)
        lps: list[float | None] = [None if x != x else x for x in lp.tolist()]  # NaN: no price
        pnls, reqs = pnl.tolist(), req.tolist()
        for i in np.flatnonzero(self.single & ~settled).tolist():
            if chosen is None or int(a[i]) in chosen:
                lps[i] = self._scalar_single(i, float(base[i]), mk[i])
        totals = list(zip(equity.tolist(), cross_req.tolist(), cross_ratio.tolist(), strict=True))
        sums = cross_pnl.tolist()
        for k, idx in self.shared:
            if chosen is None or k in chosen:
                price = self._scalar_shared(k, idx, pnls, reqs, sums[k], totals[k][1], mk[idx[0]])
                for i in idx:
                    lps[i] = price
        columns = (mk, value.tolist(), pnls, reqs, ratio.tolist(), lps)
        return [
            self._account_risk(k, columns, totals[k]) for k in (range(n_accounts) if which is None else which)
        ]

    # --- columns ------------------------------------------------------------------------------------
    def _tier_index(self, value: Floats) -> Ints:
        """``tier_index_extended`` per row: the count of floors at or below the value, less one (the
        top tier extends to infinity)."""
        idx: Ints = np.maximum((self.floors <= value[:, None]).sum(axis=1) - 1, 0)
        return idx

    def _single_leg(self, base: Floats, m: Floats, at_mark: Ints) -> tuple[Floats, Bools]:
        """``TieredClosedForm._single_leg`` for every leg at once, round for round: the closed form
        with the tier at the mark, then with the tier at the result, until the two agree. Returns the
        prices (NaN for "none") and which legs they settle; a leg whose root needs the segment scan is
        left unsettled for the scalar code."""
        q, s, e, inv, rows = self.q, self.s, self.entry, self.inverse, self.rows
        floor = m * PRICE_FLOOR
        out = np.full(len(q), np.nan)
        settled = np.zeros(len(q), dtype=np.bool_)
        active = np.ones(len(q), dtype=np.bool_)
        exhausted = np.zeros(len(q), dtype=np.bool_)  # no positive root this round: the sign test
        idx = at_mark
        for _ in range(FIXED_POINT_ROUNDS):
            mmr, cum = self.mmr[rows, idx], self.cum[rows, idx]
            den = np.where(inv, base + cum + s * q / e, q * mmr - s * q)
            num = np.where(inv, q * mmr + s * q, base + cum - s * q * e)
            lp = np.where(den != 0, num / den, 0.0)
            positive = lp > floor
            exhausted |= active & ~positive
            active &= positive
            at_lp = self._tier_index(np.where(inv, q / lp, q * lp))
            done = active & (at_lp == idx)
            out = np.where(done, lp, out)
            settled |= done
            active &= ~done
            if not active.any():
                break
            idx = np.where(active, at_lp, idx)
        exhausted |= active  # the rounds ran out
        # one leg's balance is monotone in its price: the same sign at both ends means no price at all
        lo = self._balance(base, floor)
        hi = self._balance(base, m / PRICE_FLOOR)
        settled |= exhausted & ((lo > 0) == (hi > 0))
        return out, settled

    def _balance(self, base: Floats, price: Floats) -> Floats:
        """``TieredClosedForm._balance``: equity minus requirement of each leg at ``price``."""
        q, s, e, inv = self.q, self.s, self.entry, self.inverse
        value = np.where(inv, q / price, q * price)
        idx = self._tier_index(value)
        mmr, cum = self.mmr[self.rows, idx], self.cum[self.rows, idx]
        pnl = np.where(inv, s * q * (1.0 / e - 1.0 / price), s * q * (price - e))
        out: Floats = base + pnl - (value * mmr - cum)
        return out

    # --- the scalar remainder -----------------------------------------------------------------------
    def _scalar_single(self, i: int, base: float, mark: float) -> float | None:
        account = self.accounts[int(self.account_of[i])]
        p = self.positions[i]
        rules = rules_for(account.venue)
        if p.margin_mode is MarginMode.CROSS:
            return rules.cross_liquidation_price((p,), base, account.taker_fee, mark)
        return rules.isolated_liquidation_price(p, account.taker_fee, mark)

    def _scalar_shared(
        self,
        acct_index: int,
        idx: list[int],
        pnl: list[float],
        req: list[float],
        cross_pnl: float,
        cross_req: float,
        mark: float,
    ) -> float | None:
        account = self.accounts[acct_index]
        own_pnl = sum(pnl[i] for i in idx)
        own_req = sum(req[i] for i in idx)
        base = account.wallet_balance + (cross_pnl - own_pnl) - (cross_req - own_req)
        legs = [self.positions[i] for i in idx]
        return rules_for(account.venue).cross_liquidation_price(legs, base, account.taker_fee, mark)

    def _account_risk(
        self,
        k: int,
        columns: tuple[list[float], list[float], list[float], list[float], list[float], list[float | None]],
        totals: tuple[float, float, float],
    ) -> AccountRisk:
        mk, value, pnl, req, ratio, lp = columns
        account = self.accounts[k]
        out = []
        for i in range(self.starts[k], self.starts[k + 1]):
            p = self.positions[i]
            mark, price = mk[i], lp[i]
            if price is None and ratio[i] >= 1.0:
                price = mark  # underwater: see evaluate_account
            exchange = p.exchange_liquidation_price
            out.append(
                PositionRisk(
                    p.symbol,
                    p.side,
                    p.position_side,
                    p.margin_mode,
                    value[i],
                    pnl[i],
                    req[i],
                    ratio[i],
                    price,
                    None if price is None else abs(mark - price) / mark * 100.0,
                    mark,
                    exchange or None,
                    deviation_pct(price, exchange) if exchange else None,
                    p.contracts,
                    p.isolated_wallet,
                )
            )
        cross = CrossRisk(*totals) if self.has_cross[k] else None
        return AccountRisk(account.venue, account.name, cross, tuple(out))


def _per_account(account_of: Ints, values: Floats, n_accounts: int) -> Floats:
    """Sum of each account's values, added in row order (as the scalar loop adds them; an isolated
    leg contributes ``0.0``, which leaves a sum unchanged)."""
    return np.asarray(np.bincount(account_of, weights=values, minlength=n_accounts), dtype=np.float64)


def _join(parts: list[Floats]) -> Floats:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)


def _stack(parts: list[Floats], width: int, pad: float) -> Floats:
    """Tier matrices of different widths, one under the other, padded on the right with ``pad``."""
    if not parts:
        return np.full((0, width), pad)
    return np.concatenate(
        [
            p if p.shape[1] == width else np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=pad)
            for p in parts
        ]
    )


def _margin_ratio(requirement: Floats, equity: Floats) -> Floats:
    """``monitor.margin.account.margin_ratio`` over columns."""
    out: Floats = np.where(
        equity <= 0,
        np.where((requirement > 0) | (equity < 0), np.inf, 0.0),
        requirement / np.where(equity <= 0, 1.0, equity),
    )
    return out


def evaluate_accounts(
    accounts: Sequence[Account], marks: Mapping[str, float] | None = None
) -> list[AccountRisk]:
    """``[evaluate_account(a, marks) for a in accounts]`` for batchable accounts, in one pass."""
    return Batch([AccountColumns(a) for a in accounts]).evaluate(marks)
