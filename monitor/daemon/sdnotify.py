"""The systemd notification protocol (``sd_notify``), without a dependency.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` naming an ``AF_UNIX`` datagram socket;
the service reports its state by sending newline-separated ``KEY=VALUE`` assignments to it:
``READY=1`` when it is up (here: once the streams are live, so ``systemctl start`` returns only when the
monitor watches), ``WATCHDOG=1`` to prove it is alive (here: only while the data is fresh, so a hung
loop or a silent feed both end in a restart), ``STATUS=...`` for ``systemctl status`` and
``STOPPING=1``. A name starting with ``@`` is a Linux abstract-namespace socket (leading NUL byte).

Outside systemd (no ``NOTIFY_SOCKET``: a terminal, Docker) every call is a cheap no-op, and a failed
send is logged once and never raised: supervision must not be able to take the monitor down.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from monitor.logs import get_logger

log = get_logger(__name__)


def socket_address(name: str) -> str | bytes | None:
    """The ``sendto`` address for a ``NOTIFY_SOCKET`` value, or None if it is not an AF_UNIX one.

    ``/run/systemd/notify`` is a path; ``@name`` is abstract (``\\0name``). Anything else (systemd 254
    also knows ``vsock:`` for VMs) is not supported here.
    """
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    if name.startswith("/"):
        return name
    return None


def watchdog_seconds(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """The watchdog timeout systemd expects pings within (``WATCHDOG_USEC``), or None when disabled.

    ``WATCHDOG_PID``, when set, names the process the watchdog is meant for: a child that inherited the
    environment must not ping on its parent's behalf.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 1_000_000


class SdNotifier:
    """Sends notifications to systemd when ``NOTIFY_SOCKET`` is set; otherwise does nothing."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        self.address = socket_address(name) if name else None
        if name and self.address is None:
            log.warning("NOTIFY_SOCKET is not an AF_UNIX socket; systemd notifications are off")
        self.watchdog_s = watchdog_seconds(env) if self.address is not None else None
        self._sock: socket.socket | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """How often to ping: half the timeout, as sd_watchdog_enabled(3) recommends."""
        return None if self.watchdog_s is None else self.watchdog_s / 2

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram. True if systemd got them (False outside systemd)."""
        if self.address is None:
            return False
        payload = "\n".join(assignments).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # never block the event loop: a full receive queue drops this datagram, the next one
                # (a watchdog ping comes every few seconds) tries again
                self._sock.setblocking(False)
            self._sock.sendto(payload, self.address)
        except OSError as exc:
            if not self._failed:  # once per streak of failures, not once per second
                log.warning("systemd notification failed", error=f"{type(exc).__name__}: {exc.strerror}")
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
