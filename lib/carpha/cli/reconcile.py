"""`carpha reconcile [GROUP]`: the worker's pass, by hand or from cron."""

from __future__ import annotations

from .. import exits
from ..engine import worker
from ..ops.survey import failed
from .common import make_runner, setup, group_of


def register(sub):
    p = sub.add_parser("reconcile", help="make this node's reality match its CARP role (the worker)")
    p.add_argument("group", nargs="?", help="only this group")
    p.set_defaults(handler=cmd_reconcile)


def cmd_reconcile(args) -> int:
    config, logger = setup(args)
    if args.group:
        group_of(config, args.group)
    results = worker.reconcile(config, config.node, lambda: make_runner(config, logger), logger,
                               only_group=args.group)
    for result in results.values():
        print(f"{result.group}: {result.role}" + (" (changed)" if result.changed else " (no change)")
              + (f": {result.error}" if result.error else ""))
    failed = [r.exit_code for r in results.values() if r.exit_code]
    return max(failed) if failed else exits.OK
