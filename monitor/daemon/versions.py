"""The versions the daemon runs with, and whether its ccxt is one the test suite has passed with.

The Binance adapter leans on ccxt's internals: a tap on ccxt.pro's message handler, its ``urls`` table,
its implicit raw endpoints (``tests/contract`` pins each). A ccxt that changed one of them can fail
silently: a tap that no longer fires means no user event, so no liquidation alert. The lock files
install a tested ccxt; a deployment that installed another one is told so at start, in the log and on
Telegram.

``TESTED_CCXT`` is the one place the tested range is written; ``pyproject.toml`` bounds ccxt to the
same range (a test checks that they agree, and that the locked ccxt lies inside it). Raising it is a
reviewed change: ``make upgrade-check`` first (docs/deployment.md).

Pure apart from :func:`installed`, which reads the installed distributions' metadata.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from importlib import metadata

from monitor.alerts import Alert, AlertKind, Level, Transition

_RELEASE = re.compile(r"\d+(?:\.\d+)*")


def release(version: str) -> tuple[int, ...] | None:
    """The release numbers of a version (``"4.5.90"`` -> ``(4, 5, 90)``), trailing zeros dropped so
    that ``4.6`` and ``4.6.0`` compare equal; None when it does not start with one. A pre-release
    (``4.6.0rc1``) counts as its release: outside a range that ends below it, which errs on the side of
    warning."""
    found = _RELEASE.match(version.strip().lstrip("vV"))
    if found is None:
        return None
    numbers = [int(n) for n in found.group().split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


@dataclass(frozen=True, slots=True)
class VersionRange:
    """``minimum`` included, ``below`` excluded, as pip's ``>=minimum,<below``."""

    minimum: str
    below: str

    def __contains__(self, version: object) -> bool:
        if not isinstance(version, str):
            return False
        found, low, high = release(version), release(self.minimum), release(self.below)
        return found is not None and low is not None and high is not None and low <= found < high

    def __str__(self) -> str:
        return f">={self.minimum},<{self.below}"


TESTED_CCXT = VersionRange("4.5.0", "4.6")


@dataclass(frozen=True, slots=True)
class Versions:
    """What the daemon runs with; None for a distribution that is not installed."""

    monitor: str | None
    ccxt: str | None
    python_telegram_bot: str | None
    python: str

    def fields(self) -> dict[str, str | None]:
        return {
            "monitor": self.monitor,
            "ccxt": self.ccxt,
            "python_telegram_bot": self.python_telegram_bot,
            "python": self.python,
        }


def installed() -> Versions:
    """The versions of the distributions that are installed (the metadata pip wrote)."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return Versions(
        monitor=version("monitor"),
        ccxt=version("ccxt"),
        python_telegram_bot=version("python-telegram-bot"),
        python=platform.python_version(),
    )


def report(versions: Versions) -> str:
    """One line for a terminal: ``monitor 0.1.0, ccxt 4.5.90 (tested), ...``."""
    tested = "tested" if versions.ccxt in TESTED_CCXT else f"OUTSIDE the tested range {TESTED_CCXT}"
    return (
        f"monitor {versions.monitor}, ccxt {versions.ccxt} ({tested}), "
        f"python-telegram-bot {versions.python_telegram_bot}, Python {versions.python}"
    )


def untested_ccxt_warning(versions: Versions, tested: VersionRange = TESTED_CCXT) -> str | None:
    """What to tell the operator when ccxt lies outside ``tested``; None when it lies inside."""
    if versions.ccxt in tested:
        return None
    return (
        f"ccxt {versions.ccxt} is outside the range this monitor was tested with ({tested}). "
        "If ccxt changed what the Binance adapter relies on, user events stop arriving and no "
        "liquidation alert is sent. Install the locked versions (requirements/runtime.lock) or run "
        "`make upgrade-check` on this version before relying on it."
    )


def untested_ccxt_alert(versions: Versions, ts_ms: int, tested: VersionRange = TESTED_CCXT) -> Alert | None:
    """The warning as one alert for the notifiers, at DANGER so that every chat but a critical-only
    one receives it and it rings outside quiet hours; None when ccxt is inside ``tested``."""
    message = untested_ccxt_warning(versions, tested)
    if message is None:
        return None
    return Alert(
        key="untested_version:ccxt",
        kind=AlertKind.UNTESTED_VERSION,
        level=Level.DANGER,
        transition=Transition.EVENT,
        venue="",
        account="",
        message=message,
        ts_ms=ts_ms,
        facts={"ccxt": versions.ccxt, "tested": str(tested)},
    )
