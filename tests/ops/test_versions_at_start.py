"""``monitor run`` says at start what it runs with, and warns loudly, once, when ccxt is untested.

The daemon is the real process against the simulator, Telegram the real notifier against a fake Bot
API. A ccxt outside the tested range is installed the way pip would record one: a ``ccxt-X.dist-info``
directory ahead of site-packages on the process's path, which is where the daemon reads the version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import ccxt
import pytest
import telegram as ptb

from monitor.daemon.versions import TESTED_CCXT
from monitor.sim.exchange import SimExchange

from .fake_telegram import FakeTelegram
from .helpers import MONITOR, DaemonProcess, clean_env, free_port, key_env, write_config

pytestmark = pytest.mark.slow

ACCOUNTS = ["main"]
FAKE_TOKEN = "123456789:AAF-fake_token_for_the_version_tests"


def fake_ccxt_install(root: Path, version: str) -> Path:
    """A directory holding only the metadata of ccxt ``version``, as pip writes it."""
    info = root / f"ccxt-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ccxt\nVersion: {version}\n")
    return root


async def run_once(
    tmp_path: Path, sim: SimExchange, telegram: FakeTelegram, **env: str
) -> list[dict[str, Any]]:
    """Start the daemon, wait until it is healthy, stop it (the outbox is flushed on the way out) and
    return its log records."""
    port = free_port()
    cfg = write_config(
        tmp_path / "config.toml",
        sim,
        ACCOUNTS,
        health_port=port,
        state_file=tmp_path / "state.sqlite3",
    )
    environ = clean_env(
        **key_env(sim, ACCOUNTS),
        TELEGRAM_BOT_TOKEN=FAKE_TOKEN,
        TELEGRAM_CHAT_ID="777000",
        TELEGRAM_API_BASE_URL=telegram.base_url,
        **env,
    )
    daemon = DaemonProcess(
        [MONITOR, "run", "--config", str(cfg)], environ, tmp_path, f"http://127.0.0.1:{port}"
    )
    await daemon.start()
    try:
        await daemon.wait_healthy()
        code, _ = await daemon.signal_and_wait()
    finally:
        await daemon.kill()
    out = daemon.output()
    assert code == 0, out[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def ccxt_texts(telegram: FakeTelegram) -> list[str]:
    return [t for t in telegram.sent_texts() if "ccxt" in t]


async def test_logs_the_versions_and_stays_quiet_with_a_tested_ccxt(tmp_path: Path, make_sim: Any) -> None:
    sim: SimExchange = await make_sim("small", "calm", speed=5)
    telegram = FakeTelegram()
    await telegram.start()
    try:
        records = await run_once(tmp_path, sim, telegram)
    finally:
        await telegram.stop()
    (versions,) = [r for r in records if r["event"] == "versions"]
    assert versions["ccxt"] == ccxt.__version__ and versions["ccxt"] in TESTED_CCXT
    assert versions["python_telegram_bot"] == ptb.__version__
    assert versions["monitor"] == "0.1.0"
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert not [r for r in records if r["event"] == "ccxt outside the tested range"]
    assert any(c.method == "getMe" for c in telegram.calls), "the Telegram notifier never connected"
    assert ccxt_texts(telegram) == []


async def test_an_untested_ccxt_is_a_warning_in_the_log_and_one_telegram_message(
    tmp_path: Path, make_sim: Any
) -> None:
    sim: SimExchange = await make_sim("small", "calm", speed=5)
    untested = TESTED_CCXT.below + ".1"
    path = fake_ccxt_install(tmp_path / "site", untested)
    telegram = FakeTelegram()
    await telegram.start()
    try:
        records = await run_once(tmp_path, sim, telegram, PYTHONPATH=str(path))
    finally:
        await telegram.stop()
    (versions,) = [r for r in records if r["event"] == "versions"]
    assert versions["ccxt"] == untested
    (warning,) = [r for r in records if r["event"] == "ccxt outside the tested range"]
    assert warning["level"] == "warning" and warning["ccxt"] == untested
    assert warning["tested"] == str(TESTED_CCXT)
    (text,) = ccxt_texts(telegram)
    assert f"ccxt {untested} is outside the range" in text and str(TESTED_CCXT) in text
    assert "DANGER" in text
