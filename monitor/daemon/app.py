"""What ``monitor run`` assembles around the daemon: Telegram and de-risking.

The runner builds notifiers before the daemon (so nothing said at start-up is lost) and components
after its streams are live. Telegram's commands and buttons need both, so they go through late-bound
ports that this assembly binds once the de-risking gateway exists.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence

from monitor.actions.port import allowed_actions
from monitor.actions.wiring import Derisking, build_derisking
from monitor.daemon.config import Settings
from monitor.daemon.health import Extras
from monitor.daemon.ports import LatePorts
from monitor.daemon.runner import Component, ComponentFactory
from monitor.daemon.service import Daemon, Notifier
from monitor.daemon.store import open_db
from monitor.logs import get_logger, register_secrets
from monitor.notify.telegram import TelegramNotifier

log = get_logger(__name__)


class DeriskComponent:
    """De-risking as a runner component: started once the streams are live, stopped first."""

    def __init__(self, daemon: Daemon, settings: Settings, ports: LatePorts) -> None:
        self.derisking: Derisking = build_derisking(daemon, settings.derisk)
        self.ports = ports
        self.daemon = daemon

    async def start(self) -> object:
        recovered = await self.derisking.start()
        self.ports.bind(self.daemon, self.derisking.gateway, self.derisking.actions)
        return recovered

    async def stop(self) -> None:
        await self.derisking.stop()

    def extras(self) -> Extras:
        gateway = self.derisking.gateway

        def orders() -> Mapping[str, int]:
            return Counter(str(entry.state) for entry in gateway.journal.entries(limit=1_000))

        return Extras(trading_state=lambda: gateway.state.value, orders=orders)


class App:
    """The factories ``monitor.daemon.runner.run`` takes, sharing one set of late-bound Telegram ports."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.ports = LatePorts()

    def notifiers(self, settings: Settings) -> Sequence[Notifier]:
        tg = settings.telegram  # decided once by the config loader, as check-config shows it
        if tg is None:
            log.info("telegram: " + settings.telegram_decision + "; alerts go to the console and the log")
            return []
        register_secrets([tg.token])
        conn = open_db(settings.raw.service.state_file)
        return [
            TelegramNotifier(
                tg,
                conn,
                status=self.ports,
                control=self.ports,
                actions=self.ports,
                allowed_actions=allowed_actions(settings.derisk),
            )
        ]

    def components(self, settings: Settings) -> Sequence[ComponentFactory]:
        def derisk(daemon: Daemon) -> Component:
            return DeriskComponent(daemon, settings, self.ports)

        return [derisk]
