"""Shared pieces of the ops tests: a config pointing at a simulator, and ``monitor run`` as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from monitor.sim.exchange import SimExchange

MONITOR = str(Path(sys.executable).with_name("monitor"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    path: Path,
    sim: SimExchange,
    accounts: list[str],
    *,
    health_port: int,
    state_file: Path,
    heartbeat: Path | None = None,
    stale_exit_seconds: float = 0,
    marks_seconds: float = 15,
    log_level: str = "info",
    extra_account_lines: dict[str, str] | None = None,
) -> Path:
    """A TOML config for ``accounts`` of ``sim``; their keys come from ``MONITOR_<NAME>_API_*``."""
    lines = [
        "[service]",
        f'state_file = "{state_file}"',
        'log_format = "json"',
        f'log_level = "{log_level}"',
        "resync_seconds = 5",
        f"stale_exit_seconds = {stale_exit_seconds}",
        "",
    ]
    for name in accounts:
        lines += ["[[accounts]]", f'name = "{name}"', 'venue = "binanceusdm"']
        lines += (extra_account_lines or {}).get(name, "").splitlines()
        lines.append("")
    lines += [
        "[endpoints.binanceusdm]",
        f'rest_url = "{sim.http_url}"',
        f'ws_url = "{sim.ws_url}"',
        "",
        "[policy.staleness]",
        f"marks_seconds = {marks_seconds}",
        f"symbol_mark_seconds = {marks_seconds}",
        "",
        "[health]",
        f'listen = "127.0.0.1:{health_port}"',
    ]
    if heartbeat is not None:
        lines.append(f'heartbeat_file = "{heartbeat}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def key_env(sim: SimExchange, accounts: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in accounts:
        keys = sim.accounts[name]
        env[f"MONITOR_{name.upper()}_API_KEY"] = keys.api_key
        env[f"MONITOR_{name.upper()}_API_SECRET"] = keys.secret
    return env


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without anything systemd-like that would leak into the daemon."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MONITOR_", "TELEGRAM_", "NOTIFY_SOCKET", "WATCHDOG_", "CREDENTIALS_DIRECTORY"))
    }
    env.update(extra)
    return env


@dataclass
class DaemonProcess:
    """``monitor run`` (or any argv) as a child process with its output captured to files."""

    argv: list[str]
    env: dict[str, str]
    workdir: Path
    health_url: str
    proc: asyncio.subprocess.Process | None = None
    stdout: Path = field(init=False)
    stderr: Path = field(init=False)

    def __post_init__(self) -> None:
        self.stdout = self.workdir / "daemon.stdout"
        self.stderr = self.workdir / "daemon.stderr"

    async def start(self) -> None:
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, cwd=self.workdir, env=self.env, stdout=out, stderr=err
            )

    async def health(self, session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]] | None:
        try:
            async with session.get(self.health_url + "/healthz") as resp:
                return resp.status, await resp.json()
        except (aiohttp.ClientError, OSError):
            return None

    async def wait_healthy(self, within: float = 30.0) -> dict[str, Any]:
        """Until ``/healthz`` says ok: ready and every stream fresh."""
        return await self.wait_health(lambda code, h: code == 200 and h["ok"], within)

    async def wait_users_connected(self, within: float = 30.0) -> dict[str, Any]:
        """Until the daemon is ready with every user stream subscribed (a paused simulator sends no
        marks, and the mark stream counts as connected from its first frame)."""
        return await self.wait_health(
            lambda code, h: (
                h["ready"]
                and all(s["connected"] for name, s in h["streams"].items() if name.endswith(":user"))
            ),
            within,
        )

    async def wait_health(
        self, predicate: Callable[[int, dict[str, Any]], bool], within: float = 30.0
    ) -> dict[str, Any]:
        assert self.proc is not None
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.output()[-3000:]}")
                answer = await self.health(session)
                if answer is not None and predicate(*answer):
                    return answer[1]
                await asyncio.sleep(0.1)
        raise AssertionError(f"daemon not as expected within {within} s:\n{self.output()[-3000:]}")

    async def signal_and_wait(
        self, sig: signal.Signals = signal.SIGTERM, within: float = 15.0
    ) -> tuple[int, float]:
        """Send ``sig``; return the exit code and the seconds it took to exit."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), within)
        return code, time.monotonic() - t0

    async def wait_exit(self, within: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), within)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


REPO = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = REPO / "requirements" / "runtime.lock"
DEV_LOCK = REPO / "requirements" / "dev.lock"


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Typing_Extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` pin in a pip-compile lock file."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        found = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if found:
            pins[canonical(found.group(1))] = found.group(2)
    return pins
