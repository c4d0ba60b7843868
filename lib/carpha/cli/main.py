"""`carpha` command line: argument parsing, exit-code mapping, one summary
line per run. Subcommands import what they need lazily, so `carpha parse`
never loads YAML and nothing here slows the devd hook (which does not import
this module at all)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from .. import __version__, exits
from ..exits import CarphaError


# The modules of carpha.cli that each register a subcommand (`parse` and
# `config check` are built in below).
SUBCOMMANDS = ("reconcile", "action", "handover", "switchover", "simulate", "maintenance", "heartbeat",
               "boot_hold", "resolve", "calibrate", "status", "check", "log", "run_if_master", "copy")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carpha", description="CARP failover for small FreeBSD clusters")
    parser.add_argument("-c", "--config", help="config file (default /usr/local/etc/carpha.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command run")
    parser.add_argument("--node", help="act as this node of the config (default: its node key, else hostname -s)")
    parser.add_argument("--version", action="version", version=f"carpha {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("parse", help="parse FreeBSD command output into JSON")
    p.add_argument("kind", help="ifconfig, gmirror-status, gmirror-list, jls, ggatec-list, sysctl, "
                                "devd-event, mount, hastctl-status")
    p.add_argument("file", nargs="?", help="input file (default: standard input)")

    p = sub.add_parser("config", help="configuration commands")
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    csub.required = True
    c = csub.add_parser("check", help="validate the config file and report every problem")

    import importlib
    for name in SUBCOMMANDS:     # one module per subcommand, in the order --help lists them
        importlib.import_module(f"{__package__}.{name}").register(sub)
    _global_options_after(sub)
    return parser


def _global_options_after(sub) -> None:
    """-c and --node after the subcommand too (`carpha status -c FILE`):
    SUPPRESS keeps a value given before the subcommand when none is given
    after it."""
    for p in sub.choices.values():
        nested = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        for action in nested:
            _global_options_after(action)
        if nested:
            continue
        taken = {o for a in p._actions for o in a.option_strings}
        if "-c" not in taken:
            p.add_argument("-c", "--config", default=argparse.SUPPRESS, help="config file")
        if "--node" not in taken:
            p.add_argument("--node", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return exits.USAGE if stop.code not in (0, None) else exits.OK
    try:
        return args.handler(args) if hasattr(args, "handler") else _builtin(args)
    except CarphaError as error:
        # A config error is one `file:line: key: problem` line per problem.
        lines = getattr(error, "problems", None) or [f"carpha: {error}"]
        for line in lines:
            print(line, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("carpha: interrupted", file=sys.stderr)
        return exits.TEMPFAIL


def _builtin(args) -> int:
    if args.command == "parse":
        return cmd_parse(args)
    if args.command == "config":
        return cmd_config_check(args)
    raise CarphaError(f"unknown command {args.command}", exits.USAGE)


def cmd_parse(args) -> int:
    from ..freebsd import KINDS, ParseError, parse_text
    if args.kind not in KINDS:
        print(f"carpha parse: unknown kind {args.kind!r}; one of: {', '.join(KINDS)}", file=sys.stderr)
        return exits.USAGE
    name = args.file or "<stdin>"
    try:
        if args.file:
            with open(args.file, encoding="utf-8", errors="replace") as f:
                text = f.read()
        else:
            text = sys.stdin.read()
    except OSError as error:
        print(f"carpha parse: {name}: {error.strerror}", file=sys.stderr)
        return exits.USAGE if isinstance(error, FileNotFoundError) else exits.DATAERR
    try:
        data = parse_text(args.kind, text)
    except ParseError as error:
        where = f"{name}:{error.lineno}" if error.lineno else name
        print(f"carpha parse: {where}: {error.reason}", file=sys.stderr)
        return exits.DATAERR
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return exits.OK


def config_path(args) -> str:
    from ..config import DEFAULT_PATH
    import os
    return args.config or os.environ.get("CARPHA_CONFIG") or DEFAULT_PATH


def cmd_config_check(args) -> int:
    from ..config import load
    path = config_path(args)
    config = load(path)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    from .calibrate import check_lines
    lines, problems = check_lines(config)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return exits.CONFIG
    print(f"{path}: OK: node {config.node}, {len(config.groups)} group(s): {', '.join(config.groups)}")
    for line in lines:
        print(f"  {line}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
