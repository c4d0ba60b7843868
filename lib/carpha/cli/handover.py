"""`carpha takeover GROUP` and `carpha release GROUP`: moving a group by
hand (carpha.engine.handover)."""

from __future__ import annotations

from .. import exits
from ..actions.base import Context
from ..engine import transitions
from .common import make_runner, setup, group_of


def register(sub):
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
