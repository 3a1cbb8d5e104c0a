"""A Hyperliquid account in the configuration: an address is enough to watch it, with no secret
anywhere; an agent wallet's key, to act, only when configured; mistakes named by key path."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.daemon.config import ConfigError, parse_config
from monitor.model import Venue

ADDRESS = "0x" + "ab" * 20


def hyperliquid(**fields: Any) -> dict[str, Any]:
    return {"accounts": [{"name": "main", "venue": "hyperliquid", **fields}]}


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env or {})
    return dict(info.value.problems + info.value.missing)


def test_an_address_alone_is_a_complete_account_with_no_secret() -> None:
    s = parse_config(hyperliquid(address=ADDRESS), {})  # an empty environment
    (acct,) = s.accounts
    assert acct.address == ADDRESS and acct.secret == "" and acct.api_key == ""
    assert acct.secrets == ()
    assert s.venues[Venue.HYPERLIQUID] == (acct,)
    assert s.secret_sources["main"] == f"address {ADDRESS}, watch-only (no agent key)"


def test_a_default_secret_variable_is_not_picked_up_unasked() -> None:
    """Only a configured agent key is read: a stray MONITOR_MAIN_API_SECRET gives no signing power."""
    stray = {"MONITOR_MAIN_API_SECRET": "0x" + "1" * 64}
    (acct,) = parse_config(hyperliquid(address=ADDRESS), stray).accounts
    assert acct.secret == ""


def test_an_agent_key_is_read_only_where_configured_and_never_shown() -> None:
    key = "0x" + "1" * 64
    s = parse_config(hyperliquid(address=ADDRESS, api_secret_env="HL_AGENT_KEY"), {"HL_AGENT_KEY": key})
    (acct,) = s.accounts
    assert acct.secret == key and acct.secrets == (key,)
    assert key not in repr(acct) and ADDRESS in repr(acct)
    assert s.secret_sources["main"] == f"address {ADDRESS}, agent key from $HL_AGENT_KEY"
    missing = problems(hyperliquid(address=ADDRESS, api_secret_env="HL_AGENT_KEY"))
    assert "HL_AGENT_KEY is not set" in missing["accounts[0].api_secret_env"]


def test_the_address_is_required_and_checked() -> None:
    assert "required for a Hyperliquid account" in problems(hyperliquid())["accounts[0].address"]
    assert "0x and 40 hex digits" in problems(hyperliquid(address="0x1234"))["accounts[0].address"]


def test_an_api_key_has_no_place_in_a_hyperliquid_account() -> None:
    found = problems(hyperliquid(address=ADDRESS, api_key_env="HL_KEY"))
    assert "Hyperliquid has no API key" in found["accounts[0].api_key_env"]


def test_only_a_hyperliquid_account_takes_an_address() -> None:
    data = {"accounts": [{"name": "main", "venue": "bybit", "address": ADDRESS}]}
    env = {"MONITOR_MAIN_API_KEY": "k" * 20, "MONITOR_MAIN_API_SECRET": "s" * 20}
    assert "only a Hyperliquid account" in problems(data, env)["accounts[0].address"]


def test_the_example_config_s_hyperliquid_account_needs_nothing_but_its_address() -> None:
    """The commented Hyperliquid block of config.example.toml, uncommented, is a valid config with an
    empty environment."""
    import tomllib
    from pathlib import Path

    example = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text(encoding="utf-8")
    lines = example.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('# venue = "hyperliquid"')) - 2
    block = "\n".join(line.removeprefix("# ") for line in lines[start : start + 4])
    data = tomllib.loads(block)
    (acct,) = parse_config(data, {}).accounts
    assert acct.address == "0x0000000000000000000000000000000000000001" and acct.secrets == ()
