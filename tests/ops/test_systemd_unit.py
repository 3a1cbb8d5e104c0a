"""``systemd/monitor.service``, checked without booting systemd.

- ``systemd-analyze verify`` accepts it and ``systemd-analyze security --offline=yes`` scores it low;
- its contract with the daemon holds (notify + watchdog, restart policy, credential names the config
  uses, stop timeout above the daemon's own bound, an ExecStart our CLI parses);
- the daemon really runs under its restrictions: ``MemoryDenyWriteExecute`` and the system call filter
  are applied to a ``monitor run`` process by ``confine.py`` (the same kernel mechanisms systemd uses),
  which then watches the simulator and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.commands.cli import build_parser
from monitor.daemon import runner
from monitor.daemon.config import parse_config
from monitor.sim.exchange import SimExchange

from .helpers import MONITOR, DaemonProcess, clean_env, free_port, key_env, write_config

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "monitor.service"
CONFINE = Path(__file__).with_name("confine.py")
MAX_EXPOSURE = 1.5  # measured 1.1; what is left is network access the monitor needs, and the RTC


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """``(section, key, value)`` in file order, comments and blank lines skipped."""
    section = ""
    out: list[tuple[str, str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


ENTRIES = unit_entries(UNIT.read_text())


def values(key: str) -> list[str]:
    return [v for _, k, v in ENTRIES if k == key]


def one(key: str) -> str:
    found = values(key)
    assert len(found) == 1, f"{key}: {found}"
    return found[0]


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    """The ``systemd-analyze`` binary, installed with apt when missing."""
    found = shutil.which("systemd-analyze")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("systemd-analyze is not installed and there is no apt-get to install it")
    for step in (
        [apt, "install", "-y", "-q", "systemd"],
        [apt, "update", "-q"],
        [apt, "install", "-y", "-q", "systemd"],
    ):
        subprocess.run(step, capture_output=True, timeout=300, check=False)
        found = shutil.which("systemd-analyze")
        if found:
            return found
    pytest.skip("systemd-analyze is not installed and `apt-get install systemd` did not provide it")


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "min": 60, "": 1}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min|)", value)
    assert m, value
    return float(m.group(1)) * units[m.group(2)]


def test_verify_accepts_the_unit(systemd_analyze: str, tmp_path: Path) -> None:
    # verify insists that ExecStart's program exists: point it at this installation's `monitor`
    copy = tmp_path / "monitor.service"
    copy.write_text(UNIT.read_text().replace("/opt/monitor/bin/monitor", MONITOR))
    result = subprocess.run(
        [systemd_analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_security_exposure_stays_low(systemd_analyze: str) -> None:
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    m = re.search(r"Overall exposure level for monitor\.service: (\d+(?:\.\d+)?)", result.stdout)
    assert m, result.stdout + result.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE, result.stdout
    for option in (
        "MemoryDenyWriteExecute=",
        "NoNewPrivileges=",
        "SystemCallFilter=~@privileged",
        "PrivateDevices=",
    ):
        line = next((ln for ln in result.stdout.splitlines() if option in ln), "")
        assert line.lstrip().startswith("✓"), f"{option}: {line!r}"


def test_unit_contract_with_the_daemon() -> None:
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    # the supervisor checks health every second at most: a ping interval of several seconds leaves room
    # for a slow scrape or a busy tick without a spurious restart
    assert _seconds(one("WatchdogSec")) / 2 >= 5
    assert one("Restart") == "on-failure"
    assert one("RestartPreventExitStatus") == str(runner.EXIT_BAD_CONFIG)
    assert _seconds(one("TimeoutStopSec")) > runner.BACKSTOP_S + 1
    assert runner.SHUTDOWN_DEADLINE_S < runner.BACKSTOP_S < 10
    assert one("DynamicUser") == "yes"
    assert one("StateDirectory") == "monitor"
    assert one("UMask") == "0077"
    for env in values("Environment"):
        assert not re.search(r"(?i)key|secret|token|password", env), env

    argv = shlex.split(one("ExecStart"))
    assert argv[0].startswith("/") and argv[0].endswith("/monitor")
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.config == "/etc/monitor/config.toml"


def test_credential_names_match_the_documented_config(tmp_path: Path) -> None:
    """What LoadCredential= provides is what ``$CREDENTIALS_DIRECTORY/...`` in the config reads."""
    creds = {}
    for value in values("LoadCredential"):
        name, _, source = value.partition(":")
        assert source.startswith("/etc/monitor/credentials/"), value
        creds[name] = f"value-of-{name}-0123456789"
        (tmp_path / name).write_text(creds[name] + "\n")
    assert {"main_api_key", "main_api_secret", "telegram_bot_token"} <= set(creds)
    settings = parse_config(
        {
            "accounts": [
                {
                    "name": "main",
                    "venue": "binanceusdm",
                    "api_key_file": "$CREDENTIALS_DIRECTORY/main_api_key",
                    "api_secret_file": "$CREDENTIALS_DIRECTORY/main_api_secret",
                }
            ]
        },
        {"CREDENTIALS_DIRECTORY": str(tmp_path)},
    )
    assert settings.accounts[0].api_key == creds["main_api_key"]
    assert settings.accounts[0].secret == creds["main_api_secret"]

    from monitor.notify.settings import token_from_env

    assert token_from_env({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == creds["telegram_bot_token"]


# --- running under the unit's restrictions --------------------------------------------------------------


def syscall_groups(systemd_analyze: str) -> dict[str, list[str]]:
    """Every ``@group`` systemd knows, with its members (names and nested groups)."""
    out = subprocess.run(
        [systemd_analyze, "syscall-filter", "--no-pager"], capture_output=True, text=True, timeout=60
    )
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.split()[0], [])
        elif line.startswith(" ") and current is not None:
            item = line.strip()
            if item and not item.startswith("#"):
                current.append(item)
        else:
            current = None
    assert "@system-service" in groups and "@default" in groups
    return groups


def allowed_syscalls(filters: list[str], groups: dict[str, list[str]]) -> set[str]:
    """systemd's rule: the first ``SystemCallFilter=`` without ``~`` starts an allow list; ``~`` lines
    remove from it, later plain lines add to it."""

    def expand(item: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if not item.startswith("@"):
            return {item}
        assert item in groups, f"unknown group {item}"
        out: set[str] = set()
        for member in groups[item]:
            if member not in seen:
                out |= expand(member, seen | {item})
        return out

    allowed: set[str] | None = None
    for value in filters:
        deny = value.startswith("~")
        names = set().union(*(expand(i) for i in value.lstrip("~").split()))
        if allowed is None:
            assert not deny, "the unit's filter is meant to be an allow list"
            allowed = set()
        allowed = allowed - names if deny else allowed | names
    assert allowed
    return allowed


@pytest.fixture
def confined(systemd_analyze: str, tmp_path: Path) -> Iterator[list[str]]:
    """The argv prefix that runs a program under the unit's MemoryDenyWriteExecute and filter."""
    assert one("MemoryDenyWriteExecute") == "yes"
    allowed = allowed_syscalls(values("SystemCallFilter"), syscall_groups(systemd_analyze))
    assert "execve" in allowed and "setpriority" not in allowed and "setuid" not in allowed
    listing = tmp_path / "syscalls.txt"
    listing.write_text("\n".join(sorted(allowed)))
    prefix = [sys.executable, str(CONFINE), str(listing), "--"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "pass"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode in (97, 98):
        pytest.skip(f"cannot apply the unit's restrictions on this kernel: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr
    yield prefix


def test_confinement_is_real(confined: list[str]) -> None:
    """The restrictions bite: otherwise the daemon test below would prove nothing."""
    wx = "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)"
    result = subprocess.run([*confined, sys.executable, "-c", wx], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "PermissionError" in result.stderr
    nice = "import os; os.setpriority(os.PRIO_PROCESS, 0, 5)"  # @resources, denied by the unit
    result = subprocess.run(
        [*confined, sys.executable, "-c", nice], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0 and "Operation not permitted" in result.stderr
    ffi = (
        "import ctypes; f = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1); "
        "import sqlite3, ssl, aiohttp, ccxt.pro; print(f(41))"
    )
    result = subprocess.run(
        [*confined, sys.executable, "-c", ffi], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == "42", result.stderr


@pytest.mark.slow
async def test_daemon_runs_under_the_units_restrictions(
    confined: list[str], tmp_path: Path, make_sim: object
) -> None:
    sim: SimExchange = await make_sim("small", "calm", speed=5)  # type: ignore[operator]
    port = free_port()
    cfg = write_config(
        tmp_path / "config.toml", sim, ["main"], health_port=port, state_file=tmp_path / "state.sqlite3"
    )
    daemon = DaemonProcess(
        [*confined, MONITOR, "run", "--config", str(cfg)],
        clean_env(**key_env(sim, ["main"])),
        tmp_path,
        f"http://127.0.0.1:{port}",
    )
    await daemon.start()
    try:
        await daemon.wait_healthy()
        # a few mark ticks and metrics scrapes, under the filter
        async with aiohttp.ClientSession() as http:
            first, _ = await _scrape(http, daemon.health_url)
            deadline = time.monotonic() + 20
            while (scraped := await _scrape(http, daemon.health_url))[0] < first + 3:
                assert time.monotonic() < deadline, f"mark frames applied: {scraped[0]}, at start {first}"
                await asyncio.sleep(0.1)
        assert "monitor_position_margin_ratio" in scraped[1]
        code, took = await daemon.signal_and_wait()
    finally:
        await daemon.kill()
    out = daemon.output()
    assert code == 0, out[-3000:]
    assert took < 10
    assert "Operation not permitted" not in out and "PermissionError" not in out, out[-3000:]


async def _scrape(http: aiohttp.ClientSession, health_url: str) -> tuple[float, str]:
    """The mark frames the daemon has applied, by its ``/metrics``, and the whole page."""
    async with http.get(health_url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    frames = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "monitor_events_total" and sample.labels.get("type") == "MarkPrices"
    )
    return frames, text
