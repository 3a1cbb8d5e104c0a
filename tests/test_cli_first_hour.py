"""The ``monitor`` command as a new user meets it: versions, help, and one clear line for any mistake."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.commands.cli import main
from monitor.sim.book import BOOKS
from monitor.sim.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.toml"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
KEYS = {"MONITOR_MAIN_API_KEY": "k" * 64, "MONITOR_MAIN_API_SECRET": "s" * 64}


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``main(argv)`` with its exit code (argparse's exits included) and output."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def process(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "monitor.commands.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=60,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["--version"], capsys)
    assert code == 0 and out.startswith("monitor ") and out.split()[1][0].isdigit()


@pytest.mark.parametrize(
    ("argv", "flag", "words"),
    [
        (["calc", "x.json", "--target-distance", "-5"], "--target-distance", "greater than 0"),
        (["calc", "x.json", "--target-distance", "150"], "--target-distance", "less than 100"),
        (["calc", "x.json", "--target-distance", "nan"], "--target-distance", "got nan"),
        (["demo", "--speed", "nan"], "--speed", "got nan"),
        (["demo", "--speed", "inf"], "--speed", "got inf"),
        (["demo", "--speed", "0"], "--speed", "greater than 0"),
        (["demo", "--duration", "-1"], "--duration", "greater than 0"),
        (["demo", "--scenario", "bogus"], "--scenario", "invalid choice"),
        (["sim", "--scenario", "bogus"], "--scenario", "invalid choice"),
        (["sim", "--port", "99999"], "--port", "from 1 to 65535"),
        (["sim", "--speed", "fast"], "--speed", "expected a number"),
        (["status", "--timeout", "-1"], "--timeout", "greater than 0"),
        (["status", "--url", "notaurl"], "--url", "expected an http:// URL"),
        (["status", "--url", "http://[::1"], "--url", "not a URL"),
        (["status", "--url", "http://127.0.0.1:99999"], "--url", "not a URL"),
        (["run", "-c", "x.toml", "--log-level", "loud"], "--log-level", "invalid choice"),
        (["run"], "--config", "required"),
        (["bogus"], "COMMAND", "invalid choice"),
    ],
)
def test_a_bad_flag_or_value_is_one_line_and_exit_2(
    argv: list[str], flag: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(argv, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert flag in lines[0] and words in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("command", ["calc", "demo", "run", "check-config", "status", "sim"])
def test_every_command_help_has_a_description(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli([command, "--help"], capsys)
    assert code == 0
    # argparse prints usage, a blank line, then the description before the options
    paragraphs = out.split("\n\n")
    assert len(paragraphs) >= 3 and not paragraphs[1].lstrip().startswith(("positional", "options"))


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        ("sim", [*SCENARIOS, *BOOKS]),
        ("demo", list(SCENARIOS)),
        ("run", ["debug", "info", "warning", "error"]),
    ],
)
def test_help_lists_the_choices(command: str, choices: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli([command, "--help"], capsys)
    assert code == 0
    for choice in choices:
        assert choice in out


def test_short_config_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(["check-config", "-c", str(EXAMPLE), "--file-only"], capsys)
    assert code == 0 and f"{EXAMPLE}" in out


def test_check_config_of_the_example_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    """On a machine without the secrets the file is still checkable; what is missing is said apart."""
    code, out, err = cli(["check-config", "-c", str(EXAMPLE)], capsys)
    assert code == 2
    assert "the file is valid" in out and "error" not in out + err
    assert "missing: accounts[0].api_key_env: environment variable MONITOR_MAIN_API_KEY is not set" in err
    code, out, _ = cli(["check-config", "-c", str(EXAMPLE), "--file-only"], capsys)
    assert code == 0 and "missing: accounts[1].api_secret_env" in out


def test_check_config_summary_says_what_run_will_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k, v in {**KEYS, "MONITOR_ALT_API_KEY": "a" * 64, "MONITOR_ALT_API_SECRET": "b" * 64}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_CHAT_ID", raising=False)
    config = tmp_path / "c.toml"
    config.write_text(
        EXAMPLE.read_text().replace(
            '# [endpoints.binanceusdm]\n# rest_url = "http://127.0.0.1:8765"\n# ws_url = "ws://127.0.0.1:8765"',
            '[endpoints.binanceusdm]\nrest_url = "http://127.0.0.1:8765"\nws_url = "ws://127.0.0.1:8765"',
        )
    )
    code, out, _ = cli(["check-config", "-c", str(config)], capsys)
    assert code == 0, out
    assert "endpoints binanceusdm: http://127.0.0.1:8765 and ws://127.0.0.1:8765 (set in [endpoints])" in out
    assert "de-risk: dry run (orders are journaled, never sent); modes: main suggest, alt off" in out
    assert "health: http://127.0.0.1:9108/healthz" in out
    assert "telegram: off (no bot token and no chat configured)" in out


BAD_CONFIGS = {
    "listen": '[health]\nlisten = "999.1.1.1:99999"\n',
    "quiet_hours": '[[telegram.chats]]\nchat_id = 5\nquiet_hours = "25:00-07:00"\n',
    "token": "[[telegram.chats]]\nchat_id = 5\n",  # with a malformed token in the environment
    "no_token": "[[telegram.chats]]\nchat_id = 5\n",  # a chat and no token at all
    "bool": '[derisk]\ndry_run = "false"\n',
    "account": "[policy.accounts.mian]\nratio_warn = 0.4\n",
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_check_config_and_run_agree_and_exit_2_before_creating_anything(case: str, tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[service]\nstate_file = "{state}"\n\n[[accounts]]\nname = "main"\nvenue = "binanceusdm"\n\n'
        + BAD_CONFIGS[case]
    )
    env = dict(KEYS)
    if case == "token":
        env["TELEGRAM_BOT_TOKEN"] = "not-a-token-0123456789-secret-part"
    checked = process("check-config", "-c", str(config), env=env, cwd=tmp_path)
    ran = process("run", "-c", str(config), env=env, cwd=tmp_path)
    assert checked.returncode == 2 and ran.returncode == 2, (checked.stderr, ran.stderr)
    assert "Traceback" not in checked.stderr + ran.stderr
    assert not state.exists() and list(tmp_path.iterdir()) == [config]
    # the same problem, named the same way, by both
    key = next(line for line in ran.stderr.splitlines() if line.startswith("error:")).split(": ")[-2]
    assert key in checked.stdout + checked.stderr
    if case == "token":
        assert "not-a-token" not in checked.stdout + checked.stderr + ran.stdout + ran.stderr


def test_sim_on_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = process("sim", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"monitor sim: error: cannot listen on 127.0.0.1:{port}: address already in use "
        "(is another simulator running? choose another --port)"
    ]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"TELEGRAM_BOT_TOKEN": "bad-token-0123456789-secret", "TELEGRAM_CHAT_ID": "1"}, "malformed"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "me"}, "TELEGRAM_CHAT_ID"),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "1", "TELEGRAM_API_BASE_URL": "http://x:1/bot"},
            "without /bot",
        ),
    ],
)
def test_demo_with_bad_telegram_variables_is_one_line_and_exit_2(
    env: dict[str, str], words: str, tmp_path: Path
) -> None:
    result = process("demo", "--duration", "1", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("monitor demo: error:") and words in line
    assert "bad-token" not in line


def test_check_config_prints_bracketed_words_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    config = tmp_path / "c.toml"
    config.write_text('[[accounts]]\nname = "main"\nvenue = "binanceusdm"\n[telegram]\nenabled = false\n')
    code, out, _ = cli(["check-config", "-c", str(config)], capsys)
    assert code == 0 and "telegram: off ([telegram] enabled = false)" in out
