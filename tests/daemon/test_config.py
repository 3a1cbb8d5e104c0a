"""Configuration: key paths in every error, secrets only from the environment or files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.daemon.config import ConfigError, load_config, parse_config

ENV = {"MONITOR_MAIN_API_KEY": "k" * 64, "MONITOR_MAIN_API_SECRET": "s" * 64}


def minimal() -> dict[str, Any]:
    return {"accounts": [{"name": "main", "venue": "binanceusdm"}]}


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, str]:
    """Mistakes in the file and what the machine lacks, together, by key path."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, ENV if env is None else env)
    return dict(info.value.problems + info.value.missing)


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
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(), {})
    assert info.value.problems == []  # nothing wrong with the file: the machine lacks the secrets
    missing = dict(info.value.missing)
    assert "environment variable MONITOR_MAIN_API_KEY is not set" in missing["accounts[0].api_key_env"]


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
            lambda d: d.update(service={"mark_window_ms": -1}),
            "service.mark_window_ms",
            "greater than or equal",
        ),
        (
            lambda d: d.update(service={"mark_window_ms": "fast"}),
            "service.mark_window_ms",
            "whole number",
        ),
        (
            lambda d: d.update(telegram={"chats": [{"chat_id": 1, "quiet_hours": "late"}]}),
            "telegram.chats[0].quiet_hours",
            "HH:MM-HH:MM in UTC, e.g. 22:00-07:00",
        ),
        (lambda d: d.update(colour="red"), "colour", "unknown key"),
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
        ({"caps": {"colour": 1.0}}, "derisk.caps.colour", "unknown key"),
        ({"default_mode": "yolo"}, "derisk.default_mode", "off"),
    ],
)
def test_derisk_errors_name_the_key(derisk: dict[str, Any], path: str, fragment: str) -> None:
    data = minimal()
    data["derisk"] = derisk
    found = problems(data)
    assert path in found, found
    assert fragment in found[path]


# --- check-config and run agree: every value run uses is checked when the file is read -------------

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def with_chat(**telegram: Any) -> dict[str, Any]:
    data = minimal()
    data["telegram"] = {"chats": [{"chat_id": 42}], **telegram}
    return data


def test_a_malformed_bot_token_is_a_config_error_that_does_not_echo_it() -> None:
    bad = "12345-not-a-token-but-quite-secret-0123456789"
    with pytest.raises(ConfigError) as info:
        parse_config(with_chat(), {**ENV, "TELEGRAM_BOT_TOKEN": bad})
    found = dict(info.value.problems)
    assert "malformed" in found["telegram.token_env"]
    assert bad not in str(info.value)


@pytest.mark.parametrize("window", ["25:00-07:00", "22:00", "10pm-7am", "22:00-07:60"])
def test_quiet_hours_are_checked_in_plain_words(window: str) -> None:
    data = with_chat()
    data["telegram"]["chats"][0]["quiet_hours"] = window
    msg = problems(data, {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN})["telegram.chats[0].quiet_hours"]
    assert msg == "write the window as HH:MM-HH:MM in UTC, e.g. 22:00-07:00"


@pytest.mark.parametrize(
    ("listen", "fragment"),
    [
        ("999.1.1.1:99999", "from 1 to 65535"),
        ("999.1.1.1:9108", "not an IPv4 address"),
        ("127.0.0.1:0", "from 1 to 65535"),
        ("9108", "HOST:PORT"),
        ("::1:9108", "brackets"),
        ("bad_host!:9108", "neither an IP address nor a host name"),
    ],
)
def test_health_listen_address_and_port_range(listen: str, fragment: str) -> None:
    data = minimal()
    data["health"] = {"listen": listen}
    assert fragment in problems(data)["health.listen"]


@pytest.mark.parametrize("listen", ["127.0.0.1:9108", "0.0.0.0:80", "localhost:9108", "[::1]:9108"])
def test_good_listen_addresses_pass(listen: str) -> None:
    data = minimal()
    data["health"] = {"listen": listen}
    assert parse_config(data, ENV).raw.health.listen == listen


@pytest.mark.parametrize(
    ("section", "values", "path"),
    [
        ("derisk", {"dry_run": "false"}, "derisk.dry_run"),
        ("telegram", {"enabled": "no"}, "telegram.enabled"),
        ("health", {"enabled": "true"}, "health.enabled"),
        ("derisk", {"anomalies": {"halt_on_stale": "false"}}, "derisk.anomalies.halt_on_stale"),
        ("policy", {"announce_initial_positions": "yes"}, "policy.announce_initial_positions"),
    ],
)
def test_booleans_given_as_strings_are_refused(section: str, values: dict[str, Any], path: str) -> None:
    data = minimal()
    data[section] = values
    found = problems(data)
    assert any(k.startswith(path) and "true or false" in m for k, m in found.items()), found


def test_real_booleans_still_pass() -> None:
    data = minimal()
    data["derisk"] = {"dry_run": False, "anomalies": {"halt_on_stale": False, "max_rejects": 5}}
    s = parse_config(data, ENV)
    assert s.derisk.dry_run is False and s.derisk.anomalies.halt_on_stale is False
    assert s.derisk.anomalies.max_rejects == 5


def test_an_unknown_account_in_policy_accounts_is_an_error() -> None:
    data = minimal()
    data["policy"] = {"accounts": {"mian": {"ratio_warn": 0.4}}}
    assert problems(data)["policy.accounts.mian"] == "no account has this name; did you mean 'main'?"


@pytest.mark.parametrize(
    ("mutate", "path", "suggestion"),
    [
        (lambda d: d.update(health={"lissten": "127.0.0.1:1"}), "health.lissten", "listen"),
        (lambda d: d.update(policy={"levels": {"ratio_wran": 1}}), "policy.levels.ratio_wran", "ratio_warn"),
        (lambda d: d["accounts"][0].update(api_key_evn="X"), "accounts[0].api_key_evn", "api_key_env"),
        (lambda d: d.update(derisk={"caps": {"cooldown": 3}}), "derisk.caps.cooldown", "cooldown_s"),
        (lambda d: d.update(telegram={"chats": [{"chat": 1}]}), "telegram.chats[0].chat", "chat_id"),
        (lambda d: d.update(sevice={}), "sevice", "service"),
    ],
)
def test_unknown_keys_get_did_you_mean(mutate: Any, path: str, suggestion: str) -> None:
    data = minimal()
    mutate(data)
    assert f"did you mean '{suggestion}'?" in problems(data)[path]


SECRET_LIKE = [
    "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",  # Binance API key shape
    "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    TOKEN,  # a Telegram bot token
    "3f1c9a0b7e2d4c6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f",  # hex secret
    "dGhpcyBpcyBhIGJhc2U2NCBzZWNyZXQ=",
]


@pytest.mark.parametrize("value", SECRET_LIKE)
@pytest.mark.parametrize("where", ["api_key_env", "api_secret_env", "token_env"])
def test_a_secret_in_an_env_setting_is_refused_without_echoing_it(value: str, where: str) -> None:
    data = minimal()
    if where == "token_env":
        data["telegram"] = {"token_env": value}
        path = "telegram.token_env"
    else:
        data["accounts"][0][where] = value
        path = f"accounts[0].{where}"
    with pytest.raises(ConfigError) as info:
        parse_config(data, ENV)
    found = dict(info.value.problems)
    assert "looks like a secret" in found[path]
    assert value not in str(info.value) and value not in repr(info.value.problems)


@pytest.mark.parametrize(
    "name", ["MONITOR_MAIN_API_KEY", "BINANCE_PROD_KEY_2024", "my_key", "TELEGRAM_BOT_TOKEN", "Key2"]
)
def test_ordinary_variable_names_are_accepted(name: str) -> None:
    data = minimal()
    data["accounts"][0]["api_key_env"] = name
    s = parse_config(data, {**ENV, name: "k" * 64})
    assert s.accounts[0].api_key == "k" * 64


def test_an_unset_credentials_directory_is_named_as_such() -> None:
    data = minimal()
    data["accounts"][0]["api_key_file"] = "$CREDENTIALS_DIRECTORY/main_api_key"
    data["telegram"] = {"token_file": "$CREDENTIALS_DIRECTORY/telegram_token", "chats": [{"chat_id": 1}]}
    with pytest.raises(ConfigError) as info:
        parse_config(data, ENV)
    missing = dict(info.value.missing)
    for key in ("accounts[0].api_key_file", "telegram.token_file"):
        assert missing[key].startswith("$CREDENTIALS_DIRECTORY is not set"), missing
        assert "LoadCredential=" in missing[key]


def test_a_telegram_token_file_under_credentials_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / "telegram_token").write_text(TOKEN + "\n")
    data = with_chat(token_file="$CREDENTIALS_DIRECTORY/telegram_token")
    s = parse_config(data, {**ENV, "CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert s.telegram is not None and s.telegram.token == TOKEN
    assert s.telegram_decision.startswith("on (1 chat(s), token from file")


def test_telegram_decision_chat_without_token_is_a_missing_secret() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_chat(), ENV)
    assert info.value.problems == []
    assert "no bot token ($TELEGRAM_BOT_TOKEN is not set)" in dict(info.value.missing)["telegram.token_env"]


def test_telegram_decision_from_the_environment_only() -> None:
    """README's recipe: no [telegram] table, token and chat id in the environment: on."""
    s = parse_config(minimal(), {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "42"})
    assert s.telegram is not None and s.telegram.chat_ids == {42}
    assert s.telegram_decision.startswith("on (the chat from $TELEGRAM_CHAT_ID")


@pytest.mark.parametrize(
    ("data", "env", "decision"),
    [
        (minimal(), ENV, "off (no bot token and no chat configured)"),
        (minimal(), {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN}, "off (a bot token but no chat"),
        (with_chat(enabled=False), {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN}, "off ([telegram] enabled = false)"),
    ],
)
def test_telegram_off_says_why(data: dict[str, Any], env: dict[str, str], decision: str) -> None:
    s = parse_config(data, env)
    assert s.telegram is None and s.telegram_decision.startswith(decision)


def test_a_bad_chat_id_variable_is_a_config_error() -> None:
    found = problems(minimal(), {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "@mychannel"})
    assert "TELEGRAM_CHAT_ID must be integer ids" in found["$TELEGRAM_CHAT_ID"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081/bot", "https://api.telegram.org/bot/"])
def test_api_base_url_ending_in_bot_is_refused(url: str) -> None:
    env = {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN}
    assert "without /bot" in problems(with_chat(api_base_url=url), env)["telegram.api_base_url"]
    from_env = problems(with_chat(), {**env, "TELEGRAM_API_BASE_URL": url})
    assert "without /bot" in from_env["$TELEGRAM_API_BASE_URL"]


def test_api_base_url_root_is_used_as_given() -> None:
    env = {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN}
    s = parse_config(with_chat(api_base_url="http://127.0.0.1:8081"), env)
    assert s.telegram is not None and s.telegram.bot_base_url == "http://127.0.0.1:8081/bot"


def test_the_example_api_base_url_is_accepted() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    line = next(x for x in example.read_text().splitlines() if x.startswith("# api_base_url"))
    url = line.split('"')[1]
    env = {**ENV, "TELEGRAM_BOT_TOKEN": TOKEN}
    assert parse_config(with_chat(api_base_url=url), env).telegram is not None


def test_example_config_without_secrets_reports_only_what_is_missing() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    with pytest.raises(ConfigError) as info:
        load_config(example, {})
    assert info.value.problems == []
    assert {k for k, _ in info.value.missing} == {
        f"accounts[{i}].api_{what}_env" for i in (0, 1) for what in ("key", "secret")
    }


def test_a_state_file_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    data = minimal()
    data["service"] = {"state_file": str(tmp_path / "plain" / "sub" / "state.sqlite3")}
    assert "is a file" in problems(data)["service.state_file"]


def test_a_state_file_in_a_directory_still_to_create_is_fine(tmp_path: Path) -> None:
    data = minimal()
    data["service"] = {"state_file": str(tmp_path / "state" / "state.sqlite3")}
    assert parse_config(data, ENV).raw.service.state_file.endswith("state.sqlite3")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1:99999", "not a usable URL"),
        ("http://[::1", "not a usable URL"),
        ("http://:8765", "names no host"),
        ("127.0.0.1:8765", "must start with http:// or https://"),
    ],
)
def test_endpoint_urls_are_usable(url: str, fragment: str) -> None:
    data = minimal()
    data["endpoints"] = {"binanceusdm": {"rest_url": url, "ws_url": "ws://127.0.0.1:8765"}}
    assert fragment in problems(data)["endpoints.binanceusdm.rest_url"]


@pytest.mark.parametrize("value", SECRET_LIKE)
@pytest.mark.parametrize("where", ["api_key_file", "api_secret_file", "token_file"])
def test_a_secret_in_a_file_setting_is_refused_without_echoing_it(value: str, where: str) -> None:
    data = minimal()
    if where == "token_file":
        data["telegram"] = {"token_file": value}
        path = "telegram.token_file"
    else:
        data["accounts"][0][where] = value
        path = f"accounts[0].{where}"
    with pytest.raises(ConfigError) as info:
        parse_config(data, ENV)
    assert "looks like a secret" in dict(info.value.problems)[path]
    assert value not in str(info.value)


@pytest.mark.parametrize(
    "path", ["$CREDENTIALS_DIRECTORY/main_api_key", "/etc/monitor/credentials/main_api_secret", "key.txt"]
)
def test_ordinary_file_paths_are_accepted(path: str, tmp_path: Path) -> None:
    data = minimal()
    data["accounts"][0]["api_key_file"] = path
    found = problems(data, {**ENV, "CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert "looks like a secret" not in found.get("accounts[0].api_key_file", "")


@pytest.mark.parametrize(
    ("service", "window"), [({}, 50), ({"mark_window_ms": 0}, 0), ({"mark_window_ms": 200}, 200)]
)
def test_the_mark_window_reaches_the_daemon(service: dict[str, Any], window: int) -> None:
    from monitor.daemon.runner import build_options

    settings = parse_config({**minimal(), "service": service}, ENV)
    assert build_options(settings).mark_window_ms == window


@pytest.mark.parametrize("venue", ["bitget", "blofin"])
def test_a_passphrase_venue_s_account_needs_it_and_never_shows_it(venue: str) -> None:
    data = {"accounts": [{"name": "main", "venue": venue}]}
    missing = problems(data)
    assert "MONITOR_MAIN_API_PASSPHRASE is not set" in missing["accounts[0].api_passphrase_env"]
    s = parse_config(data, {**ENV, "MONITOR_MAIN_API_PASSPHRASE": "p" * 16})
    (acct,) = s.accounts
    assert acct.passphrase == "p" * 16
    assert s.secret_sources["main"].endswith("passphrase from $MONITOR_MAIN_API_PASSPHRASE")
    assert "p" * 16 not in repr(acct)


def test_other_venues_ask_for_no_passphrase() -> None:
    (acct,) = parse_config(minimal(), ENV).accounts
    assert acct.passphrase == ""


def test_a_blofin_account_s_broker_id_and_mark_poll_reach_its_adapter() -> None:
    env = {**ENV, "MONITOR_MAIN_API_PASSPHRASE": "p" * 16}
    account = {"name": "main", "venue": "blofin", "broker_id": "abc123", "mark_poll_seconds": 2.5}
    (acct,) = parse_config({"accounts": [account]}, env).accounts
    assert (acct.broker_id, acct.mark_poll_s) == ("abc123", 2.5)
    (default,) = parse_config({"accounts": [{"name": "main", "venue": "blofin"}]}, env).accounts
    assert (default.broker_id, default.mark_poll_s) == ("", 1.0)  # no broker id: what a plain key takes


@pytest.mark.parametrize(
    ("key", "value"), [("mark_poll_seconds", 0.05), ("mark_poll_seconds", 600), ("broker_id", "a b")]
)
def test_a_bad_blofin_setting_is_named(key: str, value: Any) -> None:
    env = {**ENV, "MONITOR_MAIN_API_PASSPHRASE": "p" * 16}
    found = problems({"accounts": [{"name": "main", "venue": "blofin", key: value}]}, env)
    assert f"accounts[0].{key}" in found, found
