"""`carpha switchover GROUP`: a planned move to the peer, waiting for it to
serve."""

from __future__ import annotations

from .. import exits
from ..actions.base import Context
from .common import make_runner, setup, group_of


def register(sub):
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
