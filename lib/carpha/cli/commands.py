"""The engine's subcommands: reconcile (the worker), the per-action hooks,
takeover/release by hand, and status. Registered into carpha.cli.main."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .. import exits, log as logmod
from ..engine import transitions, worker
from ..actions.base import Context, apply
from ..exits import CarphaError
from ..store.lock import Lock
from ..host.observe import get_carp_state
from ..host.runner import Runner

HOOK_LOCK_WAIT = 30.0


def load_config(args):
    from ..config import DEFAULT_PATH, load
    path = args.config or os.environ.get("CARPHA_CONFIG") or DEFAULT_PATH
    return load(path, node=getattr(args, "node", None))


def make_runner(config, logger, dry_run=False) -> Runner:
    return Runner(path=config.paths.command_path, dry_run=dry_run, logger=logger)


def setup(args):
    config = load_config(args)
    logger = logmod.setup(config.syslog_facility, verbose=getattr(args, "verbose", False))
    return config, logger


def group_of(config, name: str):
    if name not in config.groups:
        raise CarphaError(f"no group {name!r} in {config.path} (groups: {', '.join(config.groups)})", exits.USAGE)
    group = config.groups[name]
    if config.node not in group.nodes:
        raise CarphaError(f"{config.node} is not one of group {name}'s nodes ({', '.join(group.nodes)})",
                          exits.USAGE)
    return group


# --- carpha reconcile -------------------------------------------------------

def register_reconcile(sub):
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


# --- the per-action hooks ---------------------------------------------------

def register_action(sub):
    p = sub.add_parser("action", help="run one action on a group (what the hooks run)")
    p.add_argument("name", choices=sorted(transitions.HOOKS))
    add_group_options(p)
    p.set_defaults(handler=cmd_action)


def add_group_options(p):
    p.add_argument("group")
    p.add_argument("-n", "--dry-run", action="store_true", help="print the commands, change nothing")
    p.add_argument("-f", "--force", action="store_true", help="act even if this node is not CARP MASTER")


def cmd_action(args) -> int:
    config, logger = setup(args)
    group = group_of(config, args.group)
    actions = transitions.HOOKS[args.name]
    ctx = Context(config, group, config.node, make_runner(config, logger, args.dry_run), logger)
    acquiring = args.name in transitions.ACQUIRING and not args.force

    def still_master() -> None:
        # Checked under the lock and again between steps: the worker may have
        # demoted the node while this hook waited for the lock.
        carp = get_carp_state(ctx)
        if carp != transitions.MASTER:
            vhids = ", ".join(f"vhid {b.vhid} on {b.interface}" for b in group.bindings) or "no vhid"
            raise CarphaError(f"{args.name}: refusing: {config.node} is {carp or 'not configured'} for "
                              f"group {group.name} ({vhids}), not MASTER; use --force to act anyway",
                              exits.TEMPFAIL)

    if args.dry_run:
        if acquiring:
            still_master()
        outcomes = [apply(action, ctx) for action in actions]
    else:
        with Lock(config.paths.run_dir, group.name, purpose=args.name).acquire(timeout=HOOK_LOCK_WAIT):
            if acquiring:
                still_master()
            outcomes = [apply(action, ctx, between=still_master if acquiring else None) for action in actions]
    verb = "would change" if args.dry_run else "changed"
    for outcome in outcomes:
        print(f"{group.name}: {outcome.action}: " + (f"{verb} ({len(outcome.steps)} steps)" if outcome.changed
                                                     else "nothing to do"))
    return exits.OK


# --- takeover / release -----------------------------------------------------

def register_handover(sub):
    for name, helptext in (("takeover", "force CARP MASTER here and serve the group (for when the peer is "
                                        "down or has released it: it does not wait for a live peer to let go)"),
                           ("release", "let go of the group here, then force CARP BACKUP (the planned way to "
                                       "move a group between live nodes)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("group")
        p.add_argument("-n", "--dry-run", action="store_true", help="print the full plan, change nothing")
        if name == "takeover":
            p.add_argument("--accept-data-loss", action="store_true",
                           help="promote even though the peer recorded this node's replica as out of date")
        p.set_defaults(handler=cmd_handover)


def cmd_handover(args) -> int:
    from ..engine.handover import hand_over
    config, logger = setup(args)
    group = group_of(config, args.group)
    role = transitions.MASTER if args.command == "takeover" else transitions.BACKUP
    ctx = Context(config, group, config.node, make_runner(config, logger, args.dry_run), logger)
    if args.dry_run:
        print(f"# {config.node}: {args.command} {group.name} (planned from what {config.node} shows now)")
        hand_over(ctx, role)
        return exits.OK
    result = hand_over(ctx, role, accept_data_loss=getattr(args, "accept_data_loss", False))
    print(f"{group.name}: {config.node} is {result.role}" + (" (changed)" if result.changed else "")
          + (f": {result.error}" if result.error and group.storage.kind == "local-gmirror" else ""))
    return exits.OK


# --- switchover ---------------------------------------------------------------

def register_switchover(sub):
    p = sub.add_parser("switchover", help="move a group to the peer with no write lost (planned)")
    p.add_argument("group")
    p.add_argument("--to", help="the peer node (checked)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the peer (default 120)")
    p.set_defaults(handler=cmd_switchover)


def cmd_switchover(args) -> int:
    from ..engine.handover import switch_over
    config, logger = setup(args)
    group = group_of(config, args.group)
    ctx = Context(config, group, config.node, make_runner(config, logger), logger)
    switch_over(ctx, to=args.to, timeout=args.timeout)
    return exits.OK


# --- resolve (split brain) ---------------------------------------------------------

def register_resolve(sub):
    p = sub.add_parser("resolve", help="end a split brain by keeping NODE's data: run on NODE while it serves "
                                       "the group; the peer's disk is then rebuilt from it (its writes since "
                                       "the split are lost)")
    p.add_argument("group")
    p.add_argument("--keep", required=True, metavar="NODE", help="the node whose data is kept (this node)")
    p.set_defaults(handler=cmd_resolve)


def cmd_resolve(args) -> int:
    from ..safety.splitbrain import resolve
    config, logger = setup(args)
    group = group_of(config, args.group)
    ctx = Context(config, group, config.node, make_runner(config, logger), logger)
    code, message = resolve(ctx, args.keep)
    print(message)
    return code


# --- heartbeat ------------------------------------------------------------------

def register_heartbeat(sub):
    p = sub.add_parser("heartbeat", help="renew this node's witness lease every interval (long-running)")
    p.add_argument("--beats", type=int, help=argparse.SUPPRESS)     # bounded runs for tests
    p.set_defaults(handler=cmd_heartbeat)


def cmd_heartbeat(args) -> int:
    from ..engine.heartbeat import main_loop
    config, logger = setup(args)
    return main_loop(config, config.node, beats=args.beats, runner=make_runner(config, logger), log=logger)


def register_boot_hold(sub):
    p = sub.add_parser("boot-hold", help="at boot, before netif (rc.d/carpha_boot): keep CARP demoted "
                                         "until this node's replica is known in sync")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p.set_defaults(handler=cmd_boot_hold)


def cmd_boot_hold(args) -> int:
    config, logger = setup(args)
    worker.boot_hold(config, make_runner(config, logger, dry_run=args.dry_run), logger)
    return exits.OK


# --- status (carpha.ops.statusview) ----------------------------------------------

def format_report(node: str, report: dict) -> str:
    from ..ops.statusview import format_status
    return format_status(node, report)


# --- simulate -----------------------------------------------------------------

def register_simulate(sub):
    p = sub.add_parser("simulate", help="rehearse a failover on a simulated cluster, for every group")
    p.add_argument("--scenario", default="master-crash",
                   help="master-crash (default); an unknown name lists them all")
    p.add_argument("--group", help="only this group (default: each group of the config in turn)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--seed", type=int, default=1,
                   help="picks every timer's phase (default 1); the verdict says it, the same seed replays")
    p.set_defaults(handler=cmd_simulate)


def cmd_simulate(args) -> int:
    from ..rehearsal import simulate
    from ..config import loads
    if args.scenario not in simulate.SCENARIOS:
        raise CarphaError(f"unknown scenario {args.scenario!r}; one of: {', '.join(simulate.SCENARIOS)}",
                          exits.USAGE)
    path = args.config or simulate.DEFAULT_CONFIG
    with open(path) as f:
        # A NAS group (local-gmirror) has no CARP failover to rehearse:
        # scenario nas-move moves it.
        groups = [name for name, g in loads(f.read(), path, node=simulate.group_nodes_of(path)[0]).groups.items()
                  if g.storage.kind != "local-gmirror"]
    if args.group and args.group not in groups:
        raise CarphaError(f"simulate: no group {args.group!r} in {path} (groups: {', '.join(groups)})", exits.USAGE)
    verdicts = [simulate.run_scenario(args.scenario, path, seed=args.seed, group=name, node=args.node)
                for name in ([args.group] if args.group else groups)]
    if args.json:
        json.dump(verdicts[0] if len(verdicts) == 1 else verdicts, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print("\n\n".join(simulate.format_timeline(v) for v in verdicts))
    return exits.OK if all(simulate.passed(v) for v in verdicts) else exits.FAILED


# --- maintenance ----------------------------------------------------------------

def register_maintenance(sub):
    p = sub.add_parser("maintenance", help="node-wide maintenance mode: no automatic failover, CARP demoted")
    msub = p.add_subparsers(dest="maintenance_command", metavar="SUBCOMMAND")
    msub.required = True
    on = msub.add_parser("on", help="turn maintenance mode on (it expires by itself)")
    on.add_argument("--reason", required=True, help="why, one line (logged and shown by status)")
    on.add_argument("--for", dest="duration", metavar="DURATION",
                    help="90s, 30m, 4h, 2d or seconds, at most 30d (default: maintenance.default_seconds)")
    on.set_defaults(handler=cmd_maintenance)
    off = msub.add_parser("off", help="turn maintenance mode off")
    off.set_defaults(handler=cmd_maintenance)
    st = msub.add_parser("status", help="whether maintenance mode is on, and until when")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=cmd_maintenance)


def _operator() -> str:
    """Who turned the mode on, for the record (sudo keeps the real login)."""
    import pwd
    name = os.environ.get("SUDO_USER")
    if name:
        return name
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def cmd_maintenance(args) -> int:
    from .. import clock
    from ..safety import maintenance
    config, logger = setup(args)
    state_dir = config.paths.state_dir
    now = clock.now()
    if args.maintenance_command == "status":
        if args.json:
            json.dump(maintenance.report(state_dir, now), sys.stdout, indent=2, sort_keys=True)
            print()
        else:
            print(maintenance.status(state_dir, now))
        return exits.OK
    if args.maintenance_command == "off":
        try:
            maintenance.read(state_dir)
        except maintenance.MaintenanceError as error:
            maintenance.disable(state_dir)
            print(f"maintenance: off (removed {error})")
            logger.info(f"maintenance mode off (removed {error})")
            return exits.OK
        mode = maintenance.disable(state_dir)
        if mode is None:
            print("maintenance: off (it was not on)")
        else:
            was = "had expired" if mode.expired(now) else "was on"
            print(f"maintenance: off ({was} since {maintenance.format_time(mode.since)}: {mode.reason})")
            logger.info(f"maintenance mode off ({was}: {mode.reason})")
        _sync_demotion(config, logger)
        return exits.OK
    try:
        seconds = (maintenance.parse_duration(args.duration) if args.duration is not None
                   else config.maintenance.default_seconds)
        mode = maintenance.enable(state_dir, args.reason, seconds, now, by=_operator())
    except ValueError as error:
        raise CarphaError(f"maintenance on: {error}", exits.USAGE) from None
    line = maintenance.describe(mode, now)
    print(line)
    logger.info(line.replace("maintenance: on", "maintenance mode on", 1))
    _sync_demotion(config, logger)
    return exits.OK


def _sync_demotion(config, logger) -> None:
    """Raise or drop carpha's CARP demotion now, not at the next worker pass
    (the worker keeps it in step afterwards, across reboots too)."""
    try:
        worker.sync_demotion(config, make_runner(config, logger), logger)
    except CarphaError as error:
        print(f"warning: CARP demotion not changed yet ({error}); the next worker pass retries",
              file=sys.stderr)


def register_all(sub) -> None:
    for register in (register_reconcile, register_action, register_handover, register_switchover,
                     register_simulate, register_maintenance, register_heartbeat,
                     register_boot_hold):
        register(sub)
    register_resolve(sub)
