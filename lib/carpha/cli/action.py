"""`carpha action NAME GROUP`: one hook (claim-addresses, promote-storage, ...)
under the group's lock; what hooks/ run."""

from __future__ import annotations

from .. import exits
from ..actions.base import Context, apply
from ..engine import transitions
from ..exits import CarphaError
from ..host.observe import get_carp_state
from ..store.lock import Lock
from .common import make_runner, setup, group_of


HOOK_LOCK_WAIT = 30.0


def register(sub):
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
