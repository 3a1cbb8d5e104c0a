"""docs/deployment.md stays true: its configuration snippets validate, the files it names exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from monitor.daemon.config import parse_config

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "deployment.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.DOTALL)


def test_toml_snippets_are_valid_configuration(tmp_path: Path) -> None:
    for name in ("main_api_key", "main_api_secret"):
        (tmp_path / name).write_text(f"{name}-value-0123456789")
    snippets = blocks("toml")
    assert snippets
    for text in snippets:
        data = tomllib.loads(text)
        data.setdefault("accounts", [{"name": "main", "venue": "binanceusdm"}])
        settings = parse_config(
            data,
            {
                "CREDENTIALS_DIRECTORY": str(tmp_path),
                "MONITOR_MAIN_API_KEY": "env-key-0123456789",
                "MONITOR_MAIN_API_SECRET": "env-secret-0123456789",
            },
        )
        assert settings.accounts


def test_named_files_exist() -> None:
    for path in (
        "systemd/monitor.service",
        "config.example.toml",
        "Dockerfile",
        "tests/ops/test_systemd_unit.py",
    ):
        assert path in DOC and (REPO / path).exists(), path


def test_unit_and_doc_agree_on_the_timeouts() -> None:
    unit = (REPO / "systemd" / "monitor.service").read_text()
    for setting in ("TimeoutStartSec=120s", "WatchdogSec=60s", "RestartSec=10s", "StartLimitIntervalSec=0"):
        assert setting in unit and setting in DOC, setting


def test_every_install_it_shows_takes_the_locked_versions() -> None:
    installs = [line for text in blocks("sh") for line in text.splitlines() if "pip install" in line]
    assert len(installs) >= 3
    for line in installs:
        locked = "--require-hashes -r /opt/monitor-src/requirements/runtime.lock" in line
        assert locked or "--no-deps" in line, f"an install that resolves versions nobody tested: {line}"
    assert (REPO / "requirements" / "runtime.lock").exists()
    for target in ("make upgrade-check", "make lock", "Roll back"):
        assert target in DOC, target


TELEGRAM_DOC = (REPO / "docs" / "telegram.md").read_text()


def test_telegram_doc_config_is_valid_and_turns_telegram_on() -> None:
    (snippet,) = re.findall(r"```toml\n(.*?)```", TELEGRAM_DOC, re.DOTALL)
    data = tomllib.loads(snippet)
    data["accounts"] = [{"name": "main", "venue": "binanceusdm"}]
    env = {
        "MONITOR_MAIN_API_KEY": "env-key-0123456789",
        "MONITOR_MAIN_API_SECRET": "env-secret-0123456789",
        "TELEGRAM_BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    }
    settings = parse_config(data, env)
    assert settings.telegram is not None and settings.telegram_decision.startswith("on (2 chat(s)")
    assert "deployment.md" in TELEGRAM_DOC and "telegram.md" in DOC


def test_deployment_names_platforms_that_run_it() -> None:
    platforms = DOC[DOC.index("| platform |") :].split("\n\n")[0]
    assert "Debian 12" in platforms and "Ubuntu 24.04" in platforms
    assert re.search(r"Ubuntu 22\.04.*\| no", platforms)
