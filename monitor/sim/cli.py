"""``monitor sim``: the simulated exchange on its own, for paper-testing a real config against it.

Prints where it listens, how to point ccxt at it, and each account's simulator API key and secret
(generated from the seed; they open nothing but this simulator), then a ready ``[[accounts]]`` and
``[endpoints]`` block and the ``export`` lines for its keys, so pointing ``monitor run`` at it is copy
and paste. Then runs until cancelled, printing the scenario's timeline notes and every liquidation it
performs.

The scenario's clock waits for the first client on the market stream, as the demo's waits for the
monitor: pasting the config and starting ``monitor run`` takes longer than the ten seconds after which
``--scenario cascade`` crashes the market, and a monitor that starts after the crash has nothing to warn
about. Until then the market holds its opening marks and REST answers as usual.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from monitor.sim.exchange import SimExchange

DEFAULT_PORT = 8765


def describe(sim: SimExchange) -> str:
    """The banner ``run_sim`` prints: URLs, a ccxt snippet and the accounts with their keys."""
    lines = [
        f"simulated {sim.dialect.title} exchange: book {sim.book.name!r}, scenario {sim.scenario.name!r}, "
        f"speed x{sim.speed:g}, seed {sim.seed}",
        *sim.dialect.describe(sim),
        "  accounts (simulator keys, valid only here):",
    ]
    for name, keys in sim.accounts.items():
        acct = sim.ledger.account(name)
        mode = "hedge" if acct.hedge_mode else "one-way"
        lines.append(f"    {name:<12} {mode:<8} key {keys.api_key}")
        lines.append(f"    {'':<12} {'':<8} secret {keys.secret}")
    return "\n".join([*lines, "", ready_config(sim)])


def ready_config(sim: SimExchange) -> str:
    """A config block for the simulator's accounts and the shell lines that give them their keys."""
    from monitor.daemon.config import default_secret_env

    lines = ["# --- paste into your config file (e.g. sim.toml) -----------------------------------"]
    venue = sim.dialect.name
    for name in sim.accounts:
        lines += ["[[accounts]]", f'name = "{name}"', f'venue = "{venue}"', ""]
    lines += [
        f"[endpoints.{venue}]",
        f'rest_url = "{sim.http_url}"',
        f'ws_url = "{sim.ws_url}"',
        "",
        "# --- then, in the shell that runs `monitor run --config sim.toml` ----------------------",
    ]
    for name, keys in sim.accounts.items():
        lines.append(f"export {default_secret_env(name, 'API_KEY')}={keys.api_key}")
        lines.append(f"export {default_secret_env(name, 'API_SECRET')}={keys.secret}")
    return "\n".join(lines)


async def run_sim(
    book: str = "demo",
    scenario: str = "calm",
    speed: float = 1.0,
    port: int = DEFAULT_PORT,
    *,
    host: str = "127.0.0.1",
    seed: int = 0,
    out: TextIO | None = None,
    venue: str = "binanceusdm",
) -> None:
    """Start the simulator, print its banner, and run until the task is cancelled."""
    stream = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    sim = SimExchange(
        book, scenario, speed=speed, seed=seed, host=host, port=port, dialect=venue, clock=False
    )
    sim.on_note = lambda t, text: say(f"[sim t={t:7.1f}s] {text}")
    await sim.start()
    try:
        say(describe(sim))
        say("\n[sim] the market holds still until a client subscribes to the market stream")
        reported = 0
        while True:
            await asyncio.sleep(0.2)
            if sim.paused and sim.streams.subscribers(None) > 0:
                sim.resume()
                say(f"[sim t={sim.sim_time:7.1f}s] a client is on the market stream: the scenario starts")
            for rec in sim.liquidations[reported:]:
                say(
                    f"[sim t={rec.sim_time:7.1f}s] LIQUIDATED {rec.account} {rec.symbol} "
                    f"{rec.side.value} {rec.contracts:g} ({rec.margin_mode.value}) at {rec.mark_price:g}"
                )
            reported = len(sim.liquidations)
    finally:
        await sim.stop()
