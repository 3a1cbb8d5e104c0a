"""README.md shows what the tools really print and accept: its examples are run here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from monitor.commands.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_calc_sample_output_is_what_calc_prints() -> None:
    """The first ``` block after the calc commands is `monitor calc examples/cross-account.json`."""
    command = ".venv/bin/monitor calc examples/cross-account.json"
    shown = re.search(r"```sh\n" + re.escape(command) + r"\n.*?```\n\n```\n(.*?)```", README, re.DOTALL)
    assert shown is not None
    out = subprocess.run(
        [sys.executable, "-m", "monitor.commands.cli", "calc", "examples/cross-account.json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert _lines(shown.group(1)) == _lines(out.stdout)


def test_snapshot_example_is_valid_json_the_calculator_accepts() -> None:
    start = README.index("### The snapshot format")
    (block,) = re.findall(r"```json\n(.*?)```", README[start : README.index("### Venue rules")], re.DOTALL)
    account, _warnings = load_snapshot(json.dumps(json.loads(block)))
    assert account.positions
