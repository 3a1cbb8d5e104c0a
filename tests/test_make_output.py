"""What `make demo` prints before the demo: the install steps, and no setuptools warning box."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_every_editable_install_silences_the_setuptools_box() -> None:
    """setuptools prints "Editable installation. Please be careful with folders in your working
    directory..." in a box on every `pip install -e .` of this layout; a first `make demo` showed it."""
    plan = subprocess.run(
        ["make", "-n", "-B", ".venv/.installed", ".venv/.installed-dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    editable = [line for line in plan.splitlines() if " -e ." in line]
    assert len(editable) == 2, plan
    for line in editable:
        assert line.startswith('PYTHONWARNINGS="ignore:Editable installation" '), line
