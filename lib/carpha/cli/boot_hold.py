"""`carpha boot-hold`: at boot, keep CARP demoted until this node's replica
is known in sync (rc.d/carpha_boot)."""

from __future__ import annotations

from .. import exits
from ..engine import worker
from .common import make_runner, setup


def register(sub):
    p = sub.add_parser("boot-hold", help="at boot, before netif (rc.d/carpha_boot): keep CARP demoted "
                                         "until this node's replica is known in sync")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p.set_defaults(handler=cmd_boot_hold)


def cmd_boot_hold(args) -> int:
    config, logger = setup(args)
    worker.boot_hold(config, make_runner(config, logger, dry_run=args.dry_run), logger)
    return exits.OK
