"""Known secrets through a whole scenario: none reaches the logs, the state file or a message.

The daemon runs as ``monitor run`` would (a separate process, signals, JSON logs at debug level) with
the Telegram notifier wired in and pointed at a fake Bot API, against the simulator's demo scenario:
alerts at every level, a liquidation, a stalled mark feed, every connection dropped and resynced.
Keys arrive by all three routes the config supports: default environment variables, named ones, and
``$CREDENTIALS_DIRECTORY`` files as systemd's ``LoadCredential=`` provides them.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from monitor.sim.exchange import SimExchange

from .fake_telegram import FakeTelegram
from .helpers import DaemonProcess, clean_env, free_port, write_config

pytestmark = pytest.mark.slow

FAKE_TOKEN = "987654321:AAF-fake_telegram_token_for_tests_only"

# The Telegram notifier as configured from the environment, with Telegram's pacing shrunk so the
# whole scenario's messages go out during the run instead of queueing behind one per second.
LAUNCHER = """\
import dataclasses
import os
import sys

from monitor.notify.settings import TelegramSettings
from monitor.notify.telegram import TelegramNotifier
from monitor.notify.wiring import UnwiredActions, UnwiredControl, UnwiredStatus
from monitor.daemon.runner import run
from monitor.daemon.store import open_db


def notifiers(settings):
    tg = TelegramSettings.from_env(os.environ)
    fast = {"per_chat_interval_s": 0.02, "global_interval_s": 0.01, "status_interval_s": 2}
    tuning = dataclasses.replace(tg.tuning, **fast)
    return [
        TelegramNotifier(
            dataclasses.replace(tg, tuning=tuning),
            open_db(settings.raw.service.state_file),
            status=UnwiredStatus(),
            control=UnwiredControl(),
            actions=UnwiredActions(),
        )
    ]


sys.exit(run(sys.argv[1], notifier_factory=notifiers))
"""


def _state_bytes(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(state.parent.glob(state.name + "*")))


async def test_no_secret_in_logs_state_or_messages(tmp_path: Path, make_sim: object) -> None:
    # paused until the daemon watches, so it sees the scenario from its start
    sim: SimExchange = await make_sim("demo", "demo", speed=24, clock=False)  # type: ignore[operator]
    keys = sim.accounts
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "isolated_api_key").write_text(keys["isolated"].api_key + "\n")
    (creds / "isolated_api_secret").write_text(keys["isolated"].secret + "\n")
    telegram = FakeTelegram()
    await telegram.start()
    port = free_port()
    state = tmp_path / "state.sqlite3"
    cfg = write_config(
        tmp_path / "config.toml",
        sim,
        ["cross", "isolated", "hedge"],
        health_port=port,
        state_file=state,
        marks_seconds=1,
        log_level="debug",
        extra_account_lines={
            "isolated": 'api_key_file = "$CREDENTIALS_DIRECTORY/isolated_api_key"\n'
            'api_secret_file = "$CREDENTIALS_DIRECTORY/isolated_api_secret"',
            "hedge": 'api_key_env = "HEDGE_KEY"\napi_secret_env = "HEDGE_SECRET"',
        },
    )
    (tmp_path / "launch.py").write_text(LAUNCHER)
    env = clean_env(
        MONITOR_CROSS_API_KEY=keys["cross"].api_key,
        MONITOR_CROSS_API_SECRET=keys["cross"].secret,
        HEDGE_KEY=keys["hedge"].api_key,
        HEDGE_SECRET=keys["hedge"].secret,
        CREDENTIALS_DIRECTORY=str(creds),
        TELEGRAM_BOT_TOKEN=FAKE_TOKEN,
        TELEGRAM_CHAT_ID="777000",
        TELEGRAM_API_BASE_URL=telegram.base_url,
    )
    daemon = DaemonProcess(
        [sys.executable, str(tmp_path / "launch.py"), str(cfg)], env, tmp_path, f"http://127.0.0.1:{port}"
    )
    secrets = {FAKE_TOKEN, FAKE_TOKEN.split(":")[1]}
    for k in keys.values():
        secrets |= {k.api_key, k.secret}
    await daemon.start()
    try:
        await daemon.wait_users_connected()
        sim.resume()
        health = await daemon.wait_healthy()
        assert isinstance(health["outbox_pending"], int), "the Telegram outbox depth is reported"
        await asyncio.wait_for(sim.finished.wait(), timeout=30)
        for _ in range(100):  # let the last alerts of the scenario go out
            if any("liquidat" in t.lower() for t in telegram.sent_texts()):
                break
            await asyncio.sleep(0.1)
        while_running = _state_bytes(state)
        code, _ = await daemon.signal_and_wait()
    finally:
        await daemon.kill()
        await telegram.stop()
    logs = daemon.output()
    after_exit = _state_bytes(state)

    # the run really exercised what it claims to: otherwise "no secret found" would prove nothing
    assert code == 0, logs[-3000:]
    assert [r.account for r in sim.liquidations] == ["isolated"]
    texts = telegram.sent_texts()
    assert any("liquidat" in t.lower() for t in texts), texts
    assert len(texts) >= 5
    assert logs.count('"event": "alert"') > 20
    assert b"notify_outbox" in after_exit and len(while_running) > 10_000

    for secret in sorted(secrets):
        fragments = {secret, secret[:16]}  # a truncated key is still a leak
        for fragment in fragments:
            assert fragment not in logs, "secret in the daemon's output"
            assert fragment.encode() not in while_running, "secret in the state file (running)"
            assert fragment.encode() not in after_exit, "secret in the state file"
            for call in telegram.calls:
                for value in call.params.values():
                    assert fragment not in value, f"secret in a Bot API {call.method} call"
