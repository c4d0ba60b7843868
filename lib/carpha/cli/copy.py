"""`carpha copy GROUP DEST` and `carpha excludes GROUP`: an offline copy of
the group's jail roots (carpha.ops.jailcopy)."""

from __future__ import annotations

from .. import exits
from ..actions.base import Context
from ..exits import CarphaError
from ..host.observe import get_mounts
from ..ops.jailcopy import copy, excludes
from .common import make_runner, setup, group_of


def register(sub) -> None:
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
