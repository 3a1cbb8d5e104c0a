"""A Hyperliquid account configured by its address alone is monitored with no secret in the config or
the environment: the configuration file is read with an empty environment, the daemon builds the
registry's adapter from it, and the account's positions and marks reach the maths from the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from monitor.daemon.config import load_config
from monitor.daemon.runner import build_options
from monitor.daemon.service import Daemon
from monitor.sim.exchange import SimExchange


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def test_an_address_only_config_is_monitored_with_no_secret_anywhere(tmp_path: Path) -> None:
    async with SimExchange("small", clock=False, dialect="hyperliquid") as sim:
        address = sim.accounts["main"].address
        config = tmp_path / "monitor.toml"
        config.write_text(
            f"""
[[accounts]]
name = "main"
venue = "hyperliquid"
address = "{address}"

[endpoints.hyperliquid]
rest_url = "{sim.http_url}"
ws_url = "{sim.ws_url}"

[service]
state_file = "{tmp_path / "state.sqlite3"}"
""",
            encoding="utf-8",
        )
        settings = load_config(config, {})  # no environment at all
        (acct,) = settings.accounts
        assert acct.secrets == () and "secret" not in config.read_text()
        daemon = Daemon(build_options(settings), [])
        await daemon.start()
        try:
            await until(lambda: {"hyperliquid:marks", "hyperliquid:main:user"} <= daemon.connected)
            await until(lambda: "main" in daemon.engine.risks)
            risk = daemon.engine.risks["main"]
            assert {p.symbol for p in risk.positions} == {"BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC"}
            theirs = sim.ledger.risk("main")
            assert risk.cross is not None
            assert abs(risk.cross.margin_ratio - theirs.cross.ratio) <= 1e-9 * max(1.0, theirs.cross.ratio)
            sim.set_mark("BTCUSDT", 55_000.0)
            await sim.publish_marks()
            await until(lambda: daemon.engine.marks["hyperliquid"].get("BTC/USDC:USDC") == 55_000.0)
        finally:
            await daemon.stop()
        assert not any(path.startswith("/exchange") for _, path in sim.rest.requests)
