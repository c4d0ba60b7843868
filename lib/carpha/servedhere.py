"""`carpha run-if-master GROUP -- COMMAND...`: run COMMAND only while this
node really serves GROUP, so a crontab line (a backup, an rsync to the NAS)
never has to move at a failover.

"Serves" is more than CARP MASTER (a node can be MASTER while it refuses to
promote, or mid-move): CARP MASTER, the last role applied MASTER, every
filesystem mounted from its device, every address present and every jail
running (carpha.survey). Elsewhere it exits 0 silently. COMMAND runs
through the runner (argv, no shell, the config's PATH, a timeout) and its
exit status is passed through."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from . import exits, transitions
from .actions.base import Context
from .exits import CarphaError
from .survey import failed, survey_group

DEFAULT_TIMEOUT = 86400.0


def not_served_because(group, seen: dict) -> Optional[str]:
    """Why this node does not serve the group (pure), or None when it does."""
    for key in ("carp", "addresses", "mounts", "jails"):
        if failed(seen[key]):
            return f"cannot read {key}: {failed(seen[key])}"
    if seen["carp"] != transitions.MASTER:
        return f"CARP is {seen['carp'] or 'absent'}"
    saved = seen.get("state")
    if failed(saved) or not saved or saved["role"] != transitions.MASTER:
        return "carpha has not finished promoting it here"
    for fs in group.filesystems:
        if not any(m["mountpoint"] == fs.mountpoint and m["device"] == fs.device for m in seen["mounts"]):
            return f"{fs.mountpoint} is not mounted from {fs.device}"
    missing = [str(a.ip) for a in group.addresses if str(a.ip) not in seen["addresses"]]
    if missing:
        return f"address {', '.join(missing)} missing"
    down = [j for j in group.jails if j not in seen["jails"]]
    if down:
        return f"jail {', '.join(down)} not running"
    return None


def register(sub) -> None:
    p = sub.add_parser("run-if-master", help="run COMMAND only while this node serves GROUP (else exit 0)")
    p.add_argument("group")
    p.add_argument("-n", "--dry-run", action="store_true", help="say whether it would run, run nothing")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds before COMMAND is killed (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND...")
    p.set_defaults(handler=cmd_run_if_master)


def cmd_run_if_master(args) -> int:
    from .commands import group_of, make_runner, setup
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise CarphaError("run-if-master: no COMMAND after --", exits.USAGE)
    if not 0 < args.timeout <= 30 * 86400:
        raise CarphaError(f"run-if-master: --timeout {args.timeout:g} is not in (0, 2592000]", exits.USAGE)
    config, logger = setup(args)
    group = group_of(config, args.group)
    runner = make_runner(config, logger, dry_run=args.dry_run)
    why = not_served_because(group, survey_group(Context(config, group, config.node, runner, logger)))
    if why is not None:
        logger.debug(f"run-if-master {group.name}: not run: {why}")
        if args.dry_run:
            print(f"{group.name}: would not run: {why}")
        return exits.OK
    result = runner.change(argv, timeout=args.timeout, check=False)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode
