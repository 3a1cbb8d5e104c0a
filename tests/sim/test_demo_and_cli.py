"""The demo run over the wire, and the ``monitor sim`` entry point."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from typing import Any

import aiohttp

from monitor.sim.cli import describe, run_sim
from monitor.sim.exchange import SimExchange


async def test_demo_over_the_wire(make_sim: Any) -> None:
    sim: SimExchange = await make_sim("demo", "demo", clock=False)
    headers = {"X-MBX-APIKEY": sim.accounts["isolated"].api_key}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.http_url}/fapi/v1/listenKey", headers=headers) as resp:
            key = (await resp.json())["listenKey"]
        async with (
            http.ws_connect(f"{sim.ws_url}/market/ws/0") as market,
            http.ws_connect(f"{sim.ws_url}/private/ws?listenKey={key}") as user,
        ):
            await market.send_str(
                json.dumps({"method": "SUBSCRIBE", "params": ["!markPrice@arr@1s"], "id": 1})
            )
            assert json.loads((await market.receive(timeout=2)).data) == {"result": None, "id": 1}
            async with asyncio.timeout(2):
                await sim.wait_user_connections("isolated")
            await sim.step(79)
            mark_frames = 0
            while True:
                try:
                    msg = await market.receive(timeout=0.2)
                except TimeoutError:
                    break
                assert isinstance(json.loads(msg.data), list)
                mark_frames += 1
            assert mark_frames == 79 - 20  # the feed was stalled from t=50 to t=70
            events = []
            while True:
                try:
                    events.append(json.loads((await user.receive(timeout=0.2)).data))
                except TimeoutError:
                    break
            kinds = [e["e"] for e in events]
            assert "MARGIN_CALL" in kinds
            liquidation = next(e for e in events if e["e"] == "ORDER_TRADE_UPDATE")["o"]
            assert liquidation["c"].startswith("autoclose-") and liquidation["s"] == "DOGEUSDT"
            assert kinds.index("MARGIN_CALL") < kinds.index("ORDER_TRADE_UPDATE")
            await sim.step(1)  # t=80: the tick's marks, then every connection is dropped
            assert (await market.receive(timeout=2)).type == aiohttp.WSMsgType.TEXT
            msg = await market.receive(timeout=2)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await sim.step(40)
    assert sim.finished.is_set()
    assert [(r.account, r.symbol) for r in sim.liquidations] == [("isolated", "DOGEUSDT")]
    assert any("stalls" in text for _, text in sim.notes)


class Console(io.StringIO):
    """Captures output and signals when the banner is complete."""

    def __init__(self) -> None:
        super().__init__()
        self.banner = asyncio.Event()

    def write(self, text: str) -> int:
        if "secret" in text:
            self.banner.set()
        return super().write(text)


async def test_run_sim_prints_urls_and_keys_until_cancelled() -> None:
    out = Console()
    task = asyncio.create_task(run_sim("small", "calm", speed=20, port=0, out=out))
    async with asyncio.timeout(5):
        await out.banner.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    text = out.getvalue()
    assert "http://127.0.0.1:" in text and "/market/ws" in text and "point_at" in text
    for name in ("main", "hedge", "trader"):
        assert name in text


async def test_describe_lists_every_account_key(sim: SimExchange) -> None:
    text = describe(sim)
    for keys in sim.accounts.values():
        assert keys.api_key in text and keys.secret in text


async def test_the_printed_config_block_and_exports_make_a_valid_config(
    sim: SimExchange, tmp_path: Any
) -> None:
    """Paper-testing is copy and paste: the block goes in a file, the export lines in the shell."""
    from monitor.daemon.config import load_config

    text = describe(sim)
    block = text[text.index("[[accounts]]") : text.index("# --- then")]
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
    config = tmp_path / "sim.toml"
    config.write_text(f'[service]\nstate_file = "{tmp_path / "state.sqlite3"}"\n\n{block}')
    settings = load_config(config, env)
    assert {a.name: (a.api_key, a.secret) for a in settings.accounts} == {
        name: (keys.api_key, keys.secret) for name, keys in sim.accounts.items()
    }
    (endpoints,) = settings.endpoints.values()
    assert (endpoints.rest, endpoints.ws) == (sim.http_url, sim.ws_url)


async def test_run_sim_speaks_the_venue_asked_for_and_its_config_block_names_it(tmp_path: Any) -> None:
    from monitor.daemon.config import load_config

    out = Console()
    task = asyncio.create_task(run_sim("small", "calm", speed=20, port=0, out=out, venue="binancecoinm"))
    async with asyncio.timeout(5):
        await out.banner.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    text = out.getvalue()
    assert "simulated Binance COIN-M exchange" in text and "/dapi/v1/" in text and "/ws/<listenKey>" in text
    block = text[text.index("[[accounts]]") : text.index("# --- then")]
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
    config = tmp_path / "sim.toml"
    config.write_text(f'[service]\nstate_file = "{tmp_path / "state.sqlite3"}"\n\n{block}')
    settings = load_config(config, env)
    (venue,) = settings.venues
    assert venue.value == "binancecoinm"
    assert {a.name for a in settings.venues[venue]} == {"main", "iso", "hedge", "trader"}
    assert set(settings.endpoints) == {venue}
