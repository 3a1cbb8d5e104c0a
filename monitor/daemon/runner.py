"""``monitor run``: the daemon as a long-running service under systemd, Docker or a terminal.

Start-up refuses a bad configuration (exit 2, which the systemd unit does not restart on) before
anything connects. Then, in order: the health server (so ``/healthz`` answers "starting" at once), the
notifiers, a log line with the versions in use (and a warning to the notifiers when ccxt is untested),
the daemon, the components that act on its decisions (de-risking); then systemd hears ``READY=1`` and
the notifiers ``daemon_ready()`` (only now may a pinned status say what is watched).

While it runs, a supervisor asks the health view once a second whether the data is fresh. Only then
does it ping the systemd watchdog and touch the heartbeat file, so a hung event loop (nothing pings) and
a silent feed (pings withheld) look the same to the supervisor outside and both end in a restart. When
the data stays stale past ``service.stale_exit_seconds`` the process exits 1 by itself, for supervisors
that only restart what exits (Docker).

SIGTERM and SIGINT stop the components first (no new action), then the daemon (no new event; its queue
is drained and the exchange clients are closed), then give the notifiers what is left of the deadline
to flush their outbox, then close the health server. The whole shutdown is bounded by
``SHUTDOWN_DEADLINE_S`` and a backstop ends the process if anything overruns, so a supervisor's stop
timeout is never what ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import inspect
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any, Protocol

from rich.console import Console

from monitor.alerts import Alert, Level
from monitor.daemon.config import ConfigError, Settings, load_config
from monitor.daemon.health import Extras, HealthReport, HealthServer, HealthView, Heartbeat, make_registry
from monitor.daemon.sdnotify import SdNotifier
from monitor.daemon.service import Daemon, DaemonOptions, Notifier
from monitor.daemon.startup import StartupReports, describe
from monitor.daemon.versions import TESTED_CCXT, installed, untested_ccxt_alert
from monitor.logs import configure, get_logger, register_secrets
from monitor.notify.console import ConsoleNotifier

log = get_logger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1  # start-up failed, or the data stayed stale past the hard limit
EXIT_BAD_CONFIG = 2

SHUTDOWN_DEADLINE_S = 8.0  # signal to return; the process is gone well within 10 s
COMPONENT_STOP_S = 2.0
DAEMON_STOP_S = 3.0
SERVER_STOP_S = 1.0
BACKSTOP_S = 9.5
HEARTBEAT_EVERY_S = 5.0

# used when the config leaves them unset (the Docker image sets both)
HEARTBEAT_ENV = "MONITOR_HEARTBEAT_FILE"
STALE_EXIT_ENV = "MONITOR_STALE_EXIT_SECONDS"

NotifierFactory = Callable[[Settings], Sequence[Notifier]]


class Component(Protocol):
    """Something that acts on the daemon's decisions (the de-risking gateway): started once the
    streams are live, stopped before anything else so that no new action begins during shutdown.
    It may also offer ``extras() -> Extras`` (trading state, order counts) for health and metrics."""

    def start(self) -> Awaitable[object]: ...

    def stop(self) -> Awaitable[None]: ...


ComponentFactory = Callable[[Daemon], Component]


# an alert's log record carries its severity, so `journalctl -p warning` lists the warnings and worse
RECORD_LEVEL = {
    Level.OK: logging.INFO,
    Level.INFO: logging.INFO,
    Level.WARN: logging.WARNING,
    Level.DANGER: logging.ERROR,
    Level.CRITICAL: logging.CRITICAL,
}


class LogNotifier:
    """Every alert as a structured log line: the record of what was said, whatever the channels.

    The record's level follows the alert's (warn -> warning, danger -> error, critical -> critical;
    a close at the level it closes from). On a terminal (``console``) the alert is printed in the
    demo's human format instead, once, rather than as a log line beside it.
    """

    def __init__(self, console: ConsoleNotifier | None = None) -> None:
        self.console = console

    def enqueue(self, alerts: Sequence[Alert]) -> None:
        if self.console is not None:
            self.console.enqueue(alerts)
            return
        for a in alerts:
            severity = max(a.level, a.previous_level or Level.OK)
            log.log(
                RECORD_LEVEL[severity],
                "alert",
                kind=a.kind.value,
                alert_level=a.level.label,  # "level" is the log record's own
                transition=a.transition.value,
                account=a.account,
                symbol=a.symbol,
                message=a.message,
            )


def build_options(settings: Settings) -> DaemonOptions:
    svc = settings.raw.service
    return DaemonOptions(
        state_file=svc.state_file,
        policy=settings.policy,
        venues=dict(settings.venues),
        endpoints=dict(settings.endpoints),
        resync_seconds=svc.resync_seconds,
        tiers_refresh_hours=svc.tiers_refresh_hours,
        mark_window_ms=svc.mark_window_ms,
    )


class Supervisor:
    """One health check per ``period``: watchdog, heartbeat, systemd status line, stale-exit clock.

    ``tick`` returns False once the data has been unhealthy for ``stale_exit_s`` (0 = never).
    Problems outside the daemon (``HealthReport.external``: a dead alert channel, an exchange's ban)
    show in the status line as DEGRADED and in the log, but do not withhold the watchdog or the
    heartbeat: restarting cannot mend them and would stop what still works.
    """

    def __init__(
        self,
        assess: Callable[[], HealthReport],
        sd: SdNotifier,
        *,
        heartbeat: Heartbeat | None = None,
        stale_exit_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.assess = assess
        self.sd = sd
        self.heartbeat = heartbeat
        self.stale_exit_s = stale_exit_s
        self.clock = clock
        interval = sd.watchdog_interval
        # several checks per watchdog interval, so a ping is never late by a whole period
        self.period = 1.0 if interval is None else max(0.05, min(1.0, interval / 2))
        self.unhealthy_since: float | None = None
        self._last_ping: float | None = None
        self._last_beat: float | None = None
        self._status = ""
        self._external: tuple[str, ...] = ()

    def tick(self) -> bool:
        now = self.clock()
        report = self.assess()
        if report.watching:
            if self.unhealthy_since is not None:
                log.info("healthy again", after_s=round(now - self.unhealthy_since, 1))
            self.unhealthy_since = None
            interval = self.sd.watchdog_interval
            if interval is not None and (self._last_ping is None or now - self._last_ping >= interval):
                self.sd.watchdog()
                self._last_ping = now
            if self.heartbeat is not None and (
                self._last_beat is None or now - self._last_beat >= HEARTBEAT_EVERY_S
            ):
                self.heartbeat.beat()
                self._last_beat = now
        else:
            self._last_beat = None  # beat at once when healthy again
            if self.unhealthy_since is None:
                self.unhealthy_since = now
                log.warning("unhealthy: watchdog and heartbeat withheld", problems=list(report.problems))
        if report.external != self._external:
            if report.external:
                log.warning("degraded; monitoring continues", problems=list(report.external))
            else:
                log.info("no longer degraded")
            self._external = report.external
        self._set_status(report)
        stale_for = 0.0 if self.unhealthy_since is None else now - self.unhealthy_since
        if self.stale_exit_s > 0 and stale_for >= self.stale_exit_s:
            log.error(
                "data stale past the hard limit; exiting so the supervisor restarts the monitor",
                stale_exit_seconds=self.stale_exit_s,
                problems=list(report.problems),
            )
            return False
        return True

    def _set_status(self, report: HealthReport) -> None:
        fresh = sum(not s.stale for s in report.streams)
        if report.ok:
            text = (
                f"watching: {fresh}/{len(report.streams)} streams fresh, {report.open_episodes} open episodes"
            )
        elif report.watching:
            text = "DEGRADED: " + "; ".join(report.external[:3])
        else:
            text = "UNHEALTHY: " + "; ".join(report.problems[:3])
        if text != self._status:
            self._status = text
            self.sd.status(text)


def _extras_from(notifiers: Sequence[Notifier], given: Extras | None) -> Extras:
    """Outbox depth from every notifier that has a durable outbox (``outbox.pending_count()``), and
    the health of every one that reports it (``channel_health()``)."""
    extras = given or Extras()
    if extras.channels is None:
        reporting: list[Any] = [n for n in notifiers if callable(getattr(n, "channel_health", None))]
        if reporting:
            extras = replace(extras, channels=lambda: [n.channel_health() for n in reporting])
    if extras.outbox_pending is not None:
        return extras
    outboxes: list[Any] = []
    for n in notifiers:
        box = getattr(n, "outbox", None)
        if callable(getattr(box, "pending_count", None)):
            outboxes.append(box)
    if not outboxes:
        return extras
    return replace(extras, outbox_pending=lambda: sum(int(b.pending_count()) for b in outboxes))


def _merge(base: Extras, more: Extras) -> Extras:
    """``more``'s sources where it has them, ``base``'s elsewhere."""
    return replace(base, **{f.name: v for f in fields(more) if (v := getattr(more, f.name)) is not None})


def stale_exit_seconds(settings: Settings, env: Mapping[str, str]) -> float:
    """``service.stale_exit_seconds``, or ``$MONITOR_STALE_EXIT_SECONDS`` when the config leaves it 0."""
    configured = settings.raw.service.stale_exit_seconds
    if configured > 0:
        return configured
    try:
        return max(0.0, float(env.get(STALE_EXIT_ENV, "0") or 0))
    except ValueError:
        log.warning("ignoring a malformed stale-exit setting", variable=STALE_EXIT_ENV)
        return 0.0


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    notifiers: Sequence[Notifier] = (),
    *,
    components: Sequence[ComponentFactory] = (),
    extras: Extras | None = None,
    environ: Mapping[str, str] | None = None,
    alert_log: LogNotifier | None = None,
) -> int:
    """Run until ``stop`` is set (exit 0), start-up fails or the data stays stale too long (exit 1).

    ``notifiers`` receive every alert and are started first, so nothing said at start-up is lost.
    ``components`` are built from the daemon once its streams are live, before READY=1.
    """
    env = os.environ if environ is None else environ
    health_cfg = settings.raw.health
    try:
        daemon = Daemon(build_options(settings), [alert_log or LogNotifier(), *notifiers])
    except Exception as exc:  # the state file cannot be opened or migrated
        log.error("cannot open the state file", path=settings.raw.service.state_file, error=repr(exc))
        return EXIT_FAILURE
    view = HealthView(daemon, _extras_from(notifiers, extras))
    sd = SdNotifier(env)
    beat_path = health_cfg.heartbeat_file or env.get(HEARTBEAT_ENV)
    heartbeat = Heartbeat(beat_path) if beat_path else None
    if heartbeat is not None:
        heartbeat.clear()
    server: HealthServer | None = None
    if health_cfg.enabled:
        server = HealthServer(view, make_registry(view), health_cfg.listen)
        try:
            await server.start()
        except OSError as exc:
            # alerting matters more than its dashboard: carry on without health over HTTP
            log.error(
                "health server cannot listen; continuing without it",
                listen=health_cfg.listen,
                error=exc.strerror,
            )
            server = None
    started: list[Any] = []
    running: list[Component] = []
    try:
        try:
            for n in notifiers:
                if hasattr(n, "start"):
                    await n.start()
                    started.append(n)
            announce_versions(notifiers)
            sd.status("connecting to the venues")
            if not await _unless_stopped(daemon.start(), stop):
                log.info("stopped during start-up")
                return EXIT_OK
            for make in components:
                component = make(daemon)
                await component.start()
                running.append(component)
                offered = getattr(component, "extras", None)
                if callable(offered):
                    view.extras = _merge(view.extras, offered())
        except Exception as exc:
            _report_start_failure(daemon, settings, exc)
            return EXIT_FAILURE
        sd.ready("streams live")
        _forget_start_failures(daemon)
        for n in started:  # a pinned status may say what is watched now, not before
            ready = getattr(n, "daemon_ready", None)
            if callable(ready):
                ready()
        log.info("ready", streams=sorted(daemon.freshness), health=server.url if server else None)
        supervisor = Supervisor(
            view.assess, sd, heartbeat=heartbeat, stale_exit_s=stale_exit_seconds(settings, env)
        )
        return await _supervise(supervisor, stop)
    finally:
        view.stopping = True
        sd.stopping("stopping")
        if heartbeat is not None:
            heartbeat.clear()
        await _shutdown(daemon, running, started, server)
        sd.close()


def announce_versions(notifiers: Sequence[Notifier]) -> None:
    """Log what the daemon runs with; when ccxt lies outside the tested range, warn in the log and
    tell the notifiers once (``monitor.daemon.versions`` says why it matters)."""
    found = installed()
    log.info("versions", **found.fields())
    alert = untested_ccxt_alert(found, int(time.time() * 1000))
    if alert is not None:
        log.warning(
            "ccxt outside the tested range", ccxt=found.ccxt, tested=str(TESTED_CCXT), message=alert.message
        )
        for n in notifiers:
            n.enqueue([alert])


def _report_start_failure(daemon: Daemon, settings: Settings, exc: BaseException) -> None:
    """Log the failure with its account and cause; tell the notifiers unless the same failure was
    the last one told (a supervisor restarting the monitor every few seconds would repeat it)."""
    failure = describe(exc, (s for a in settings.accounts for s in a.secrets))
    log.error(
        "start-up failed",
        venue=failure.venue,
        account=failure.account,
        cause=failure.cause,
        error=f"{failure.error_type}: {failure.detail}",
    )
    try:
        reports = StartupReports(daemon.conn)
        if reports.last() == failure.key:
            log.info("start-up failure already reported; not repeated", account=failure.account)
            return
        alert = failure.alert(daemon.clock())
        for notifier in daemon.notifiers:
            notifier.enqueue([alert])
        reports.remember(failure.key)
    except Exception as err:  # the report must not hide the failure itself
        log.warning("cannot report the start-up failure", error=f"{type(err).__name__}: {err}")


def _forget_start_failures(daemon: Daemon) -> None:
    """Started: the next start-up failure is news again, even the same as the last one."""
    try:
        StartupReports(daemon.conn).forget()
    except Exception as err:
        log.warning("cannot clear the start-up report", error=f"{type(err).__name__}: {err}")


async def _unless_stopped(start: Awaitable[None], stop: asyncio.Event) -> bool:
    """Await ``start`` unless ``stop`` is set first (then cancel it and return False)."""
    task = asyncio.ensure_future(start)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    return False


async def _supervise(supervisor: Supervisor, stop: asyncio.Event) -> int:
    while not stop.is_set():
        if not supervisor.tick():
            return EXIT_FAILURE
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), supervisor.period)
    log.info("stopping")
    return EXIT_OK


async def _shutdown(
    daemon: Daemon, components: Sequence[Component], notifiers: Sequence[Any], server: HealthServer | None
) -> None:
    """Components (no new action), the daemon (no new event; clients closed), the notifiers (flushing
    what was said), the server: within ``SHUTDOWN_DEADLINE_S`` in all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_DEADLINE_S
    for component in reversed(components):
        try:
            await asyncio.wait_for(component.stop(), COMPONENT_STOP_S)
        except Exception as exc:
            log.warning("component did not stop cleanly", component=type(component).__name__, error=repr(exc))
    try:
        await asyncio.wait_for(daemon.stop(), DAEMON_STOP_S)
    except Exception as exc:
        log.warning("daemon did not stop cleanly", error=f"{type(exc).__name__}: {exc}")
    budget = max(0.5, deadline - loop.time() - SERVER_STOP_S)
    await asyncio.gather(*(_stop_notifier(n, budget) for n in notifiers))
    if server is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.stop(), SERVER_STOP_S)
    log.info("stopped", took_s=round(SHUTDOWN_DEADLINE_S - (deadline - loop.time()), 2))


async def _stop_notifier(notifier: Any, budget: float) -> None:
    """``stop(flush_timeout_s=...)`` where the notifier takes a flush deadline, else ``stop()``;
    either way bounded by ``budget``."""
    stop = notifier.stop
    try:
        takes_flush = "flush_timeout_s" in inspect.signature(stop).parameters
    except (TypeError, ValueError):
        takes_flush = False
    call = stop(flush_timeout_s=max(0.1, budget - 0.5)) if takes_flush else stop()
    try:
        await asyncio.wait_for(call, budget)
    except Exception as exc:
        log.warning(
            "notifier did not stop cleanly", notifier=type(notifier).__name__, error=type(exc).__name__
        )


def _backstop(code: int) -> None:
    """Armed when shutdown begins: if the process is still here after ``BACKSTOP_S`` something hung
    (a blocking call, an executor thread); end it rather than let the supervisor's timeout do it."""

    def fire() -> None:
        log.error("shutdown overran its deadline; exiting now", after_s=BACKSTOP_S)
        os._exit(code)

    timer = threading.Timer(BACKSTOP_S, fire)
    timer.daemon = True
    timer.start()


def _quiet_closed_clients(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """ccxt rejects the futures of pending ``watch_*`` calls when a client is closed, and nobody awaits
    them any more at shutdown; asyncio would report each as an error. Those are expected; anything
    else goes to the default handler."""
    exc = context.get("exception")
    if type(exc).__name__ == "ExchangeClosedByUser":
        log.debug("pending watch ended by close", error=str(exc))
        return
    loop.default_exception_handler(context)


def run(
    config_path: str,
    notifier_factory: NotifierFactory | None = None,
    component_factory: Callable[[Settings], Sequence[ComponentFactory]] | None = None,
    *,
    log_level: str | None = None,
) -> int:
    """The ``monitor run`` entry point. ``notifier_factory`` builds extra notifiers (Telegram) and
    ``component_factory`` the components (de-risking) from the validated settings; ``log_level``
    overrides the file's ``service.log_level``.

    Every configuration problem, including what the machine lacks, exits 2 before anything is
    created (the state file, the health server): systemd does not restart on 2."""
    # a watchdog SIGABRT on a hung loop then leaves the Python stack in the journal
    faulthandler.enable()
    try:
        settings = load_config(config_path)
    except ConfigError as exc:
        configure("console", "error")
        for key, msg in exc.problems:
            print(f"error: {key}: {msg}", file=sys.stderr)
        for key, msg in exc.missing:
            print(f"error: missing on this machine: {key}: {msg}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    register_secrets(s for a in settings.accounts for s in a.secrets)
    register_secrets([os.environ.get("TELEGRAM_BOT_TOKEN")])
    configure(settings.raw.service.log_format, log_level or settings.raw.service.log_level)
    log_format = settings.raw.service.log_format
    on_terminal = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    alert_log = LogNotifier(
        ConsoleNotifier(Console(stderr=True, highlight=False, soft_wrap=True)) if on_terminal else None
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            if stop.is_set():
                log.warning("already stopping", signal=sig.name)
                return
            log.info("signal received; stopping", signal=sig.name)
            _backstop(EXIT_FAILURE)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        loop.set_exception_handler(_quiet_closed_clients)
        try:
            notifiers = list(notifier_factory(settings)) if notifier_factory else []
            components = list(component_factory(settings)) if component_factory else []
        except Exception as exc:
            log.error("cannot set up the notifiers or components", error=f"{type(exc).__name__}: {exc}")
            return EXIT_FAILURE
        code = await serve(settings, stop, notifiers, components=components, alert_log=alert_log)
        if not stop.is_set():
            _backstop(code)  # exiting on our own (stale, start-up failure): same bound
        return code

    return asyncio.run(main())
