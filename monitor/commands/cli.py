"""The ``monitor`` command. Exit codes: 0 fine, 1 runtime failure, 2 bad input or configuration.

A bad flag or value never shows a traceback: the parser checks every value's type and range before a
command runs and answers with one line naming the flag and the problem (exit 2).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from rich.console import Console

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

LOG_LEVELS = ("debug", "info", "warning", "error")
DEMO_SCENARIOS = ("demo", "calm", "cascade", "squeeze", "wick", "stall", "disconnect", "malformed")


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (no usage block) that names the problem and says where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(
    *, gt: float | None = None, ge: float | None = None, lt: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a finite number within the bounds, else a message in words."""
    bounds = []
    if gt is not None:
        bounds.append(f"greater than {gt:g}")
    if ge is not None:
        bounds.append(f"at least {ge:g}")
    if lt is not None:
        bounds.append(f"less than {lt:g}")
    wanted = "a number " + " and ".join(bounds) if bounds else "a number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        ok = math.isfinite(value)
        ok = ok and (gt is None or value > gt) and (ge is None or value >= ge) and (lt is None or value < lt)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text}")
        return value

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


def port(text: str) -> int:
    """An argparse type: a TCP port, 1-65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


def http_url(text: str) -> str:
    """An argparse type: an http(s) URL with a host (and a valid port, when given)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a port out of range)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a URL ({exc}): {text!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// URL, e.g. http://127.0.0.1:9108, got {text!r}")
    return text


def _version() -> str:
    try:
        return metadata.version("monitor")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _cmd_calc(args: argparse.Namespace) -> int:
    from monitor.commands.calc import evaluate, render_table, render_what_if, risk_to_json, what_if_to_json
    from monitor.commands.snapshot import SnapshotError, load_snapshot
    from monitor.margin.whatif import what_if

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
    from monitor.commands.demo import main as demo_main
    from monitor.logs import configure
    from monitor.notify.settings import SettingsError, TelegramSettings

    configure("console", "error")  # the demo prints what matters itself
    try:
        TelegramSettings.from_env(os.environ)  # checked before anything starts; never echoes the token
    except SettingsError as exc:
        print(f"monitor demo: error: {exc} (the TELEGRAM_* environment variables)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return demo_main(args.duration, args.speed, args.scenario, args.venue)
    except KeyboardInterrupt:
        return EXIT_OK


def _cmd_sim(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.logs import configure
    from monitor.sim.cli import run_sim

    configure("console", "warning")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_sim(
                    book=args.book,
                    scenario=args.scenario,
                    speed=args.speed,
                    port=args.port,
                    venue=args.venue,
                )
            )
    except OSError as exc:
        # aiohttp wraps the bind error; the errno says it in the system's words
        reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
        print(
            f"monitor sim: error: cannot listen on 127.0.0.1:{args.port}: {reason} "
            "(is another simulator running? choose another --port)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


def _cmd_check_config(args: argparse.Namespace) -> int:
    """The same checks as ``run`` (one loader), then what ``run`` would do. What this machine lacks
    (secrets, directories) is listed apart from mistakes in the file; ``--file-only`` accepts it."""
    from rich.markup import escape

    from monitor.commands.config_summary import describe
    from monitor.daemon.config import ConfigError, load_config

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        settings = load_config(args.config, allow_missing=True)
    except ConfigError as exc:
        for key, msg in exc.problems:
            err.print(f"[red]error:[/red] {escape(key)}: {escape(msg)}")
        return EXIT_BAD_INPUT
    out = Console(highlight=False, soft_wrap=True)
    if settings.missing:
        head = "the file is valid" + ("" if args.file_only else ", but this machine cannot run it yet")
        out.print(f"[yellow]{head}[/yellow]: {args.config}")
    else:
        out.print(f"[green]ok[/green]: {args.config}")
    for line in describe(settings):
        out.print(f"  {escape(line)}")  # "[endpoints]" is text, not markup
    if not settings.missing:
        return EXIT_OK
    target = out if args.file_only else err
    target.print("missing on this machine (monitor run refuses to start without them):")
    for key, msg in settings.missing:
        target.print(f"  [yellow]missing:[/yellow] {escape(key)}: {escape(msg)}")
    if args.file_only:
        return EXIT_OK
    target.print("(add --file-only to check the file alone)")
    return EXIT_BAD_INPUT


def _cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon.app import App
    from monitor.daemon.runner import run

    app = App()
    return run(
        args.config,
        notifier_factory=app.notifiers,
        component_factory=app.components,
        log_level=args.log_level,
    )


def _cmd_status(args: argparse.Namespace) -> int:
    from monitor.daemon.status import main as status_main

    return status_main(args.url, as_json=args.json, timeout=args.timeout)


def build_parser() -> argparse.ArgumentParser:
    from monitor.sim.book import BOOKS
    from monitor.sim.dialects import DIALECTS
    from monitor.sim.scenarios import SCENARIOS

    parser = _Parser(
        prog="monitor",
        description="Watch leveraged perpetual-futures positions and warn before liquidation.",
        epilog="Run 'monitor COMMAND --help' for a command's options. Exit codes: 0 fine, 1 failure, "
        "2 bad input or configuration.",
    )
    parser.add_argument("--version", action="version", version=f"monitor {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description)

    calc = command(
        "calc",
        "liquidation calculator over an account snapshot (JSON)",
        "Evaluate an account snapshot (JSON, see README.md) with the daemon's margin engine: each "
        "position's liquidation price, distance and margin ratio. Bad input exits 2 naming the JSON path.",
    )
    calc.add_argument("file", help="snapshot file, or - for standard input")
    calc.add_argument("--json", action="store_true", help="machine output (the documented contract)")
    calc.add_argument(
        "--what-if",
        action="store_true",
        help="also: liquidation price in the other margin mode, margin to add, liquidating market moves",
    )
    calc.add_argument(
        "--target-distance",
        type=number(gt=0, lt=100),
        default=10.0,
        metavar="PCT",
        help="distance to liquidation, in percent (more than 0, less than 100), that the margin-to-add "
        "answer aims for (default 10)",
    )
    calc.set_defaults(func=_cmd_calc)

    demo = command(
        "demo",
        "the whole service against the built-in simulated exchange",
        "Start the simulated exchange on loopback and the monitor against it; alerts print as they fire "
        "and a summary says whether each liquidation was predicted. With TELEGRAM_BOT_TOKEN and "
        "TELEGRAM_CHAT_ID set, alerts also go to Telegram.",
    )
    demo.add_argument(
        "--duration",
        type=number(gt=0),
        default=None,
        metavar="SECONDS",
        help="real seconds to run (default: the scenario's length at this speed)",
    )
    demo.add_argument(
        "--speed",
        type=number(gt=0, lt=1000),
        default=4.0,
        metavar="FACTOR",
        help="simulated seconds per real second (default 4)",
    )
    demo.add_argument(
        "--scenario",
        default="demo",
        choices=DEMO_SCENARIOS,
        help="what the market does: %(choices)s (default %(default)s)",
    )
    demo.add_argument(
        "--venue",
        default="binanceusdm",
        choices=sorted(DIALECTS),
        help="the exchange the simulator speaks: %(choices)s (default %(default)s)",
    )
    demo.set_defaults(func=_cmd_demo)

    run = command(
        "run",
        "the daemon",
        "Run the monitor as a long-running service (systemd, Docker or a terminal). A bad configuration "
        "exits 2 before anything is created; see docs/deployment.md.",
    )
    run.add_argument("-c", "--config", required=True, metavar="FILE", help="the TOML configuration")
    run.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=None,
        help="overrides [service] log_level: %(choices)s",
    )
    run.set_defaults(func=_cmd_run)

    check = command(
        "check-config",
        "validate a configuration file and explain it",
        "Check a configuration file with the same checks as 'monitor run' and say what run would do: "
        "accounts, endpoints, levels, Telegram on or off and why, de-risk modes, dry run, health address.",
    )
    check.add_argument("-c", "--config", required=True, metavar="FILE", help="the TOML configuration")
    check.add_argument(
        "--file-only",
        action="store_true",
        help="check the file alone: list the secrets and directories this machine lacks without failing",
    )
    check.set_defaults(func=_cmd_check_config)

    status = command(
        "status",
        "the running daemon's health (exit 0 healthy, 1 not, 2 unreachable)",
        "Ask a running daemon's health server (/healthz) whether it is watching: streams, marks, open "
        "episodes. Exit 0 healthy, 1 unhealthy, 2 unreachable.",
    )
    status.add_argument(
        "--url", type=http_url, default="http://127.0.0.1:9108", help="the daemon's health server"
    )
    status.add_argument("--json", action="store_true", help="print the /healthz document as it is")
    status.add_argument(
        "--timeout", type=number(gt=0), default=3.0, metavar="SECONDS", help="how long to wait (default 3)"
    )
    status.set_defaults(func=_cmd_status)

    sim = command(
        "sim",
        "the simulated exchange on its own, for paper-testing a config",
        "Start a simulated exchange (Binance USD-M unless --venue says otherwise) on 127.0.0.1 and "
        "print its URLs and accounts, to point 'monitor run' at it. Runs until Ctrl-C.",
    )
    sim.add_argument(
        "--book",
        default="demo",
        choices=sorted(BOOKS),
        help="the accounts: %(choices)s (default %(default)s)",
    )
    sim.add_argument(
        "--scenario",
        default="calm",
        choices=sorted(SCENARIOS),
        help="what the market does: %(choices)s (default %(default)s)",
    )
    sim.add_argument(
        "--speed",
        type=number(gt=0, lt=1000),
        default=1.0,
        metavar="FACTOR",
        help="simulated seconds per real second (default 1)",
    )
    sim.add_argument("--port", type=port, default=8765, help="TCP port on 127.0.0.1 (default 8765)")
    sim.add_argument(
        "--venue",
        default="binanceusdm",
        choices=sorted(DIALECTS),
        help="the exchange it speaks: %(choices)s (default %(default)s)",
    )
    sim.set_defaults(func=_cmd_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
