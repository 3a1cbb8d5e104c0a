"""The sd_notify protocol against real AF_UNIX datagram sockets, as systemd binds them."""

from __future__ import annotations

import os

import pytest

from monitor.daemon.sdnotify import SdNotifier, socket_address, watchdog_seconds

from .conftest import NotifySocket


@pytest.mark.parametrize("kind", ["path_socket", "abstract_socket"])
def test_state_changes_reach_the_socket(kind: str, request: pytest.FixtureRequest) -> None:
    sock: NotifySocket = request.getfixturevalue(kind)
    sd = SdNotifier({"NOTIFY_SOCKET": sock.env_name})
    assert sd.enabled
    assert sd.ready("streams live")
    assert sock.receive() == ["READY=1", "STATUS=streams live"]
    assert sd.watchdog()
    assert sock.receive() == ["WATCHDOG=1"]
    assert sd.status("2/2 streams fresh")
    assert sock.receive() == ["STATUS=2/2 streams fresh"]
    assert sd.stopping()
    assert sock.receive() == ["STOPPING=1"]
    sd.close()


def test_outside_systemd_everything_is_a_no_op() -> None:
    sd = SdNotifier({})
    assert not sd.enabled
    assert sd.watchdog_interval is None
    assert not sd.ready()
    assert not sd.watchdog()


def test_a_vanished_socket_is_reported_not_raised(path_socket: NotifySocket) -> None:
    sd = SdNotifier({"NOTIFY_SOCKET": path_socket.env_name})
    assert sd.watchdog()
    path_socket.sock.close()
    os.unlink(path_socket.env_name)
    assert not sd.watchdog()
    assert not sd.watchdog()


def test_unsupported_socket_kinds_disable_notifications() -> None:
    assert socket_address("vsock:2:1234") is None
    assert socket_address("relative/path") is None
    assert socket_address("@abstract") == b"\0abstract"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert not SdNotifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


def test_watchdog_interval_is_half_the_timeout(path_socket: NotifySocket) -> None:
    env = {
        "NOTIFY_SOCKET": path_socket.env_name,
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
    }
    sd = SdNotifier(env)
    assert sd.watchdog_s == pytest.approx(30.0)
    assert sd.watchdog_interval == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "4000000"}, 4.0),
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_seconds(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_seconds(env, pid=4242) == expected


def test_no_watchdog_without_a_socket() -> None:
    assert SdNotifier({"WATCHDOG_USEC": "4000000"}).watchdog_interval is None
