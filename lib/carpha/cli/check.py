"""`carpha check [--repair]`: the consistency check, a Nagios/Icinga plugin
(carpha.ops.check)."""

from __future__ import annotations

import json
import sys

from ..exits import CarphaError
from ..ops import check
from .common import make_runner, setup


def register(sub) -> None:
    p = sub.add_parser("check", help="the consistency check (a Nagios/Icinga plugin: exit 0 OK, 1 WARNING, "
                                     "2 CRITICAL, 3 UNKNOWN)")
    p.add_argument("--json", action="store_true", help="print the findings and survey as JSON")
    p.add_argument("--repair", action="store_true", help="run the reconcile the hooks run, report what it changed")
    p.add_argument("-n", "--dry-run", action="store_true", help="with --repair: print what it would run")
    p.set_defaults(handler=cmd_check)


def cmd_check(args) -> int:
    try:
        config, logger = setup(args)
    except CarphaError as error:
        print(f"CARPHA UNKNOWN: {error}")
        return check.UNKNOWN
    repaired = None
    try:
        if args.repair and args.dry_run:
            for line in check.plan_repair(config, make_runner(config, logger, dry_run=True), logger):
                print(line)
        elif args.repair:
            repaired = check.repair(config, lambda: make_runner(config, logger), logger)
            for line in repaired:
                logger.info(f"check --repair: {line}")
        result = check.evaluate(config, make_runner(config, logger), logger)
    except (CarphaError, OSError) as error:
        print(f"CARPHA UNKNOWN: {error}")
        return check.UNKNOWN
    if args.json:
        json.dump({**result, "repaired": repaired}, sys.stdout, indent=2, sort_keys=True, default=str)
        print()
    else:
        print(check.plugin_output(result, repaired))
    if result["status"] != check.OK:
        logger.warning(check.plugin_output(result).splitlines()[0])
    return result["status"]
