"""The command-line handlers of the operator's commands: check, status,
log, run-if-master, copy and excludes. Thin: parse, load the config, call
the module that does the work (carpha.ops.check, statusview, logview,
servedhere, jailcopy), map the result to an exit code. Kept apart from
those modules so that they never import carpha.cli.commands (no cycle)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from ..ops import check, logview
from .. import clock, exits
from ..store import journal
from ..actions.base import Context
from .commands import group_of, load_config, make_runner, setup
from ..exits import CarphaError
from ..ops.jailcopy import copy, excludes
from ..host.observe import get_mounts
from ..ops.servedhere import DEFAULT_TIMEOUT, run_if_master
from ..ops.statusview import cluster_view, format_cluster, format_status, status_report
from ..ops.survey import failed


# --- check -----------------------------------------------------------------
def register_check(sub) -> None:
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


# --- logview ---------------------------------------------------------------
def register_logview(sub) -> None:
    p = sub.add_parser("log", help="the journal as a timeline: events, decisions, commands, outcomes")
    p.add_argument("group", nargs="?", help="only this group")
    p.add_argument("--since", help="from this time (2026-12-01, 2026-12-01T10:00Z) or age (30m, 4h, 2d)")
    p.add_argument("--json", action="store_true", help="the records as JSON lines")
    p.set_defaults(handler=cmd_log)


def cmd_log(args) -> int:
    config = load_config(args)
    groups = [group_of(config, args.group)] if args.group else \
        [g for g in config.groups.values() if config.node in g.nodes]
    since: Optional[float] = logview.parse_since(args.since, clock.now()) if args.since else None
    for group in groups:
        records = [r for r in journal.history(config.paths.state_dir, group.journal)
                   if r.get("group") in (None, group.name)
                   and (since is None or logview.record_time(r) >= since)]
        if args.json:
            for record in records:
                print(json.dumps(record, sort_keys=True))
            continue
        lines = logview.timeline(records, group.name)
        print("\n".join(lines) if lines else f"{group.name}: nothing journaled"
              + (f" since {logview.stamp(since)}" if since is not None else ""))
    sys.stdout.flush()
    return exits.OK


# --- servedhere ------------------------------------------------------------
def register_servedhere(sub) -> None:
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


# --- jailcopy --------------------------------------------------------------
def register_jailcopy(sub) -> None:
    p = sub.add_parser("copy", help="copy the group's jail roots to DEST (host:path over ssh, or a local path)")
    p.add_argument("group")
    p.add_argument("dest")
    p.add_argument("-n", "--dry-run", action="store_true", help="print the rsync commands, run nothing")
    p.add_argument("--timeout", type=float, default=86400.0, help="seconds per jail (default 86400)")
    p.set_defaults(handler=cmd_copy)
    p = sub.add_parser("excludes", help="print what a copy of the group's jail roots must leave out")
    p.add_argument("group")
    p.set_defaults(handler=cmd_excludes)


def cmd_excludes(args) -> int:
    config, logger = setup(args)
    group = group_of(config, args.group)
    ctx = Context(config, group, config.node, make_runner(config, logger), logger)
    print("\n".join(excludes(ctx, get_mounts(ctx))))
    return exits.OK


def cmd_copy(args) -> int:
    if not args.dest or args.dest.startswith("-"):
        raise CarphaError(f"copy: {args.dest!r} is not a destination", exits.USAGE)
    config, logger = setup(args)
    group = group_of(config, args.group)
    ctx = Context(config, group, config.node, make_runner(config, logger, dry_run=args.dry_run), logger)
    return copy(ctx, args.dest, args.timeout)


# --- statusview ------------------------------------------------------------
def register_statusview(sub) -> None:
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


def register_all(sub) -> None:
    for register in (register_statusview, register_check, register_logview, register_servedhere,
                     register_jailcopy):
        register(sub)
