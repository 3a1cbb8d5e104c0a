"""What ``monitor run`` assembles, end to end: the daemon against the simulator, Telegram (the real
python-telegram-bot client against the fake Bot API) with the daemon's own ports, and de-risking
behind the buttons, all from one TOML file and the environment."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.alerts import Level
from monitor.daemon.app import App
from monitor.daemon.config import load_config
from monitor.daemon.runner import serve
from monitor.notify.telegram import TelegramNotifier
from monitor.sim.exchange import SimExchange
from tests.notify.conftest import make_alert
from tests.notify.fake_bot_api import Call, FakeBotApi

TOKEN = "123456789:AAHappTokenNotARealOne_0123456789abcd"
CHAT = 1001
OWNER = 42
STRANGER = 7


def config(sim: SimExchange, tmp: Path) -> Path:
    path = tmp / "monitor.toml"
    path.write_text(
        f"""
[service]
state_file = "{tmp / "state.sqlite3"}"
log_format = "json"

[[accounts]]
name = "main"
venue = "binanceusdm"

[endpoints.binanceusdm]
rest_url = "{sim.http_url}"
ws_url = "{sim.ws_url}"

[telegram]
allowed_user_ids = [{OWNER}]
[[telegram.chats]]
chat_id = {CHAT}
min_level = "info"

[health]
enabled = false

[derisk]
dry_run = true
[derisk.modes]
main = "suggest"
"""
    )
    return path


async def test_monitor_run_assembly(sim: SimExchange, tmp_path: Path) -> None:
    api = FakeBotApi(TOKEN)
    await api.start()
    keys = sim.accounts["main"]
    env = {
        "MONITOR_MAIN_API_KEY": keys.api_key,
        "MONITOR_MAIN_API_SECRET": keys.secret,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
    }
    settings = load_config(config(sim, tmp_path), env)
    app = App(env)
    stop = asyncio.Event()
    run = asyncio.create_task(
        serve(settings, stop, app.notifiers(settings), components=app.components(settings), environ=env)
    )
    try:
        await api.wait_for(lambda: bool(api.calls_to("getUpdates")), timeout=20)

        def replies(since: int) -> list[Call]:
            """Answers to commands: they quote the command, alerts do not."""
            return [c for c in api.sent(CHAT)[since:] if c.json("reply_parameters")]

        asked = [0]  # commands from allowed users, each answered once

        async def command(user: int, text: str, wait: float = 5.0) -> str | None:
            before = len(api.sent(CHAT))
            api.push_command(CHAT, user, text)
            asked[0] += user == OWNER
            try:
                await api.wait_for(lambda: bool(replies(before)), timeout=wait)
            except AssertionError:
                return None
            return replies(before)[0].text

        # the daemon's status answers once the gateway is bound (commands say "starting" before)
        for _ in range(20):
            reply = await command(OWNER, "/positions", wait=2.0)
            if reply and "SOL/USDT:USDT" in reply:
                break
            await asyncio.sleep(0.2)
        assert reply is not None and "SOL/USDT:USDT" in reply
        # every command asked so far answered first: a late answer is not one to the stranger
        await api.wait_for(lambda: len(replies(0)) >= asked[0], timeout=10)
        assert await command(STRANGER, "/status", wait=2.0) is None  # strangers get nothing

        # push the isolated SOL position to 3 % from its liquidation price: a critical alert with an
        # Add margin button reaches the chat
        lp = next(leg.liquidation_price for leg in sim.ledger.risk("main").legs if leg.symbol == "SOLUSDT")
        assert lp is not None
        before = len(api.sent(CHAT))
        sim.set_mark("SOLUSDT", lp * 1.03)
        await sim.publish_marks()

        def critical() -> Call | None:
            for call in api.sent(CHAT)[before:]:
                if "SOL/USDT:USDT" in call.text and "CRITICAL" in call.text and call.buttons:
                    return call
            return None

        await api.wait_for(lambda: critical() is not None, timeout=10)
        alert = critical()
        assert alert is not None
        add = next(data for label, data in alert.buttons if "margin" in label.lower())

        # press: a preview computed by the margin engine through the gateway, with Confirm
        answers = len(api.answers)
        api.push_callback(CHAT, OWNER, alert.message_id, add)
        await api.wait_for(
            lambda: (
                len(api.answers) > answers
                and any("Confirm" in lbl for c in api.sent(CHAT) for lbl, _ in c.buttons)
            ),
            timeout=10,
        )
        preview = next(c for c in reversed(api.sent(CHAT)) if any("Confirm" in lbl for lbl, _ in c.buttons))
        assert "liq" in preview.text.lower() or "liquidation" in preview.text.lower()
        confirm = next(data for label, data in preview.buttons if "Confirm" in label)
        requests_before = len(sim.rest.requests)
        api.push_callback(CHAT, OWNER, preview.message_id, confirm)
        await api.wait_for(
            lambda: "dry-run" in api.messages[(CHAT, preview.message_id)]["text"].lower(), timeout=10
        )
        # dry-run: the journal has it, the exchange saw no margin transfer
        assert not [r for r in sim.rest.requests[requests_before:] if "positionMargin" in str(r)]

        # /halt reaches the gateway
        reply = await command(OWNER, "/halt")
        assert reply is not None and "HALTED" in reply
    finally:
        stop.set()
        code = await asyncio.wait_for(run, 15)
        await api.stop()
    assert code == 0


async def test_buttons_follow_the_configured_derisk_modes(tmp_path: Path) -> None:
    """``monitor run``'s notifier offers Reduce / Close only for an account whose mode allows them."""
    api = FakeBotApi(TOKEN)
    await api.start()
    path = tmp_path / "monitor.toml"
    path.write_text(
        f"""
[service]
state_file = "{tmp_path / "state.sqlite3"}"

[[accounts]]
name = "main"
venue = "binanceusdm"

[[accounts]]
name = "desk"
venue = "binanceusdm"

[telegram]
[[telegram.chats]]
chat_id = {CHAT}

[derisk.modes]
desk = "suggest"
"""
    )
    env = {
        "MONITOR_MAIN_API_KEY": "k" * 16,
        "MONITOR_MAIN_API_SECRET": "s" * 16,
        "MONITOR_DESK_API_KEY": "K" * 16,
        "MONITOR_DESK_API_SECRET": "S" * 16,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
    }
    [notifier] = App(env).notifiers(load_config(path, env))

    def alerts() -> list[Call]:
        return [c for c in api.sent(CHAT) if "BTC/USDT" in c.text]

    assert isinstance(notifier, TelegramNotifier)
    await notifier.start()
    try:
        for account in ("main", "desk"):
            notifier.enqueue([make_alert(key=f"risk:{account}", account=account, level=Level.DANGER)])
        await api.wait_for(lambda: len(alerts()) == 2, timeout=10)
    finally:
        await notifier.stop(flush_timeout_s=1)
        await api.stop()
    buttons = {next(a for a in ("main", "desk") if a in c.text): c.buttons for c in alerts()}
    assert buttons["main"] == []  # de-risking is off for main (the default mode)
    assert [label for label, _ in buttons["desk"]] == ["BTC/USDT −25 %", "BTC/USDT −50 %", "BTC/USDT Close"]
