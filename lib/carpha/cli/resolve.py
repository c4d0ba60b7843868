"""`carpha resolve GROUP --keep NODE`: ending a split brain
(carpha.safety.splitbrain)."""

from __future__ import annotations

from ..actions.base import Context
from .common import make_runner, setup, group_of


def register(sub):
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
