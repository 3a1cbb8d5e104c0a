"""The ``monitor`` command. Exit codes: 0 fine, 1 runtime failure, 2 bad input or configuration."""

from __future__ import annotations

import argparse
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
