"""The ``monitor`` command. Exit codes: 0 fine, 1 runtime failure, 2 bad input or configuration."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def _cmd_calc(args: argparse.Namespace) -> int:
    from monitor.calc import evaluate, render_table, render_what_if, risk_to_json, what_if_to_json
    from monitor.margin.whatif import what_if
    from monitor.snapshot import SnapshotError, load_snapshot

    err = Console(stderr=True)
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {args.file}: {exc.strerror}")
        return EXIT_BAD_INPUT
    try:
        account, warnings = load_snapshot(text)
    except SnapshotError as exc:
        for path, msg in exc.problems:
            err.print(f"[red]error:[/red] {path}: {msg}", highlight=False)
        return EXIT_BAD_INPUT
    for w in warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    risk = evaluate(account)
    wi = what_if(account, args.target_distance) if args.what_if else None
    if args.json:
        out = risk_to_json(risk)
        if wi is not None:
            out["what_if"] = what_if_to_json(wi)
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return EXIT_OK
    # A pipe gets 80 columns from rich by default, too few for the table: give it a terminal's width.
    console = Console() if sys.stdout.isatty() else Console(width=140)
    render_table(account, risk, console)
    if wi is not None:
        render_what_if(wi, console)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import main as demo_main
    from monitor.logs import configure

    configure("console", "error")  # the demo prints what matters itself
    if args.speed <= 0:
        Console(stderr=True).print("[red]error:[/red] --speed must be positive")
        return EXIT_BAD_INPUT
    try:
        return demo_main(args.duration, args.speed, args.scenario)
    except KeyboardInterrupt:
        return EXIT_OK


def _cmd_sim(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.logs import configure
    from monitor.sim.cli import run_sim

    configure("console", "warning")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_sim(book=args.book, scenario=args.scenario, speed=args.speed, port=args.port))
    return EXIT_OK


def _cmd_check_config(args: argparse.Namespace) -> int:
    from monitor.config import ConfigError, load_config

    err = Console(stderr=True)
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        for key, msg in exc.problems:
            err.print(f"[red]error:[/red] {key}: {msg}", highlight=False)
        return EXIT_BAD_INPUT
    out = Console(highlight=False)
    raw = settings.raw
    out.print(f"[green]ok[/green]: {args.config}")
    for a in raw.accounts:
        out.print(f"  account {a.name}: {a.venue.value}, {settings.secret_sources[a.name]}")
    lv = settings.policy.levels
    out.print(
        f"  levels: ratio warn {lv.ratio_warn} / danger {lv.ratio_danger} / critical {lv.ratio_critical} "
        f"(band {lv.ratio_band}); distance warn {lv.distance_warn_pct} % / "
        f"danger {lv.distance_danger_pct} % / critical {lv.distance_critical_pct} %"
    )
    out.print(f"  state file: {raw.service.state_file}")
    tg = raw.telegram
    out.print(f"  telegram: {'on' if tg.enabled and tg.chats else 'off'} ({len(tg.chats)} chat(s))")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor.app import App
    from monitor.runner import run

    app = App()
    return run(args.config, notifier_factory=app.notifiers, component_factory=app.components)


def _cmd_status(args: argparse.Namespace) -> int:
    from monitor.status import main as status_main

    return status_main(args.url, as_json=args.json, timeout=args.timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch leveraged perpetual-futures positions and warn before liquidation.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    calc = sub.add_parser("calc", help="liquidation calculator over an account snapshot (JSON)")
    calc.add_argument("file", help="snapshot file, or - for standard input")
    calc.add_argument("--json", action="store_true", help="machine output (the documented contract)")
    calc.add_argument(
        "--what-if",
        action="store_true",
        help="also: liquidation price in the other margin mode, margin to add, liquidating market moves",
    )
    calc.add_argument(
        "--target-distance",
        type=float,
        default=10.0,
        metavar="PCT",
        help="distance to liquidation the margin-to-add answer aims for (default 10)",
    )
    calc.set_defaults(func=_cmd_calc)

    demo = sub.add_parser("demo", help="the whole service against the built-in simulated exchange")
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="real seconds to run (default: the scenario's length at this speed)",
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=4.0,
        metavar="FACTOR",
        help="simulated seconds per real second (default 4)",
    )
    demo.add_argument(
        "--scenario",
        default="demo",
        choices=["demo", "calm", "cascade", "squeeze", "wick", "stall", "disconnect", "malformed"],
    )
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="the daemon")
    run.add_argument("--config", required=True, metavar="FILE")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="validate a configuration file and explain it")
    check.add_argument("--config", required=True, metavar="FILE")
    check.set_defaults(func=_cmd_check_config)

    status = sub.add_parser(
        "status", help="the running daemon's health (exit 0 healthy, 1 not, 2 unreachable)"
    )
    status.add_argument("--url", default="http://127.0.0.1:9108", help="the daemon's health server")
    status.add_argument("--json", action="store_true", help="print the /healthz document as it is")
    status.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS")
    status.set_defaults(func=_cmd_status)

    sim = sub.add_parser("sim", help="the simulated exchange on its own, for paper-testing a config")
    sim.add_argument("--book", default="demo", choices=["demo", "small", "synthetic"])
    sim.add_argument("--scenario", default="calm")
    sim.add_argument("--speed", type=float, default=1.0)
    sim.add_argument("--port", type=int, default=8765)
    sim.set_defaults(func=_cmd_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
