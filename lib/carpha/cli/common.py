"""What every subcommand needs: the config (-c, $CARPHA_CONFIG or the
default), the runner, the log, a group of this node."""

from __future__ import annotations

import os

from .. import exits, log as logmod
from ..exits import CarphaError
from ..host.runner import Runner


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
