"""Configuration: key paths in every error, secrets only from the environment or files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import ConfigError, load_config, parse_config

ENV = {"MONITOR_MAIN_API_KEY": "k" * 64, "MONITOR_MAIN_API_SECRET": "s" * 64}


def minimal() -> dict[str, Any]:
    return {"accounts": [{"name": "main", "venue": "binanceusdm"}]}


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, ENV if env is None else env)
    return dict(info.value.problems)


def test_minimal_config_resolves_secrets_from_default_env_names() -> None:
    s = parse_config(minimal(), ENV)
    (acct,) = s.accounts
    assert acct.api_key == "k" * 64 and acct.secret == "s" * 64
    assert s.secret_sources["main"] == "key from $MONITOR_MAIN_API_KEY, secret from $MONITOR_MAIN_API_SECRET"
    assert "k" * 64 not in repr(acct) and "s" * 64 not in repr(s.accounts)
    assert s.policy.levels.ratio_warn == 0.5


def test_secret_files_with_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("file-key-0123456789\n")
    (tmp_path / "secret").write_text("file-secret-0123456789")
    data = minimal()
    data["accounts"][0] |= {
        "api_key_file": "$CREDENTIALS_DIRECTORY/key",
        "api_secret_file": "${CREDENTIALS_DIRECTORY}/secret",
    }
    s = parse_config(data, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert s.accounts[0].api_key == "file-key-0123456789"
    assert s.accounts[0].secret == "file-secret-0123456789"


@pytest.mark.parametrize("key", ["api_key", "secret", "api_secret", "token"])
def test_literal_secrets_are_refused(key: str) -> None:
    data = minimal()
    data["accounts"][0][key] = "literal-value"
    found = problems(data)
    assert any(
        path.startswith("accounts[0]") and "not read from the config file" in msg
        for path, msg in found.items()
    )
    assert all("literal-value" not in msg for msg in found.values())


def test_missing_secret_names_the_variable() -> None:
    found = problems(minimal(), {})
    assert "environment variable MONITOR_MAIN_API_KEY is not set" in found["accounts[0].api_key_env"]


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda d: d["accounts"][0].update(venue="ftx"), "accounts[0].venue", "binanceusdm"),
        (
            lambda d: d.update(policy={"levels": {"ratio_warn": 0.9, "ratio_danger": 0.7}}),
            "policy",
            "ratio_warn",
        ),
        (lambda d: d.update(accounts=[]), "accounts", "at least 1"),
        (lambda d: d["accounts"].append({"name": "main", "venue": "binanceusdm"}), "(top level)", "unique"),
        (
            lambda d: d.update(service={"resync_seconds": 1}),
            "service.resync_seconds",
            "greater than or equal",
        ),
        (
            lambda d: d.update(telegram={"chats": [{"chat_id": 1, "quiet_hours": "late"}]}),
            "telegram.chats[0].quiet_hours",
            "pattern",
        ),
        (lambda d: d.update(colour="red"), "colour", "Extra inputs"),
    ],
)
def test_errors_name_the_key_path(mutate: Any, path: str, fragment: str) -> None:
    data = minimal()
    mutate(data)
    found = problems(data)
    assert path in found, found
    assert fragment in found[path]


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    env = {**ENV, "MONITOR_ALT_API_KEY": "a" * 64, "MONITOR_ALT_API_SECRET": "b" * 64}
    s = load_config(example, env)
    assert s.accounts


def test_toml_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[service\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad, ENV)
    assert info.value.problems[0][0] == "(syntax)"


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["service", "policy", "telegram", "health", "endpoints", "accounts"]), toml_values)
def test_fuzzed_sections_fail_cleanly(section: str, value: Any) -> None:
    data = minimal()
    data[section] = value
    try:
        parse_config(data, ENV)
    except ConfigError as exc:
        assert exc.problems


def test_derisk_defaults_send_nothing() -> None:
    s = parse_config(minimal(), ENV)
    assert s.derisk.dry_run is True
    assert s.derisk.mode_for("main").value == "off"


@pytest.mark.parametrize(
    ("derisk", "path", "fragment"),
    [
        ({"modes": {"nobody": "auto"}}, "derisk.modes.nobody", "no account"),
        ({"caps": {"max_fraction": 2.0}}, "derisk.caps.max_fraction", ""),
        ({"caps": {"colour": 1.0}}, "derisk.caps", "unknown key"),
        ({"default_mode": "yolo"}, "derisk.default_mode", "off"),
    ],
)
def test_derisk_errors_name_the_key(derisk: dict[str, Any], path: str, fragment: str) -> None:
    data = minimal()
    data["derisk"] = derisk
    found = problems(data)
    assert path in found, found
    assert fragment in found[path]
