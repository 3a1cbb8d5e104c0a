"""Fixtures of the ops tests: stand-ins for systemd's notification socket."""

from __future__ import annotations

import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


class NotifySocket:
    """A bound datagram socket standing in for systemd's notification socket."""

    def __init__(self, address: str | bytes, env_name: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(2.0)
        self.env_name = env_name

    def receive(self) -> list[str]:
        return self.sock.recv(4096).decode().split("\n")

    def pending(self) -> list[list[str]]:
        """Every datagram already queued, without waiting."""
        out: list[list[str]] = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(4096).decode().split("\n"))
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(2.0)
        return out


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="sd-", dir="/tmp") as d:
        yield Path(d)


@pytest.fixture
def path_socket(short_dir: Path) -> Iterator[NotifySocket]:
    path = short_dir / "notify"
    s = NotifySocket(str(path), str(path))
    yield s
    s.sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[NotifySocket]:
    name = f"monitor-test-{uuid.uuid4().hex}"
    s = NotifySocket(b"\0" + name.encode(), "@" + name)
    yield s
    s.sock.close()
