"""`carpha heartbeat`: the long-running lease loop
(carpha.engine.heartbeat)."""

from __future__ import annotations

import argparse

from .common import make_runner, setup


def register(sub):
    p = sub.add_parser("heartbeat", help="renew this node's witness lease every interval (long-running)")
    p.add_argument("--beats", type=int, help=argparse.SUPPRESS)     # bounded runs for tests
    p.set_defaults(handler=cmd_heartbeat)


def cmd_heartbeat(args) -> int:
    from ..engine.heartbeat import main_loop
    config, logger = setup(args)
    return main_loop(config, config.node, beats=args.beats, runner=make_runner(config, logger), log=logger)
