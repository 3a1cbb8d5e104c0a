"""The Dockerfile, kept correct without a Docker engine: parsed and checked instruction by instruction,
and its build stage's install steps run for real in a clean virtual environment."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.commands.cli import build_parser

from .helpers import RUNTIME_LOCK, canonical, locked_versions

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
SECRET_NAME = re.compile(r"(?i)secret|token|passw|passphrase|api_?key|private")
SECRET_VALUE = re.compile(r"\d{6,}:[A-Za-z0-9_-]{20,}|[0-9a-fA-F]{32,}|[A-Za-z0-9+/]{40,}")


@dataclass(frozen=True)
class Instruction:
    op: str
    args: str
    stage: int  # -1: before the first FROM


def parse(text: str) -> list[Instruction]:
    """Dockerfile instructions with continuations joined and comments dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are removed too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        op, _, args = full.partition(" ")
        op = op.upper()
        if op == "FROM":
            stage += 1
        out.append(Instruction(op, args.strip(), stage))
    assert not pending, "dangling line continuation"
    return out


INSTRUCTIONS = parse(DOCKERFILE.read_text())


def stage_names() -> dict[int, str]:
    names = {}
    for ins in INSTRUCTIONS:
        if ins.op == "FROM":
            m = re.search(r"\s+AS\s+(\S+)$", ins.args, re.IGNORECASE)
            names[ins.stage] = m.group(1) if m else str(ins.stage)
    return names


def final(op: str) -> list[Instruction]:
    last = max(i.stage for i in INSTRUCTIONS)
    return [i for i in INSTRUCTIONS if i.op == op and i.stage == last]


def env_pairs(args: str) -> dict[str, str]:
    """``ENV A=1 B=2`` (or the legacy ``ENV A 1``) as a dict."""
    parts = shlex.split(args)
    if parts and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    return dict(p.split("=", 1) for p in parts)


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def test_multi_stage_slim_and_copied_from_the_build_stage() -> None:
    names = stage_names()
    assert len(names) >= 2
    args = {
        i.args.split("=")[0]: i.args.split("=", 1)[1] for i in INSTRUCTIONS if i.op == "ARG" and i.stage == -1
    }
    for ins in INSTRUCTIONS:
        if ins.op == "FROM":
            image = ins.args.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            assert "slim" in image or "distroless" in image, image
            assert ":" in image and not image.endswith(":latest"), f"pin the base image: {image}"
    copies = final("COPY")
    assert copies and all(c.args.startswith("--from=") for c in copies), (
        "the runtime copies only built artefacts"
    )
    assert {c.args.split()[0].removeprefix("--from=") for c in copies} <= set(names.values())
    assert not [i for i in INSTRUCTIONS if i.op == "ADD"], "COPY, not ADD (no remote URLs, no auto-extract)"


def test_runs_as_a_non_root_user() -> None:
    users = final("USER")
    assert users, "the runtime stage must set USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(i.args for i in final("RUN"))
    assert re.search(rf"useradd\b.*--uid {user}\b", created), "the user must exist in the image"


def test_no_secret_in_env_or_arg() -> None:
    for ins in INSTRUCTIONS:
        if ins.op == "ENV":
            pairs = env_pairs(ins.args)
        elif ins.op == "ARG":
            name, _, default = ins.args.partition("=")
            pairs = {name: default}
        else:
            continue
        for name, value in pairs.items():
            assert not SECRET_NAME.search(name), f"{ins.op} {name}: secrets come from /run/secrets files"
            assert not SECRET_VALUE.search(value), f"{ins.op} {name} looks like a credential"
    env = {k: v for i in final("ENV") for k, v in env_pairs(i.args).items()}
    assert env["CREDENTIALS_DIRECTORY"] == "/run/secrets"


def test_exec_form_entrypoint_cmd_and_healthcheck() -> None:
    (entry,) = final("ENTRYPOINT")
    (cmd,) = final("CMD")
    argv = exec_form(entry.args) + exec_form(cmd.args)
    assert argv[0] == "monitor"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.config == "/etc/monitor/config.toml"
    (health,) = final("HEALTHCHECK")
    options, _, command = health.args.partition("CMD ")
    assert "--start-period=" in options and "--interval=" in options
    probe = exec_form(command)
    env = {k: v for i in final("ENV") for k, v in env_pairs(i.args).items()}
    assert "MONITOR_HEARTBEAT_FILE" in probe[-1] and env["MONITOR_HEARTBEAT_FILE"].startswith("/")
    assert float(env["MONITOR_STALE_EXIT_SECONDS"]) > 0, "Docker restarts only what exits"


def test_healthcheck_judges_the_heartbeat(tmp_path: Path) -> None:
    (health,) = final("HEALTHCHECK")
    probe = exec_form(health.args.partition("CMD ")[2])
    assert probe[0] == "python"
    beat = tmp_path / "heartbeat"

    def check() -> int:
        env = {**os.environ, "MONITOR_HEARTBEAT_FILE": str(beat)}
        return subprocess.run([sys.executable, *probe[1:]], env=env, timeout=30, check=False).returncode

    assert check() == 1  # no heartbeat yet
    beat.touch()
    assert check() == 0
    old = time.time() - 120
    os.utime(beat, (old, old))
    assert check() == 1  # the daemon stopped beating: data stale or loop hung


def test_dockerignore_keeps_state_and_secrets_out() -> None:
    lines = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "allow-list the build context"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = {
        p.rstrip("/").removeprefix("./")
        for i in INSTRUCTIONS
        if i.op == "COPY" and not i.args.startswith("--from=")
        for p in shlex.split(i.args)[:-1]
    }
    assert copied <= allowed, copied - allowed
    assert {"**/*.sqlite3*", "**/credentials", "**/secrets"} <= set(lines)


def test_the_build_stage_installs_the_lock_with_hashes_and_the_package_alone() -> None:
    build = [i for i in INSTRUCTIONS if i.stage == 0]
    copied = [shlex.split(i.args)[:-1] for i in build if i.op == "COPY"]
    assert [str(RUNTIME_LOCK.relative_to(REPO))] in copied, "the build stage copies requirements/runtime.lock"
    installs = [shlex.split(i.args) for i in build if i.op == "RUN" and "pip install" in i.args]
    assert installs, "the build stage installs with pip"
    lock_step = next(
        (
            n
            for n, argv in enumerate(installs)
            if "--require-hashes" in argv and "requirements/runtime.lock" in argv
        ),
        None,
    )
    assert lock_step is not None, "the dependencies come from the runtime lock, with --require-hashes"
    for argv in installs[lock_step + 1 :]:
        assert "--no-deps" in argv, f"{' '.join(argv)}: after the lock, nothing may resolve a dependency"
    assert any("." in argv for argv in installs[lock_step + 1 :]), "the package itself is installed last"
    assert "pip check" in " ".join(installs[-1]), "then pip check: the lock fits pyproject.toml's ranges"


@pytest.mark.slow
def test_build_stage_install_steps_work_in_a_clean_venv(tmp_path: Path) -> None:
    """The build stage replayed: its COPY and RUN steps, paths mapped under ``tmp_path``."""
    root = tmp_path / "root"
    build = [i for i in INSTRUCTIONS if i.stage == 0]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # the base interpreter, as the image has it, not the python of the venv running these tests
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (bindir / "python").symlink_to(Path(sys.base_prefix) / "bin" / f"python{version}")

    def mapped(path: str) -> Path:
        return root / path.lstrip("/")

    workdir = root
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    ran = []
    for ins in build:
        if ins.op == "WORKDIR":
            workdir = mapped(ins.args)
            workdir.mkdir(parents=True, exist_ok=True)
        elif ins.op == "ENV":
            env.update(env_pairs(ins.args))
        elif ins.op == "COPY":
            *sources, dest = shlex.split(ins.args)
            target = workdir / dest
            for src in sources:
                origin = REPO / src
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
        elif ins.op == "RUN":
            command = re.sub(r"(?<![\w.])/opt/", f"{root}/opt/", ins.args)
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"RUN {ins.args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
            ran.append(ins.args)
    assert any("pip install" in r for r in ran)

    venv = root / "opt" / "monitor"
    monitor = venv / "bin" / "monitor"
    assert monitor.exists(), "the runtime stage copies this environment and runs `monitor`"
    imports = (
        "import monitor.daemon.runner, monitor.daemon.health, monitor.daemon.sdnotify,"
        " monitor.daemon.status, ccxt.pro, telegram"
    )
    result = subprocess.run(
        [venv / "bin" / "python", "-c", imports], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # exactly the locked versions: nothing more (but the venv's own pip and setuptools), nothing else
    listing = (
        "import importlib.metadata as m, json; "
        "print(json.dumps([(d.name, d.version) for d in m.distributions()]))"
    )
    result = subprocess.run(
        [venv / "bin" / "python", "-c", listing], capture_output=True, text=True, timeout=60
    )
    image = {canonical(name): version for name, version in json.loads(result.stdout)}
    assert image.pop("monitor") == "0.1.0"
    for tool in ("pip", "setuptools"):
        image.pop(tool, None)
    assert image == locked_versions(RUNTIME_LOCK), (
        "the image's packages differ from requirements/runtime.lock"
    )
    # the image's ENTRYPOINT + CMD, against a config that is not there: a clean exit 2, no traceback
    (entry,) = final("ENTRYPOINT")
    argv = [str(monitor), *exec_form(entry.args)[1:], "run", "--config", str(tmp_path / "missing.toml")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot read" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
