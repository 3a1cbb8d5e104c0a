"""Putting the gateway, the de-risker and the ActionPort onto a running ``Daemon``.

Order matters: the gateway resolves what a previous process left in flight (``start``) once the
venue adapters are up and before the risk listener is installed, so nothing new can be sent while an
old order's fate is unknown. ``stop`` removes the listener and cancels running passes before the
daemon closes its clients; a pass cancelled mid-send leaves its row in "sending", which the next
start resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.actions.derisker import Derisker
from monitor.actions.gateway import Gateway, GatewayResult
from monitor.actions.port import GatewayActionPort
from monitor.actions.settings import DeriskSettings
from monitor.alerts import Alert
from monitor.model import Venue
from monitor.notify.ports import ActionPort

if TYPE_CHECKING:
    from monitor.daemon.service import Daemon


@dataclass
class Derisking:
    daemon: Daemon
    gateway: Gateway
    derisker: Derisker
    actions: GatewayActionPort

    async def start(self) -> list[GatewayResult]:
        """Resolve journal rows left in "sending", then listen. Returns what was resolved."""
        recovered = await self.gateway.start()
        if self.derisker.on_risks not in self.daemon.risk_listeners:
            self.daemon.risk_listeners.append(self.derisker.on_risks)
        return recovered

    async def stop(self) -> None:
        if self.derisker.on_risks in self.daemon.risk_listeners:
            self.daemon.risk_listeners.remove(self.derisker.on_risks)
        await self.derisker.stop()


def daemon_staleness(daemon: Daemon) -> Callable[[Venue, str, str], str | None]:
    """The daemon's own freshness clocks, with the policy's thresholds: the venue's mark stream, the
    account's user stream and the symbol's last mark must all be fresh to act."""

    def check(venue: Venue, account: str, symbol: str) -> str | None:
        now = daemon.clock()
        cfg = daemon.options.policy.staleness
        for stream in (f"{venue.value}:marks", f"{venue.value}:{account}:user"):
            last = daemon.freshness.get(stream)
            if not last:
                return f"{stream} has delivered nothing"
            if now - last >= cfg.threshold_ms(stream):
                return f"{stream} silent for {(now - last) / 1000:.1f} s"
        age = daemon.engine.mark_age_ms(venue.value, symbol, now)
        if age is None:
            return f"no streamed mark for {symbol}"
        if age >= cfg.symbol_mark_ms:
            return f"mark of {symbol} is {age / 1000:.1f} s old"
        return None

    return check


def build_derisking(
    daemon: Daemon,
    settings: DeriskSettings,
    on_alert: Callable[[Sequence[Alert]], None] | None = None,
    *,
    clock: Callable[[], int] | None = None,
) -> Derisking:
    """Everything de-risking needs, over the daemon's engine, adapters, clock and state file.

    ``on_alert`` receives the ACTION alerts; by default they go to the daemon's notifiers. Pass
    ``derisking.actions`` to the Telegram notifier as its ``ActionPort`` and route the ``halt`` /
    ``resume`` commands to ``derisking.gateway``.
    """

    def to_notifiers(alerts: Sequence[Alert]) -> None:
        for notifier in daemon.notifiers:
            notifier.enqueue(alerts)

    deliver = on_alert or to_notifiers
    accounts = {name: book.venue for name, book in daemon.engine.books.items()}
    gateway = Gateway(
        daemon.conn,
        settings,
        daemon.adapters,
        accounts,
        view=daemon.engine.account_view,
        staleness=daemon_staleness(daemon),
        clock=clock or daemon.clock,
        on_alert=deliver,
    )

    async def refresh(account: str) -> None:
        """A REST snapshot of the account, applied before returning."""
        await daemon.adapters[accounts[account]].resync(account)
        await daemon.drain()

    derisker = Derisker(gateway, settings, daemon.engine.account_view, on_alert=deliver, refresh=refresh)
    port = GatewayActionPort(gateway)
    _: ActionPort = port  # checked statically: the Telegram notifier takes it as its ActionPort
    return Derisking(daemon, gateway, derisker, port)
