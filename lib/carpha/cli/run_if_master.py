"""`carpha run-if-master GROUP -- COMMAND...`: COMMAND only where GROUP is
served (carpha.ops.servedhere)."""

from __future__ import annotations

import argparse

from .. import exits
from ..actions.base import Context
from ..exits import CarphaError
from ..ops.servedhere import DEFAULT_TIMEOUT, run_if_master
from .common import make_runner, setup, group_of


def register(sub) -> None:
    p = sub.add_parser("run-if-master", help="run COMMAND only while this node serves GROUP (else exit 0)")
    p.add_argument("group")
    p.add_argument("-n", "--dry-run", action="store_true", help="say whether it would run, run nothing")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds before COMMAND is killed (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND...")
    p.set_defaults(handler=cmd_run_if_master)


def cmd_run_if_master(args) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise CarphaError("run-if-master: no COMMAND after --", exits.USAGE)
    if not 0 < args.timeout <= 30 * 86400:
        raise CarphaError(f"run-if-master: --timeout {args.timeout:g} is not in (0, 2592000]", exits.USAGE)
    config, logger = setup(args)
    group = group_of(config, args.group)
    ctx = Context(config, group, config.node, make_runner(config, logger, dry_run=args.dry_run), logger)
    return run_if_master(ctx, argv, args.timeout)
