"""A start-up failure reaches Telegram once per cause, naming the account, through restarts: ``serve``
as ``monitor run`` assembles it (the real python-telegram-bot client against the fake Bot API), the
simulator refusing a key or not listening, one SQLite state file throughout."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.daemon.app import App
from monitor.daemon.config import parse_config
from monitor.daemon.runner import serve
from monitor.daemon.startup import describe
from monitor.sim.exchange import SimExchange
from monitor.venues.base import StartError
from monitor.venues.errors import AuthenticationRefused
from tests.notify.fake_bot_api import Call, FakeBotApi

from .helpers import free_port

TOKEN = "123456789:AAHstartupReportTestToken_0123456789ab"
CHAT = 1001
BAD_KEY = "NotAKeyTheExchangeKnows0123456789"
BAD_SECRET = "NotTheSecretEither0123456789abcdef"


async def test_a_start_up_failure_is_told_once_per_cause_and_again_after_a_good_start(
    sim: SimExchange, tmp_path: Path
) -> None:
    api = FakeBotApi(TOKEN)
    await api.start()
    keys = sim.accounts["main"]
    unreachable = f"http://127.0.0.1:{free_port()}"

    async def run(
        api_key: str, secret: str, rest_url: str = sim.http_url, *, until_ready: bool = False
    ) -> int:
        env = {
            "MONITOR_MAIN_API_KEY": api_key,
            "MONITOR_MAIN_API_SECRET": secret,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": api.base_url,
        }
        settings = parse_config(
            {
                "service": {"state_file": str(tmp_path / "state.sqlite3")},
                "accounts": [{"name": "main", "venue": "binanceusdm"}],
                "endpoints": {"binanceusdm": {"rest_url": rest_url, "ws_url": sim.ws_url}},
                "telegram": {"chats": [{"chat_id": CHAT, "min_level": "info"}]},
                "health": {"enabled": False},
            },
            env,
        )
        app = App(env)
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve(settings, stop, app.notifiers(settings), components=app.components(settings), environ=env)
        )
        if until_ready:  # the pinned status appears once the daemon watches
            await api.wait_for(lambda: CHAT in api.pinned or task.done(), timeout=20)
            stop.set()
        return await asyncio.wait_for(task, 30)

    def reports() -> list[Call]:
        return [c for c in api.sent(CHAT) if "could not start" in c.text]

    try:
        assert await run(BAD_KEY, BAD_SECRET) == 1
        [first] = reports()
        assert "account main: the exchange rejected the API key" in first.text and "-2015" in first.text
        assert BAD_KEY not in first.text and BAD_SECRET not in first.text
        assert api.calls_to("pinChatMessage") == [], "no status is pinned by a monitor that never started"

        assert await run(BAD_KEY, BAD_SECRET) == 1  # systemd restarts it: nothing new to say
        assert len(reports()) == 1

        assert await run(keys.api_key, keys.secret, unreachable) == 1  # another cause: said
        assert len(reports()) == 2 and "binanceusdm: the exchange is unreachable" in reports()[1].text

        assert await run(keys.api_key, keys.secret, until_ready=True) == 0
        assert len(reports()) == 2 and len(api.calls_to("pinChatMessage")) == 1

        assert await run(BAD_KEY, BAD_SECRET) == 1  # after a good start the same failure is news again
        assert len(reports()) == 3
    finally:
        await api.stop()


def test_a_failure_is_described_without_secrets_or_signatures() -> None:
    try:
        try:
            raise AuthenticationRefused(
                f"binanceusdm GET https://fapi.binance.com/fapi/v2/account?timestamp=1&signature=abc "
                f"key {BAD_KEY} refused"
            )
        except AuthenticationRefused as exc:
            raise StartError("binanceusdm", "main") from exc
    except StartError as err:
        failure = describe(err, [BAD_KEY, None])
    assert (failure.account, failure.cause) == ("main", "the exchange rejected the API key")
    assert BAD_KEY not in failure.detail and "signature" not in failure.detail
    assert "account main" in failure.alert(0).message
    # the same cause in other words (timestamps, URLs) is the same failure; another account is not
    again = StartError("binanceusdm", "main")
    again.__cause__ = AuthenticationRefused("binanceusdm {code: -2015} at 12:00:01")
    other = StartError("binanceusdm", "desk")
    other.__cause__ = again.__cause__
    assert describe(again).key == failure.key != describe(other).key
