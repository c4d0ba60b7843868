"""`carpha status [--cluster] [--watch]`: what this node (or both) serves
(carpha.ops.statusview)."""

from __future__ import annotations

import json
import sys

from .. import exits, clock
from ..exits import CarphaError
from ..ops.statusview import cluster_view, format_cluster, format_status, status_report
from ..ops.survey import failed
from .common import make_runner, setup


def register(sub) -> None:
    p = sub.add_parser("status", help="what this node serves, as carpha sees it (exit 1 unless all is well)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--cluster", action="store_true", help="both nodes side by side, from the witness records")
    p.add_argument("--watch", action="store_true", help="redraw every --interval seconds (a progress bar "
                                                        "while a mirror resynchronises)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between redraws (default 2)")
    p.add_argument("--count", type=int, default=0, help="with --watch: stop after this many redraws "
                                                         "(default: until interrupted)")
    p.set_defaults(handler=cmd_status)


def cmd_status(args, out=None) -> int:
    out = out or sys.stdout
    config, logger = setup(args)
    if not 0.1 <= args.interval <= 3600 or args.count < 0:
        raise CarphaError("status: --interval must be in [0.1, 3600] and --count >= 0", exits.USAGE)
    shown, code = 0, exits.OK
    while True:
        if args.cluster:
            view = cluster_view(config)
            text = json.dumps(view, indent=2, sort_keys=True) if args.json else format_cluster(config, view)
            code = exits.OK if all(v is not None and not failed(v) for v in view.values()) else 1
        else:
            report = status_report(config, make_runner(config, logger), logger)
            text = json.dumps(report, indent=2, sort_keys=True, default=str) if args.json else \
                format_status(config.node, report["groups"]) + "".join(f"\n  {p}" for p in report["problems"])
            code = exits.OK if report["check"] == "OK" else 1
        if args.watch and not args.json:
            out.write("\x1b[H\x1b[2J")          # home, clear: as watch(1) redraws
        out.write(text + "\n")
        out.flush()
        shown += 1
        if not args.watch or (args.count and shown >= args.count):
            return code
        clock.sleep(args.interval)
