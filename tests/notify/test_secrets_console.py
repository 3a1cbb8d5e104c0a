"""The bot token never reaches logs or the state file; the console prints one coloured line per alert."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console

from monitor.alerts import Level, Transition
from monitor.daemon.store import open_db
from monitor.notify.console import ConsoleNotifier
from monitor.notify.redact import TokenScrubFilter
from monitor.notify.settings import ChatSettings, TelegramSettings
from monitor.notify.telegram import TelegramNotifier

from .conftest import CHAT, FAST, STRANGER, TOKEN, NotifierFactory, Ports, make_alert
from .fake_bot_api import FakeBotApi

# PTB itself reads its deprecated ``RetryAfter.retry_after`` while building the exception.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


OTHER_TOKEN = "987654321:AAHanotherTokenThatTheServerRejects_x"


async def test_the_token_never_appears_in_logs_or_the_state_file(
    api: FakeBotApi,
    make_notifier: NotifierFactory,
    ports: Ports,
    db_path: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    n = make_notifier()
    await n.start()
    await api.wait_for(lambda: len(api.calls_to("getUpdates")) >= 1)
    n.enqueue([make_alert("risk:a", Level.CRITICAL)])
    assert await n.wait_idle(5)
    api.rate_limit("sendMessage", times=1, retry_after=1)
    api.bad_request("sendMessage", times=1)
    n.enqueue([make_alert("risk:b")])
    n.enqueue([make_alert("risk:c")])
    api.push_command(CHAT, STRANGER, "/status")
    await api.outage("502")
    n.enqueue([make_alert("risk:d")])
    await api.wait_for(lambda: any(c.status == 502 for c in api.calls), timeout=5)
    await api.recover()
    assert await n.wait_idle(5)
    await n.stop()

    # a token the server rejects: PTB's own InvalidToken message quotes it
    rejected = TelegramNotifier(
        TelegramSettings(
            token=OTHER_TOKEN, chats=(ChatSettings(CHAT),), api_base_url=api.base_url, tuning=FAST
        ),
        open_db(tmp_path / "other.sqlite3"),
        status=ports.status,
        control=ports.control,
        actions=ports.actions,
    )
    await rejected.start()
    await api.wait_for(lambda: any(c.status == 401 for c in api.calls), timeout=5)
    assert not await rejected.wait_ready(0.3)
    await rejected.stop(flush_timeout_s=0.1)

    # the check can fail: httpx did log request URLs, and they were scrubbed
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text and "<redacted-token>" in caplog.text
    assert "rejected the bot token" in caplog.text
    for token in (TOKEN, OTHER_TOKEN):
        secret = token.split(":")[1]
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in (record.exc_text or "")
        for name, content in state_files(tmp_path).items():
            assert secret.encode() not in content, name


def state_files(directory: Path) -> dict[str, bytes]:
    """The SQLite files with their WAL and shared-memory companions."""
    files = {f.name: f.read_bytes() for f in directory.glob("*.sqlite3*")}
    assert any(name.endswith("-wal") for name in files)  # the check covers the write-ahead log too
    return files


def test_the_filter_scrubs_messages_arguments_and_tracebacks() -> None:
    f = TokenScrubFilter([TOKEN])
    try:
        raise RuntimeError(f"boom at /bot{TOKEN}/getMe")
    except RuntimeError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "GET %s", (f"/bot{TOKEN}/x",), exc_info)
    assert f.filter(record)
    assert TOKEN not in record.getMessage() and "<redacted-token>" in record.getMessage()
    assert record.exc_text is not None and TOKEN not in record.exc_text and "RuntimeError" in record.exc_text


def test_console_prints_one_coloured_line_per_alert() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=300)
    notifier = ConsoleNotifier(console)
    notifier.enqueue(
        [
            make_alert("risk:a", Level.WARN, message="warn [bold]not markup[/bold]"),
            make_alert("risk:b", Level.CRITICAL, message="critical one"),
            make_alert("risk:c", Level.OK, Transition.CLOSED, previous_level=Level.DANGER, message="closed"),
        ]
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "[bold]not markup[/bold]" in lines[0]
    assert "\x1b[33m" in lines[0]  # yellow
    assert "41m" in lines[1]  # red background
    assert "OK" in lines[2] and "closed" in lines[2]  # the policy's message carries the change
    quiet = ConsoleNotifier(Console(file=io.StringIO()), min_level=Level.DANGER)
    quiet.enqueue([make_alert(level=Level.WARN)])
