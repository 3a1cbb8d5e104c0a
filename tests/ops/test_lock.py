"""The lock files are what runs: the venv holds exactly the locked versions, everything the package
needs is locked, and the locked ccxt is one the suite is declared to have passed with.

``make test`` builds the venv from ``requirements/dev.lock`` (and CI runs ``make test`` in a fresh
clone), so a lock bumped by hand is the set these tests, and the whole suite, run against. A venv
built another way fails here with the package that differs and how to rebuild it.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from monitor.daemon.versions import TESTED_CCXT

from .helpers import DEV_LOCK, REPO, RUNTIME_LOCK, canonical, locked_versions

REBUILD = "rebuild the venv from the lock: `make clean test`"


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra, reqs in project["optional-dependencies"].items():
        listed += [f"{r}; extra == '{extra}'" for r in reqs]
    return [Requirement(r) for r in listed]


def needed_by_monitor(extras: frozenset[str]) -> dict[str, str]:
    """Every distribution ``monitor[extras]`` pulls in as installed, transitively: ``name -> needed by``."""
    needed: dict[str, str] = {}
    queue: list[tuple[str, frozenset[str]]] = [("monitor", extras)]
    while queue:
        dist, extras = queue.pop()
        for text in metadata.requires(dist) or []:
            req = Requirement(text)
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in (extras or frozenset({""}))
            ):
                continue
            name = canonical(req.name)
            if name not in needed:
                needed[name] = dist
                if installed_version(name) is not None:
                    queue.append((name, frozenset(req.extras)))
    return needed


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    wrong = []
    for name, locked in sorted(locked_versions(DEV_LOCK).items()):
        found = installed_version(name)
        if found != locked:
            wrong.append(f"{name} {found or 'missing'} (locked {locked})")
    assert not wrong, f"the venv differs from {DEV_LOCK.name}: {', '.join(wrong)}; {REBUILD}"


@pytest.mark.parametrize(
    ("extras", "lock"), [(frozenset(), RUNTIME_LOCK), (frozenset({"dev"}), DEV_LOCK)], ids=["runtime", "dev"]
)
def test_everything_monitor_needs_is_locked(extras: frozenset[str], lock: Path) -> None:
    locked = locked_versions(lock)
    needed = needed_by_monitor(extras)
    assert {"ccxt", "python-telegram-bot", "numpy"} <= set(needed), needed
    assert ("pytest" in needed) == ("dev" in extras)
    unlocked = sorted(f"{name} (needed by {by})" for name, by in needed.items() if name not in locked)
    assert not unlocked, f"needed but not in {lock.name}: {', '.join(unlocked)}; run `make lock`"


def test_the_runtime_lock_agrees_with_the_dev_lock() -> None:
    runtime, dev = locked_versions(RUNTIME_LOCK), locked_versions(DEV_LOCK)
    assert runtime and set(runtime) <= set(dev), sorted(set(runtime) - set(dev))
    differ = sorted(f"{n} {v} != {dev[n]}" for n, v in runtime.items() if dev[n] != v)
    assert not differ, f"the two locks disagree (run `make lock`): {differ}"


def test_every_pin_carries_a_hash() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        lines = lock.read_text().splitlines()
        pins = [i for i, line in enumerate(lines) if "==" in line and not line.lstrip().startswith("#")]
        assert pins
        for i in pins:
            assert "--hash=sha256:" in lines[i + 1], f"{lock.name}: {lines[i]} has no hash (--require-hashes)"


def test_the_installed_package_declares_pyprojects_requirements() -> None:
    installed = {Requirement(r) for r in metadata.requires("monitor") or []}
    assert installed == set(pyproject_requirements()), (
        f"the venv's monitor was installed from another pyproject.toml; {REBUILD}"
    )


def test_pyproject_bounds_ccxt_to_the_tested_range() -> None:
    (ccxt,) = [r for r in pyproject_requirements() if canonical(r.name) == "ccxt"]
    assert ccxt.specifier == SpecifierSet(str(TESTED_CCXT)), (
        f"pyproject.toml asks for {ccxt.specifier},"
        f" monitor/daemon/versions.py TESTED_CCXT says {TESTED_CCXT}:"
        " change both together"
    )


def test_the_locked_ccxt_lies_in_the_tested_range() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        version = locked_versions(lock)["ccxt"]
        assert version in TESTED_CCXT, (
            f"{lock.name} pins ccxt {version}, outside the tested range {TESTED_CCXT}: run "
            "`make upgrade-check`, then widen TESTED_CCXT and pyproject.toml's bound together"
        )
        assert version in SpecifierSet(str(TESTED_CCXT))
