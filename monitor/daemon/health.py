"""Health and metrics: one view of the daemon's state, read when asked, never pushed from the hot path.

``HealthView.assess`` answers "is the monitor watching right now?": ready (streams live), every stream
and every held symbol's mark fresher than the staleness threshold the policy alerts on, every alert
channel getting its messages through (``monitor.notify.channel``: an alert nobody receives is no
better than one never raised), not stopping.
The same answer drives ``/healthz``, the systemd watchdog, the Docker heartbeat file and the stale-exit
limit, so the four never disagree about what healthy means.

``/metrics`` is served by a custom Prometheus collector that reads the daemon's state at scrape time.
Gauges updated on every mark tick would cost the event path a dictionary update per position per tick
for numbers nobody reads between scrapes; reading at scrape time costs nothing until someone looks.
Both handlers run on the event loop's thread, the only thread that mutates that state, so a scrape
sees a consistent snapshot without locks.

The server listens on loopback by default: it has no authentication, and position sizes and margin
ratios are nobody else's business.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from monitor.alerts import Level
from monitor.logs import get_logger
from monitor.notify.channel import ChannelHealth
from monitor.policy import keys
from monitor.venues.base import hhmmss

if TYPE_CHECKING:
    from monitor.daemon.service import Daemon
    from monitor.model import AccountRisk
    from monitor.policy.state import PolicyState

log = get_logger(__name__)


@dataclass(frozen=True)
class Extras:
    """State that lives outside the daemon, wired in when the component exists.

    ``outbox_pending``: messages still to deliver (Telegram outbox). ``trading_state``: the order
    gateway's ACTIVE / REDUCING / HALTED. ``orders``: orders by kind (e.g. ``sent``, ``filled``,
    ``refused``). ``channels``: the alert channels' health (Telegram). Absent ones are reported as
    null and left out of the metrics.
    """

    outbox_pending: Callable[[], int] | None = None
    trading_state: Callable[[], str] | None = None
    orders: Callable[[], Mapping[str, int]] | None = None
    channels: Callable[[], Sequence[ChannelHealth]] | None = None


@dataclass(frozen=True)
class StreamStatus:
    name: str
    last_ms: int  # 0: never delivered since it died (listen key expired)
    age_s: float | None  # None when dead
    threshold_s: float
    stale: bool
    connected: bool


@dataclass(frozen=True)
class SymbolStatus:
    venue: str
    symbol: str
    age_s: float
    threshold_s: float
    stale: bool


@dataclass(frozen=True)
class LevelStatus:
    """The alert level a risk subject holds now: its open risk episode's, OK when it has none.

    ``symbol`` None is the account's cross pool. The level is the policy's, with its hysteresis and
    confirmation, so it is the level of the last alert about the subject, not one recomputed here.
    """

    venue: str
    account: str
    symbol: str | None
    position_side: str | None
    side: str | None
    margin_mode: str | None
    level: Level


def risk_levels(risks: Mapping[str, AccountRisk], state: PolicyState) -> tuple[LevelStatus, ...]:
    """Every cross pool's and every position's current level, in the order of ``risks``' accounts."""
    out: list[LevelStatus] = []
    for name, risk in sorted(risks.items()):
        venue = risk.venue.value
        if risk.cross is not None:
            out.append(
                LevelStatus(venue, name, None, None, None, "cross", _held(state, keys.account_risk(name)))
            )
        for p in risk.positions:
            side = p.position_side.value
            level = _held(state, keys.position_risk(name, p.symbol, side))
            out.append(LevelStatus(venue, name, p.symbol, side, p.side.value, p.margin_mode.value, level))
    return tuple(out)


def _held(state: PolicyState, key: str) -> Level:
    track = state.find(key)
    return Level.OK if track is None else track.level


def _levels_json(levels: Sequence[LevelStatus]) -> dict[str, Any]:
    accounts: dict[str, Any] = {}
    for s in levels:
        acct = accounts.setdefault(s.account, {"venue": s.venue, "cross_level": None, "positions": []})
        if s.symbol is None:
            acct["cross_level"] = s.level.label
        else:
            acct["positions"].append(
                {
                    "symbol": s.symbol,
                    "position_side": s.position_side,
                    "side": s.side,
                    "margin_mode": s.margin_mode,
                    "level": s.level.label,
                }
            )
    return accounts


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    ready: bool
    stopping: bool
    now_ms: int
    uptime_s: float
    streams: tuple[StreamStatus, ...]
    symbols: tuple[SymbolStatus, ...]
    open_episodes: int
    outbox_pending: int | None = None
    trading_state: str | None = None
    problems: tuple[str, ...] = field(default=())
    channels: tuple[ChannelHealth, ...] = field(default=())
    # the problems (also in ``problems``) that no restart of the daemon mends: a dead alert channel,
    # an exchange's ban. They make the daemon unhealthy to ``/healthz`` and ``monitor status``, but
    # the watchdog is not withheld for them: a restart would stop the watching and the de-risking
    # that still work, and under a ban its start-up REST calls would extend the ban
    external: tuple[str, ...] = field(default=())

    @property
    def watching(self) -> bool:
        """Whether the daemon watches with fresh data, whatever is wrong outside it: what the
        systemd watchdog, the heartbeat and the stale-exit clock follow."""
        return len(self.problems) == len(self.external)

    levels: tuple[LevelStatus, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ready": self.ready,
            "stopping": self.stopping,
            "problems": list(self.problems),
            "external": list(self.external),
            "time_ms": self.now_ms,
            "uptime_s": round(self.uptime_s, 3),
            "streams": {
                s.name: {
                    "last_ms": s.last_ms,
                    "age_s": None if s.age_s is None else round(s.age_s, 3),
                    "threshold_s": s.threshold_s,
                    "stale": s.stale,
                    "connected": s.connected,
                }
                for s in self.streams
            },
            "symbols": {
                f"{s.venue}:{s.symbol}": {
                    "age_s": round(s.age_s, 3),
                    "threshold_s": s.threshold_s,
                    "stale": s.stale,
                }
                for s in self.symbols
            },
            "open_episodes": self.open_episodes,
            "accounts": _levels_json(self.levels),
            "outbox_pending": self.outbox_pending,
            "trading_state": self.trading_state,
            "channels": {
                c.name: {"state": c.state.value, "pending": c.pending, "detail": c.detail}
                for c in self.channels
            },
        }


class HealthView:
    """Reads a running ``Daemon`` (and the ``Extras``) into a ``HealthReport``."""

    def __init__(self, daemon: Daemon, extras: Extras | None = None) -> None:
        self.daemon = daemon
        self.extras = extras or Extras()
        self.stopping = False

    def assess(self) -> HealthReport:
        d = self.daemon
        now = d.clock()
        cfg = d.options.policy.staleness
        streams: list[StreamStatus] = []
        for name, last in sorted(d.freshness.items()):
            threshold = cfg.threshold_ms(name)
            age = now - last if last else None
            stale = age is None or age >= threshold
            streams.append(StreamStatus(name, last, _s(age), threshold / 1000, stale, name in d.connected))
        symbols: list[SymbolStatus] = []
        seen: set[tuple[str, str]] = set()
        for book in d.engine.books.values():
            venue = book.venue.value
            for symbol in sorted(book.symbols):
                if (venue, symbol) in seen:
                    continue
                seen.add((venue, symbol))
                # a held symbol that never got a mark is measured from the start, as the policy does
                last = d.engine.mark_ms.get(venue, {}).get(symbol) or d.stats.started_ms
                age = now - last
                symbols.append(
                    SymbolStatus(
                        venue, symbol, age / 1000, cfg.symbol_mark_ms / 1000, age >= cfg.symbol_mark_ms
                    )
                )
        ready = d.ready.is_set()
        problems: list[str] = []
        if not ready:
            problems.append("starting: streams not live yet")
        if self.stopping:
            problems.append("stopping")
        banned = {venue: until for venue, until in sorted(d.bans.items()) if until > now}
        # what a restart cannot mend: the exchange's ban (and the REST-fed streams it holds stale: a
        # restart's start-up calls would only extend it), a dead alert channel
        external = [
            f"{venue} banned by the exchange until {hhmmss(until)} UTC" for venue, until in banned.items()
        ]
        for s in streams:
            if s.stale:
                held = s.name.split(":", 1)[0] in banned
                (external if held else problems).append(f"stream {s.name} stale")
        problems += [f"mark {s.venue}:{s.symbol} stale" for s in symbols if s.stale]
        channels = tuple(_call(self.extras.channels) or ())
        external += [f"alert channel {c.name} {c.state.value}: {c.detail}" for c in channels if not c.ok]
        problems += external
        return HealthReport(
            ok=not problems,
            ready=ready,
            stopping=self.stopping,
            now_ms=now,
            uptime_s=(now - d.stats.started_ms) / 1000 if d.stats.started_ms else 0.0,
            streams=tuple(streams),
            symbols=tuple(symbols),
            open_episodes=len(d.policy_state.open_episodes()),
            outbox_pending=_call(self.extras.outbox_pending),
            trading_state=_call(self.extras.trading_state),
            problems=tuple(problems),
            channels=channels,
            external=tuple(external),
            levels=risk_levels(d.engine.risks, d.policy_state),
        )


def _s(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _call(fn: Callable[[], Any] | None) -> Any:
    if fn is None:
        return None
    try:
        return fn()
    except Exception as exc:  # a broken extra must not break the health endpoint
        log.warning("health source failed", error=f"{type(exc).__name__}: {exc}")
        return None


# --- metrics --------------------------------------------------------------------------------------------

_POSITION_LABELS = ["venue", "account", "symbol", "position_side", "side", "margin_mode"]


class MonitorCollector(Collector):
    """Every ``monitor_*`` metric, computed from the daemon's state when Prometheus scrapes."""

    def __init__(self, view: HealthView) -> None:
        self.view = view

    def describe(self) -> list[Metric]:
        # the families depend on what the daemon holds; an empty description disables the registry's
        # duplicate check against them, which is what a collector of dynamic series needs
        return []

    def collect(self) -> Iterator[Metric]:
        view = self.view
        d = view.daemon
        report = view.assess()
        yield _gauge("monitor_ready", "1 once the streams are live", report.ready)
        yield _gauge("monitor_healthy", "1 while every stream and held mark is fresh", report.ok)
        yield _gauge("monitor_uptime_seconds", "Seconds since the daemon started", report.uptime_s)
        yield _gauge("monitor_open_episodes", "Alert episodes open now", report.open_episodes)
        yield from self._streams(report)
        yield from self._risk(d)
        yield from self._levels(report)
        yield from self._counters(d)
        if report.outbox_pending is not None:
            yield _gauge("monitor_outbox_pending", "Messages waiting in the outbox", report.outbox_pending)
        if report.channels:
            up = GaugeMetricFamily(
                "monitor_alert_channel_up",
                "1 while the alert channel delivers; 0 degraded (messages stuck) or rejected (token, URL)",
                labels=["channel"],
            )
            for channel in report.channels:
                up.add_metric([channel.name], int(channel.ok))
            yield up
        if report.trading_state is not None:
            g = GaugeMetricFamily(
                "monitor_trading_state", "The order gateway's state (1 = current)", labels=["state"]
            )
            g.add_metric([report.trading_state], 1)
            yield g
        orders = _call(view.extras.orders)
        if orders is not None:
            c = CounterMetricFamily("monitor_orders", "Orders by kind", labels=["kind"])
            for kind, n in sorted(orders.items()):
                c.add_metric([kind], n)
            yield c
        window = sorted(d.stats.decisions_us)
        if window:
            g = GaugeMetricFamily(
                "monitor_decision_latency_seconds",
                "Event to decision time over the last events (at most 10,000)",
                labels=["quantile"],
            )
            for q in (0.5, 0.9, 0.99):
                g.add_metric([str(q)], window[min(len(window) - 1, int(len(window) * q))] / 1e6)
            yield g

    @staticmethod
    def _streams(report: HealthReport) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "monitor_stream_age_seconds",
            "Seconds since the stream's last valid frame (+Inf: dead)",
            labels=["stream"],
        )
        threshold = GaugeMetricFamily(
            "monitor_stream_stale_threshold_seconds",
            "Age at which the stream counts as stale",
            labels=["stream"],
        )
        stale = GaugeMetricFamily("monitor_stream_stale", "1 while the stream is stale", labels=["stream"])
        connected = GaugeMetricFamily("monitor_stream_connected", "1 while subscribed", labels=["stream"])
        for s in report.streams:
            age.add_metric([s.name], float("inf") if s.age_s is None else s.age_s)
            threshold.add_metric([s.name], s.threshold_s)
            stale.add_metric([s.name], int(s.stale))
            connected.add_metric([s.name], int(s.connected))
        marks = GaugeMetricFamily(
            "monitor_mark_age_seconds",
            "Seconds since the last mark of a held symbol",
            labels=["venue", "symbol"],
        )
        for m in report.symbols:
            marks.add_metric([m.venue, m.symbol], m.age_s)
        yield from (age, threshold, stale, connected, marks)

    @staticmethod
    def _risk(d: Daemon) -> Iterator[Metric]:
        p_ratio = GaugeMetricFamily(
            "monitor_position_margin_ratio",
            "Maintenance requirement / equity (liquidation at 1); cross positions carry the account's",
            labels=_POSITION_LABELS,
        )
        p_dist = GaugeMetricFamily(
            "monitor_position_distance_percent",
            "|mark - liquidation price| / mark in percent, negative once past the liquidation price",
            labels=_POSITION_LABELS,
        )
        p_liq = GaugeMetricFamily(
            "monitor_position_liquidation_price", "Liquidation price", labels=_POSITION_LABELS
        )
        p_mark = GaugeMetricFamily("monitor_position_mark_price", "Mark price", labels=_POSITION_LABELS)
        p_notional = GaugeMetricFamily(
            "monitor_position_notional", "Position notional", labels=_POSITION_LABELS
        )
        a_ratio = GaugeMetricFamily(
            "monitor_account_margin_ratio",
            "Cross pool maintenance requirement / equity",
            labels=["venue", "account"],
        )
        a_equity = GaugeMetricFamily(
            "monitor_account_equity", "Cross pool equity", labels=["venue", "account"]
        )
        a_maint = GaugeMetricFamily(
            "monitor_account_maint_margin", "Cross pool maintenance requirement", labels=["venue", "account"]
        )
        a_worst = GaugeMetricFamily(
            "monitor_account_max_margin_ratio",
            "Worst margin ratio in the account (cross pool or any isolated position)",
            labels=["venue", "account"],
        )
        a_dist = GaugeMetricFamily(
            "monitor_account_min_distance_percent",
            "Smallest distance to liquidation among the account's positions (negative: one is past it)",
            labels=["venue", "account"],
        )
        a_positions = GaugeMetricFamily(
            "monitor_account_positions", "Open positions", labels=["venue", "account"]
        )
        for name, risk in sorted(d.engine.risks.items()):
            acct = [risk.venue.value, name]
            ratios: list[float] = []
            distances: list[float] = []
            if risk.cross is not None:
                a_ratio.add_metric(acct, risk.cross.margin_ratio)
                a_equity.add_metric(acct, risk.cross.equity)
                a_maint.add_metric(acct, risk.cross.maint_margin)
                ratios.append(risk.cross.margin_ratio)
            for p in risk.positions:
                labels = [*acct, p.symbol, p.position_side.value, p.side.value, p.margin_mode.value]
                p_ratio.add_metric(labels, p.margin_ratio)
                p_mark.add_metric(labels, p.mark_price)
                p_notional.add_metric(labels, p.notional)
                ratios.append(p.margin_ratio)
                if p.liquidation_price is not None:
                    p_liq.add_metric(labels, p.liquidation_price)
                if p.distance_pct is not None:
                    p_dist.add_metric(labels, p.distance_pct)
                    distances.append(p.distance_pct)
            a_positions.add_metric(acct, len(risk.positions))
            if ratios:
                a_worst.add_metric(acct, max(ratios))
            if distances:
                a_dist.add_metric(acct, min(distances))
        yield from (
            p_ratio,
            p_dist,
            p_liq,
            p_mark,
            p_notional,
            a_ratio,
            a_equity,
            a_maint,
            a_worst,
            a_dist,
            a_positions,
        )

    @staticmethod
    def _levels(report: HealthReport) -> Iterator[Metric]:
        doc = "Current alert level: 0 ok, 1 info, 2 warn, 3 danger, 4 critical"
        position = GaugeMetricFamily("monitor_position_alert_level", doc, labels=_POSITION_LABELS)
        account = GaugeMetricFamily(
            "monitor_account_alert_level", f"{doc} (the cross pool)", labels=["venue", "account"]
        )
        for s in report.levels:
            if s.symbol is None:
                account.add_metric([s.venue, s.account], int(s.level))
            else:
                labels = [
                    s.venue,
                    s.account,
                    s.symbol,
                    s.position_side or "",
                    s.side or "",
                    s.margin_mode or "",
                ]
                position.add_metric(labels, int(s.level))
        yield from (position, account)

    @staticmethod
    def _counters(d: Daemon) -> Iterator[Metric]:
        events = CounterMetricFamily("monitor_events", "Events applied, by type", labels=["type"])
        for kind, n in sorted(d.stats.events.items()):
            events.add_metric([kind], n)
        rejected = CounterMetricFamily(
            "monitor_frames_rejected", "Malformed frames skipped, by source", labels=["source"]
        )
        for source, n in sorted(d.stats.rejected.items()):
            rejected.add_metric([source], n)
        alerts = CounterMetricFamily(
            "monitor_alerts", "Alerts raised, by kind and level", labels=["kind", "level"]
        )
        for key, n in sorted(d.stats.alerts.items()):
            kind, _, level = key.partition(":")
            alerts.add_metric([kind, level], n)
        yield from (events, rejected, alerts)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def make_registry(view: HealthView, *, process: bool = True) -> CollectorRegistry:
    """A registry of its own (not the global one): two daemons in one process, as in tests, never
    collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(view))
    if process:
        ProcessCollector(registry=registry)
    return registry


# --- HTTP -----------------------------------------------------------------------------------------------


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` -> ``(host, port)``; ``ValueError`` naming the problem in plain words.

    The host is an IP address (IPv6 in brackets, ``[::1]:9108``) or a host name; the port is 0-65535
    (0: any free port, for tests; the configuration refuses it).
    Checked when the configuration is read, so a bad address stops the start before anything exists.
    """
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not host or not port:
        raise ValueError("write it as HOST:PORT, e.g. 127.0.0.1:9108")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"the port must be a number from 1 to 65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host} is not an IPv6 address") from None
        return host, int(port)
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{host} is not an IPv4 address (four numbers from 0 to 255)") from None
        return host, int(port)
    if ":" in host:
        raise ValueError("put an IPv6 address in brackets, e.g. [::1]:9108")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in host.rstrip(".").split(".")):
        raise ValueError(f"{host} is neither an IP address nor a host name")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HealthServer:
    """``/healthz`` (JSON; 200 healthy, 503 not) and ``/metrics`` (Prometheus text format)."""

    def __init__(self, view: HealthView, registry: CollectorRegistry, listen: str) -> None:
        self.view = view
        self.registry = registry
        self.host, self.port = parse_listen(listen)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; ``OSError`` if the address cannot be bound (in use, not local)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.port == 0 and runner.addresses:
            self.port = int(runner.addresses[0][1])
        if not is_loopback(self.host):
            log.warning(
                "health and metrics reachable beyond this host: they have no authentication", listen=self.url
            )
        log.info("health server listening", url=self.url)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        report = self.view.assess()
        return web.json_response(report.to_json(), status=200 if report.ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text="monitor: /healthz (JSON, 503 when unhealthy), /metrics (Prometheus)\n")


# --- heartbeat file -------------------------------------------------------------------------------------


class Heartbeat:
    """A file whose modification time says "healthy at that moment", for Docker's HEALTHCHECK.

    It is removed at start and at exit, so a heartbeat left by an earlier run never vouches for this one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._failing = False

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove heartbeat file", path=str(self.path), error=exc.strerror)

    def beat(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            os.utime(self.path)
        except OSError as exc:
            if not self._failing:  # once per streak: the HEALTHCHECK will say the rest
                log.warning("cannot touch heartbeat file", path=str(self.path), error=exc.strerror)
            self._failing = True
            return
        self._failing = False

    def age(self) -> float | None:
        """Seconds since the last beat, or None if there is no heartbeat."""
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
