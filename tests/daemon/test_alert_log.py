"""Alerts in the log carry their severity; on a terminal they read as the demo prints them."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from rich.console import Console

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.daemon.runner import LogNotifier
from monitor.logs import QUIET_LIBRARIES, configure
from monitor.notify.console import ConsoleNotifier
from monitor.notify.render import render_line


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """``configure`` changes process-wide logging (the root and the libraries' levels); put it back so
    later tests see pytest's set-up."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    libraries = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    try:
        yield
    finally:
        root.handlers[:], root.level = saved
        for name, level in libraries.items():
            logging.getLogger(name).setLevel(level)
        structlog.reset_defaults()


@pytest.fixture
def records() -> Iterator[io.StringIO]:
    with logging_restored():
        stream = io.StringIO()
        configure("json", "debug", stream=stream)
        yield stream


def alert(level: Level, transition: Transition = Transition.OPENED, previous: Level | None = None) -> Alert:
    return Alert(
        key="risk:main:BTC/USDT:USDT:both",
        kind=AlertKind.RISK,
        level=level,
        transition=transition,
        venue="binanceusdm",
        account="main",
        message=f"BTC/USDT:USDT {level.label}",
        ts_ms=1,
        symbol="BTC/USDT:USDT",
        previous_level=previous,
    )


@pytest.mark.parametrize(
    ("level", "record"),
    [
        (Level.INFO, "info"),
        (Level.WARN, "warning"),
        (Level.DANGER, "error"),
        (Level.CRITICAL, "critical"),
    ],
)
def test_an_alert_record_level_follows_its_severity(records: io.StringIO, level: Level, record: str) -> None:
    LogNotifier().enqueue([alert(level)])
    (line,) = [json.loads(x) for x in records.getvalue().splitlines() if '"alert"' in x]
    assert line["level"] == record and line["alert_level"] == level.label


def test_a_close_is_logged_at_the_level_it_closes_from(records: io.StringIO) -> None:
    LogNotifier().enqueue([alert(Level.OK, Transition.CLOSED, previous=Level.DANGER)])
    (line,) = [json.loads(x) for x in records.getvalue().splitlines() if '"alert"' in x]
    assert line["level"] == "error"


def test_on_a_terminal_alerts_print_in_the_demo_format(records: io.StringIO) -> None:
    screen = io.StringIO()
    a = alert(Level.WARN)
    LogNotifier(ConsoleNotifier(Console(file=screen, width=200, color_system=None))).enqueue([a])
    assert screen.getvalue().strip() == render_line(a)
    assert '"alert"' not in records.getvalue()  # said once, not twice


def test_under_systemd_each_line_carries_its_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """journald reads a "<N>" prefix as the line's priority: `journalctl -p warning` then lists the
    warn, danger and critical alerts although the lines are JSON."""
    with (tmp_path / "journal").open("w") as stream, logging_restored():
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        configure("json", "info", stream=stream)
        LogNotifier().enqueue([alert(Level.INFO), alert(Level.WARN), alert(Level.CRITICAL)])
    lines = (tmp_path / "journal").read_text().splitlines()
    assert [line[:3] for line in lines] == ["<6>", "<4>", "<2>"]
    assert json.loads(lines[1][3:])["alert_level"] == "warn"


def test_elsewhere_lines_are_plain_json(records: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    LogNotifier().enqueue([alert(Level.WARN)])
    assert records.getvalue().startswith("{")
