"""Scripted market scenarios: what the prices (and the connection) do, second by second.

A scenario is called once per tick with a ``TickContext``. It moves ``ctx.market`` (pure price moves)
and returns ``Action`` values for what it wants done to the wire: stall the mark feed, drop every
socket, send a hostile frame, expire a listen key. The exchange carries those out, so scenarios stay
pure, deterministic and testable without a server.

Names accepted by ``make_scenario`` (``monitor sim --scenario NAME``):

- ``calm``: a correlated random walk at normal volatility, forever.
- ``cascade``: from t=10 s a crash across every symbol (beta-weighted, so alts fall harder), accelerating
  for 30 s to -25 % on a beta-1 symbol, then a partial rebound.
- ``squeeze``: from t=10 s a short squeeze: +30 % (beta-weighted) in 15 s, then half of it fades.
- ``wick``: at t=10 s one tick 12 % below (beta-weighted) and back on the next tick.
- ``stall``: the mark feed stops at t=10 s for 20 sim seconds, then resumes (prices keep moving and the
  exchange keeps liquidating meanwhile: silence is not safety).
- ``disconnect``: every socket is dropped at t=10 s (``every=`` repeats it).
- ``malformed``: from t=5 s, one hostile frame per tick on the market streams, alongside the real ones
  (see ``hostile_frames``).
- ``demo``: the scripted two-minute run documented in ``Demo``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from monitor.sim.ledger import Ledger
from monitor.sim.market import Market

# ---- what a scenario can ask of the exchange ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class StallMarks:
    """Stop publishing mark prices for ``seconds`` sim seconds (REST and the ledger keep going)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class DropConnections:
    """Close every WebSocket; ``abrupt`` resets the TCP connection instead of a close handshake."""

    abrupt: bool = False


@dataclass(frozen=True, slots=True)
class SendRawMarket:
    """Send ``text`` as one frame to every market-stream connection."""

    text: str


@dataclass(frozen=True, slots=True)
class ExpireListenKey:
    """Expire the account's listen key: ``listenKeyExpired``, then silence on that stream."""

    account: str


@dataclass(frozen=True, slots=True)
class Note:
    """A timeline label for the console (``monitor sim`` prints it)."""

    text: str


Action = StallMarks | DropConnections | SendRawMarket | ExpireListenKey | Note


@dataclass(slots=True)
class TickContext:
    """One tick: ``sim_time`` is the time at the end of the tick, ``dt`` its length."""

    tick_index: int
    sim_time: float
    dt: float
    now_ms: int
    market: Market
    ledger: Ledger
    rng: random.Random

    def crossed(self, t: float) -> bool:
        """True on the one tick during which sim time passes ``t``."""
        return self.sim_time - self.dt < t <= self.sim_time


class Scenario:
    """The calm market: a correlated random walk at ``vol_scale`` times each symbol's volatility."""

    name = "calm"

    def __init__(self, *, vol_scale: float = 1.0, duration: float | None = None) -> None:
        self.vol_scale = vol_scale
        self.duration = duration

    def on_tick(self, ctx: TickContext) -> list[Action]:
        ctx.market.walk(ctx.dt, vol_scale=self.vol_scale)
        return []


class _PathScenario(Scenario):
    """A market-wide move along a cumulative log path ``path(t)`` on top of the walk."""

    def __init__(
        self, *, symbols: Sequence[str] | None = None, vol_scale: float = 1.0, duration: float | None = None
    ) -> None:
        super().__init__(vol_scale=vol_scale, duration=duration)
        self.symbols = tuple(symbols) if symbols else None

    def path(self, t: float) -> float:
        raise NotImplementedError

    def on_tick(self, ctx: TickContext) -> list[Action]:
        ctx.market.walk(ctx.dt, vol_scale=self.vol_scale)
        move = self.path(ctx.sim_time) - self.path(ctx.sim_time - ctx.dt)
        if move:
            ctx.market.shift(move, self.symbols)
        return []


class Cascade(_PathScenario):
    name = "cascade"

    def __init__(
        self,
        *,
        start: float = 10.0,
        length: float = 30.0,
        depth: float = 0.25,
        rebound: float = 0.3,
        rebound_length: float = 20.0,
        symbols: Sequence[str] | None = None,
        duration: float | None = None,
    ) -> None:
        if not 0 < depth < 1:
            raise ValueError(f"depth must be within (0, 1), got {depth}")
        super().__init__(symbols=symbols, vol_scale=1.5, duration=duration)
        self.start, self.length, self.depth = start, length, depth
        self.rebound, self.rebound_length = rebound, rebound_length

    def path(self, t: float) -> float:
        crash = math.log(1 - self.depth)
        if t <= self.start:
            return 0.0
        if t <= self.start + self.length:
            return crash * ((t - self.start) / self.length) ** 2
        back = min(1.0, (t - self.start - self.length) / self.rebound_length)
        return crash * (1 - self.rebound * back)


class Squeeze(_PathScenario):
    name = "squeeze"

    def __init__(
        self,
        *,
        start: float = 10.0,
        length: float = 15.0,
        height: float = 0.3,
        fade: float = 0.5,
        fade_length: float = 20.0,
        symbols: Sequence[str] | None = None,
        duration: float | None = None,
    ) -> None:
        super().__init__(symbols=symbols, vol_scale=1.5, duration=duration)
        self.start, self.length, self.height = start, length, height
        self.fade, self.fade_length = fade, fade_length

    def path(self, t: float) -> float:
        pump = math.log(1 + self.height)
        if t <= self.start:
            return 0.0
        if t <= self.start + self.length:
            return pump * ((t - self.start) / self.length) ** 2
        back = min(1.0, (t - self.start - self.length) / self.fade_length)
        return pump * (1 - self.fade * back)


class Wick(Scenario):
    """One tick ``depth`` away (down by default, beta-weighted) and exactly back on the next tick."""

    name = "wick"

    def __init__(
        self,
        *,
        start: float = 10.0,
        depth: float = 0.12,
        up: bool = False,
        symbols: Sequence[str] | None = None,
        duration: float | None = None,
    ) -> None:
        super().__init__(duration=duration)
        self.start, self.depth, self.up = start, depth, up
        self.symbols = tuple(symbols) if symbols else None
        self._saved: dict[str, float] | None = None
        self._done = False

    def on_tick(self, ctx: TickContext) -> list[Action]:
        if self._saved is not None:
            for symbol, price in self._saved.items():
                ctx.market.set_mark(symbol, price)
            self._saved = None
            self._done = True
            return [Note("wick: back")]
        if not self._done and ctx.sim_time >= self.start:
            targets = self.symbols or tuple(ctx.market.specs)
            self._saved = {s: ctx.market.mark(s) for s in targets}
            move = math.log(1 + self.depth) if self.up else math.log(1 - self.depth)
            ctx.market.shift(move, targets)
            return [Note(f"wick: {'+' if self.up else '-'}{self.depth:.0%} for one tick")]
        ctx.market.walk(ctx.dt, vol_scale=self.vol_scale)
        return []


class Stall(Scenario):
    name = "stall"

    def __init__(self, *, start: float = 10.0, seconds: float = 20.0, duration: float | None = None) -> None:
        super().__init__(duration=duration)
        self.start, self.seconds = start, seconds

    def on_tick(self, ctx: TickContext) -> list[Action]:
        actions = super().on_tick(ctx)
        if ctx.crossed(self.start):
            actions += [Note(f"feed stall for {self.seconds:g} s"), StallMarks(self.seconds)]
        return actions


class Disconnect(Scenario):
    name = "disconnect"

    def __init__(
        self,
        *,
        start: float = 10.0,
        every: float | None = None,
        abrupt: bool = False,
        duration: float | None = None,
    ) -> None:
        super().__init__(duration=duration)
        self.start, self.every, self.abrupt = start, every, abrupt

    def on_tick(self, ctx: TickContext) -> list[Action]:
        actions = super().on_tick(ctx)
        due = ctx.crossed(self.start)
        if self.every and ctx.sim_time > self.start:
            k = math.floor((ctx.sim_time - self.start) / self.every)
            due = due or ctx.crossed(self.start + k * self.every)
        if due:
            actions += [Note("dropping every connection"), DropConnections(self.abrupt)]
        return actions


class Malformed(Scenario):
    """From ``start``, one hostile frame per ``every`` seconds, cycling through ``hostile_frames``."""

    name = "malformed"

    def __init__(self, *, start: float = 5.0, every: float = 1.0, duration: float | None = None) -> None:
        super().__init__(duration=duration)
        self.start, self.every = start, every
        self._count = 0
        self._next = start

    def on_tick(self, ctx: TickContext) -> list[Action]:
        actions = super().on_tick(ctx)
        if ctx.sim_time >= self._next:
            actions.append(SendRawMarket(hostile_frame(self._count, ctx.market.marks, ctx.now_ms)))
            self._count += 1
            self._next += self.every
        return actions


def hostile_frames(marks: Mapping[str, float], now_ms: int) -> list[str]:
    """Frames a market-stream consumer must survive, in the order ``malformed`` sends them.

    ccxt.pro passes the first group through to its caller (values included: a NaN, negative, zero or
    infinite ``markPrice`` arrives as a number, an unknown symbol as a new ticker), so the consumer must
    validate them. The last four make ccxt.pro itself raise inside its receive callback (a frame
    without ``s``, an empty array, a bare ``NaN`` literal, truncated JSON): that client stops reading
    the socket, which stays open and silent, and only a staleness watchdog notices."""
    return [make() for make in _hostile_factories(marks, now_ms)]


def hostile_frame(index: int, marks: Mapping[str, float], now_ms: int) -> str:
    """The ``index``-th hostile frame (cyclic), built alone: the huge one costs 20,000 entries."""
    factories = _hostile_factories(marks, now_ms)
    return factories[index % len(factories)]()


HOSTILE_FATAL_TO_CCXT = 4


def _hostile_factories(marks: Mapping[str, float], now_ms: int) -> list[Callable[[], str]]:
    symbol = next(iter(sorted(marks)), "BTCUSDT")
    price = marks.get(symbol, 1.0)

    def update(**fields: object) -> dict[str, object]:
        base: dict[str, object] = {
            "e": "markPriceUpdate",
            "E": now_ms,
            "s": symbol,
            "p": f"{price:.8f}",
            "ap": f"{price:.8f}",
            "i": f"{price:.8f}",
            "P": f"{price:.8f}",
            "r": "0.00010000",
            "T": now_ms,
        }
        base.update(fields)
        return base

    def arr(**fields: object) -> Callable[[], str]:
        return lambda: json.dumps([update(**fields)], separators=(",", ":"))

    def text(value: str) -> Callable[[], str]:
        return lambda: value

    valid = json.dumps([update()], separators=(",", ":"))
    return [
        arr(p="NaN"),
        arr(p="-12.5"),
        arr(p="0.00000000"),
        arr(p="1e999"),
        arr(s="NOSUCHUSDT", p="1.00000000"),
        arr(p=None),
        arr(p=12345.5),
        arr(p={"price": "1"}),
        arr(s=42),
        arr(E="yesterday"),
        arr(E=now_ms - 3_600_000),
        text("{}"),
        lambda: json.dumps([update() for _ in range(20_000)], separators=(",", ":")),
        text("ping"),
        text(json.dumps({"e": "markPriceUpdate"})),
        text("[]"),
        text(valid.replace(f'"p":"{price:.8f}"', '"p":NaN')),
        text(valid[:40]),
    ]


# ---- the demo ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drive:
    """Move ``symbols`` (beta-weighted, together) during (start, end] so that ``account``'s cross
    ratio, or the ratio of its isolated ``leg``, ends at ``ratio``. Solved once, when it begins."""

    start: float
    end: float
    account: str
    ratio: float
    symbols: tuple[str, ...]
    leg: tuple[str, str] | None = None
    ease: bool = True


@dataclass(slots=True)
class _Plan:
    base: dict[str, float]
    log_move: float


@dataclass(frozen=True, slots=True)
class Timed:
    at: float
    action: Action


DEMO_DRIVES: tuple[Drive, ...] = (
    Drive(8, 20, "cross", 0.50, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")),
    Drive(8, 20, "isolated", 0.55, ("DOGEUSDT",), leg=("DOGEUSDT", "BOTH")),
    Drive(20, 28, "isolated", 0.72, ("DOGEUSDT",), leg=("DOGEUSDT", "BOTH")),
    Drive(28, 36, "cross", 0.72, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")),
    Drive(28, 36, "isolated", 0.88, ("DOGEUSDT",), leg=("DOGEUSDT", "BOTH")),
    Drive(36, 44, "isolated", 1.10, ("DOGEUSDT",), leg=("DOGEUSDT", "BOTH"), ease=False),
    Drive(52, 66, "cross", 0.87, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")),
    Drive(84, 98, "cross", 0.45, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")),
    Drive(84, 98, "hedge", 0.55, ("XRPUSDT",)),
    Drive(100, 110, "hedge", 0.76, ("XRPUSDT",)),
    Drive(110, 118, "hedge", 0.60, ("XRPUSDT",)),
    Drive(104, 118, "cross", 0.35, ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")),
)

DEMO_EVENTS: tuple[Timed, ...] = (
    Timed(0, Note("demo: calm market; ratio cross 7 %, isolated 26 %, hedge 13 %")),
    Timed(8, Note("slide: cross -> 50 %, isolated -> 55 % by t=20")),
    Timed(20, Note("isolated -> 72 % by t=28")),
    Timed(28, Note("cross -> 72 %, isolated -> 88 % by t=36")),
    Timed(36, Note("isolated pushed through 100 %: the simulator liquidates it")),
    Timed(50, Note("mark feed stalls for 20 s; cross -> 87 % meanwhile (REST only)")),
    Timed(50, StallMarks(20)),
    Timed(70, Note("mark feed resumes")),
    Timed(80, Note("every connection dropped")),
    Timed(80, DropConnections()),
    Timed(84, Note("relief rally: cross -> 45 %; XRP squeeze: hedge -> 55 % by t=98")),
    Timed(100, Note("hedge -> 76 % by t=110")),
    Timed(110, Note("hedge eases to 60 %, cross 35 % by t=118")),
)

# The demo on the COIN-M demo book (``book.coinm_demo_book``): the same timeline, each account's
# symbol standing in for the USD-M ones it drives; every account is margined in its own coin.
_COINM_SYMBOL = {"cross": "BTCUSD_PERP", "isolated": "DOGEUSD_PERP", "hedge": "XRPUSD_PERP"}
COINM_DEMO_DRIVES: tuple[Drive, ...] = tuple(
    replace(
        d,
        symbols=(_COINM_SYMBOL[d.account],),
        leg=(_COINM_SYMBOL[d.account], "BOTH") if d.leg else None,
    )
    for d in DEMO_DRIVES
)
COINM_DEMO_EVENTS: tuple[Timed, ...] = (
    Timed(0, Note("demo: calm market; cross (BTC), isolated (DOGE) and hedge (XRP), each in its coin")),
    *DEMO_EVENTS[1:],
)


class Demo(Scenario):
    """The ``monitor demo`` run on ``book.demo_book()``: about 120 sim seconds.

    ======  =======================================================================================
    t (s)   what happens (ratio = maintenance margin / equity; alert levels 0.5, 0.7, 0.85, 1.0)
    ======  =======================================================================================
    0-8     calm. ``cross`` (BTC, ETH, SOL long, BNB short) 0.07; ``isolated`` (DOGE long 50x) 0.26;
            ``hedge`` (XRP long and short legs, net short) 0.13.
    8-20    correlated slide: ``cross`` reaches 0.50, ``isolated`` 0.55.
    20-28   DOGE keeps falling: ``isolated`` 0.72.
    28-36   ``cross`` 0.72; ``isolated`` 0.88 (MARGIN_CALL at 0.8).
    36-44   DOGE pushed through: ``isolated`` crosses 1.0 and the simulator liquidates it
            (ORDER_TRADE_UPDATE ``autoclose-...``, ACCOUNT_UPDATE, a ``LiquidationRecord``).
    50-70   the mark feed stalls for 20 s. Meanwhile ``cross`` slides to 0.87 (52-66; MARGIN_CALL
            when it passes 0.8): visible over REST and the user stream, not on the market stream.
    70      the feed resumes at the new prices.
    80      every WebSocket is dropped; clients must reconnect and resync.
    84-98   relief rally: ``cross`` back to 0.45; XRP squeezes the net short: ``hedge`` 0.55.
    100-110 ``hedge`` 0.76.
    104-118 ``cross`` eases to 0.35; ``hedge`` back to 0.60 (110-118).
    120     end.
    ======  =======================================================================================

    Each drive is solved once, when it begins, from the ledger's state then; so the ratios are reached
    whatever small noise came before, and the run is the same for the same seed.
    """

    name = "demo"

    def __init__(
        self,
        *,
        drives: Sequence[Drive] = DEMO_DRIVES,
        events: Sequence[Timed] = DEMO_EVENTS,
        duration: float | None = 120.0,
        vol_scale: float = 0.3,
        noise: float = 0.0001,
    ) -> None:
        super().__init__(vol_scale=vol_scale, duration=duration)
        self.drives = tuple(drives)
        self.events = tuple(events)
        self.noise = noise
        self._plans: dict[int, _Plan | None] = {}
        self._fired: set[int] = set()
        self._anchor: dict[str, float] = {}

    def on_tick(self, ctx: TickContext) -> list[Action]:
        t = ctx.sim_time
        actions: list[Action] = []
        for i, ev in enumerate(self.events):
            if i not in self._fired and t >= ev.at:
                self._fired.add(i)
                actions.append(ev.action)
        pinned = {s for d in self.drives for s in d.symbols if s in ctx.market.specs}
        moved: set[str] = set()
        for i, drive in enumerate(self.drives):
            if not drive.start < t or (t - ctx.dt) >= drive.end:
                continue
            if i not in self._plans:
                self._plans[i] = self._solve(ctx, drive, self._anchor)
                if self._plans[i] is None:
                    actions.append(
                        Note(f"demo: cannot reach ratio {drive.ratio * 100:g} % for {drive.account}; skipped")
                    )
            plan = self._plans[i]
            if plan is None:
                continue
            progress = min(1.0, (t - drive.start) / (drive.end - drive.start))
            shape = progress * progress * (3 - 2 * progress) if drive.ease else progress
            for symbol, base in plan.base.items():
                level = base * math.exp(plan.log_move * ctx.market.specs[symbol].beta * shape)
                self._anchor[symbol] = level
                wobble = ctx.rng.gauss(0.0, 1.0) * self.noise * math.sin(math.pi * progress)
                ctx.market.set_mark(symbol, level * math.exp(wobble))
                moved.add(symbol)
        # Symbols the script steers are held at their level between drives, with a small wobble that
        # does not accumulate: a free walk would move a 0.87 account by more than the script does.
        for symbol in sorted(pinned - moved):
            level = self._anchor.setdefault(symbol, ctx.market.mark(symbol))
            ctx.market.set_mark(symbol, level * math.exp(ctx.rng.gauss(0.0, 1.0) * self.noise))
        ctx.market.walk(
            ctx.dt, vol_scale=self.vol_scale, symbols=[s for s in ctx.market.specs if s not in pinned]
        )
        return actions

    @staticmethod
    def _solve(ctx: TickContext, drive: Drive, anchor: Mapping[str, float]) -> _Plan | None:
        if drive.account not in ctx.ledger.accounts or not all(s in ctx.market.specs for s in drive.symbols):
            return None
        base = {s: anchor.get(s, ctx.market.mark(s)) for s in drive.symbols}
        betas = {s: ctx.market.specs[s].beta for s in drive.symbols}

        def ratio(x: float) -> float:
            marks = {s: p * math.exp(x * betas[s]) for s, p in base.items()}
            return ctx.ledger.ratio_at(drive.account, marks, drive.leg)

        x = solve_log_move(ratio, drive.ratio)
        return None if x is None else _Plan(base, x)


def solve_log_move(
    ratio: Callable[[float], float], target: float, *, step: float = 0.005, reach: float = 3.0
) -> float | None:
    """The smallest log move ``x`` (either direction) with ``ratio(x) == target``, or None.

    Walks outward in ``step`` increments up to ``reach`` to bracket a crossing, then bisects."""
    r0 = ratio(0.0)
    if r0 == target:
        return 0.0
    best: float | None = None
    for direction in (-1.0, 1.0):
        prev_x, prev_r = 0.0, r0
        for k in range(1, int(reach / step) + 1):
            x = direction * k * step
            r = ratio(x)
            if (prev_r - target) * (r - target) <= 0:
                lo, hi, r_lo = prev_x, x, prev_r
                for _ in range(60):
                    mid = (lo + hi) / 2
                    r_mid = ratio(mid)
                    if (r_lo - target) * (r_mid - target) <= 0:
                        hi = mid
                    else:
                        lo, r_lo = mid, r_mid
                cand = hi
                if best is None or abs(cand) < abs(best):
                    best = cand
                break
            prev_x, prev_r = x, r
    return best


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    "calm": Scenario,
    "cascade": Cascade,
    "squeeze": Squeeze,
    "wick": Wick,
    "stall": Stall,
    "disconnect": Disconnect,
    "malformed": Malformed,
    "demo": Demo,
}


def make_scenario(name: str, **params: object) -> Scenario:
    """A scenario by name with its keyword parameters; ``ValueError`` lists the names on a typo."""
    factory = SCENARIOS.get(name)
    if factory is None:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return factory(**params)
