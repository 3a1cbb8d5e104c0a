"""A crash never loses an alert: ``monitor run`` killed between a decision and its message, then restarted.

The daemon runs as a separate process against the simulator, with the real Telegram notifier pointed
at the fake Bot API. The simulator's isolated SOL position sits 2 % from its liquidation price before
the daemon starts, so its first evaluation opens a critical episode straight away. The process is
killed with SIGKILL at a named point between that decision and its message reaching Telegram
(``monitor.daemon.crashpoints``), or from outside while the Bot API holds its answer, then started again
on the same state file. What Telegram received is counted after the second run drained its outbox
and stopped: the decided alert arrives exactly once, except where the Bot API may already have it,
and then any second copy says that it may be a duplicate.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.daemon import crashpoints
from monitor.notify.render import RESENT_PREFIX
from monitor.sim.exchange import SimExchange
from tests.notify.fake_bot_api import Call, FakeBotApi

from .helpers import MONITOR, DaemonProcess, clean_env, free_port, key_env, write_config

pytestmark = pytest.mark.slow

TOKEN = "123456789:AAHcrashTestTokenNotReal_0123456789abc"
CHAT = 1001
SOL = "SOL/USDT:USDT"


def critical_sol(calls: list[Call]) -> list[Call]:
    """The messages about the SOL episode (the status message and anything else are not counted)."""
    return [c for c in calls if SOL in c.text and "CRITICAL" in c.text]


class Rig:
    """The simulator, the fake Bot API and a config for ``monitor run`` over one state file."""

    def __init__(self, tmp_path: Path, sim: SimExchange, api: FakeBotApi) -> None:
        self.tmp_path, self.sim, self.api = tmp_path, sim, api
        self.port = free_port()
        self.config = write_config(
            tmp_path / "config.toml",
            sim,
            ["main"],
            health_port=self.port,
            state_file=tmp_path / "state.sqlite3",
            marks_seconds=3600,  # the simulator's clock is off: no staleness alert may join the count
        )
        with self.config.open("a", encoding="utf-8") as f:
            f.write(
                f'\n[telegram]\nchats = [{{ chat_id = {CHAT} }}]\napi_base_url = "{api.base_url}"\n'
                "status_minutes = 600\n"
            )
        self.runs = 0

    def daemon(self, crash_at: str | None = None) -> DaemonProcess:
        self.runs += 1
        workdir = self.tmp_path / f"run{self.runs}"
        workdir.mkdir()
        env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, **key_env(self.sim, ["main"]))
        if crash_at is not None:
            env[crashpoints.ENV] = crash_at
        return DaemonProcess(
            [MONITOR, "run", "--config", str(self.config)], env, workdir, f"http://127.0.0.1:{self.port}"
        )

    async def restart_and_drain(self) -> None:
        """Start again, unarmed; once ready (its first evaluation committed) with nothing left in the
        outbox, stop it with SIGTERM."""
        daemon = self.daemon()
        await daemon.start()
        try:
            await daemon.wait_health(lambda _, h: h["ready"] and h["outbox_pending"] == 0, within=60)
            code, _ = await daemon.signal_and_wait(signal.SIGTERM)
            assert code == 0, daemon.output()[-3000:]
        finally:
            await daemon.kill()


@pytest.fixture
async def rig(tmp_path: Path, make_sim: object) -> AsyncIterator[Rig]:
    sim: SimExchange = await make_sim("small", clock=False)  # type: ignore[operator]
    sol = next(leg for leg in sim.ledger.risk("main").legs if leg.symbol == "SOLUSDT")
    assert sol.liquidation_price is not None
    sim.set_mark("SOLUSDT", sol.liquidation_price * 1.02)  # 2 % away: critical at the first evaluation
    api = FakeBotApi(TOKEN)
    await api.start()
    yield Rig(tmp_path, sim, api)
    await api.stop()


# (point, copies Telegram ends with, which of them carry the "may be a duplicate" line)
EXPECTED = {
    crashpoints.STATE_WRITTEN: [False],  # nothing was committed: decided again after the restart
    crashpoints.COMMITTED: [False],
    crashpoints.RENDERED: [False],  # no attempt had started: certainly not delivered
    crashpoints.IN_FLIGHT: [True],  # an attempt had started: it may have arrived, so it says so
    crashpoints.ANSWERED: [False, True],  # Telegram had it: the second copy says it may be one
}


@pytest.mark.parametrize("point", crashpoints.POINTS)
async def test_a_kill_between_decision_and_send_loses_no_alert_and_flags_any_second_copy(
    rig: Rig, point: str
) -> None:
    first = rig.daemon(crash_at=point)
    await first.start()
    try:
        code = await first.wait_exit(within=60)
    finally:
        await first.kill()
    assert code == -signal.SIGKILL, f"the daemon did not die at {point}:\n{first.output()[-3000:]}"

    await rig.restart_and_drain()

    copies = critical_sol(rig.api.sent(CHAT))
    assert [c.text.startswith(RESENT_PREFIX) for c in copies] == EXPECTED[point], [c.text for c in copies]


async def test_a_kill_while_telegram_holds_its_answer_gives_a_second_copy_marked_as_such(rig: Rig) -> None:
    """The Bot API has accepted the message but its answer has not come back when the daemon dies."""
    rig.api.slow("sendMessage", seconds=3, text_contains=SOL)
    first = rig.daemon()
    await first.start()
    try:
        await rig.api.wait_for(lambda: bool(critical_sol(rig.api.calls)), timeout=60)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        assert await first.wait_exit(within=10) == -signal.SIGKILL
    finally:
        await first.kill()

    await rig.restart_and_drain()

    copies = critical_sol(rig.api.sent(CHAT))
    assert [c.text.startswith(RESENT_PREFIX) for c in copies] == [False, True], [c.text for c in copies]
