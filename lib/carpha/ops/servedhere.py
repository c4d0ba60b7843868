"""`carpha run-if-master GROUP -- COMMAND...`: run COMMAND only while this
node really serves GROUP, so a crontab line (a backup, an rsync to the NAS)
never has to move at a failover.

"Serves" is more than CARP MASTER (a node can be MASTER while it refuses to
promote, or mid-move): CARP MASTER (a NAS group has no vhid: not asked),
the last role applied MASTER, every
filesystem mounted from its device, every address present and every jail
running (carpha.ops.survey). Elsewhere it exits 0 silently. COMMAND runs
through the runner (argv, no shell, the config's PATH, a timeout) and its
exit status is passed through."""

from __future__ import annotations

import sys
from typing import Optional

from .. import exits
from ..engine import transitions
from .survey import failed, survey_group

DEFAULT_TIMEOUT = 86400.0


def not_served_because(group, seen: dict) -> Optional[str]:
    """Why this node does not serve the group (pure), or None when it does."""
    for key in ("carp", "addresses", "mounts", "jails"):
        if failed(seen[key]):
            return f"cannot read {key}: {failed(seen[key])}"
    # A NAS group has no vhid: served where carpha applied MASTER (carpha.engine.nas).
    if group.carp is not None and seen["carp"] != transitions.MASTER:
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


def run_if_master(ctx, argv, timeout: float, out=None, err=None) -> int:
    """COMMAND's exit status where ctx's node serves the group, else 0."""
    why = not_served_because(ctx.group, survey_group(ctx))
    if why is not None:
        ctx.log.debug(f"run-if-master {ctx.group.name}: not run: {why}")
        if ctx.dry_run:
            (out or sys.stdout).write(f"{ctx.group.name}: would not run: {why}\n")
        return exits.OK
    result = ctx.runner.change(argv, timeout=timeout, check=False)
    (out or sys.stdout).write(result.stdout)
    (err or sys.stderr).write(result.stderr)
    return result.returncode
