"""`carpha copy GROUP DEST` and `carpha excludes GROUP`: an offline copy of
the group's jail roots, from the node that serves it, with the excludes a
copy of a live jail needs.

Excluded under each jail root: `proc`, `dev`, `var/run/log` and
`var/run/logpriv` (syslogd's sockets), and every mount under the root that
`mount -p` shows (devfs from `mount.devfs`, which jail(8) mounts at start:
usr.sbin/jail/jail.c startcommands[] IP_MOUNT_DEVFS; tmpfs, nullfs):
found, not assumed. The copy is rsync (over ssh for a `host:path` DEST, else a local
path), one run per jail into DEST/NAME/, through the runner; `--dry-run`
prints the commands."""

from __future__ import annotations

import sys
from typing import List

from .. import exits
from ..exits import CarphaError
from .servedhere import not_served_because
from .survey import jail_mounts, jail_roots, survey_group

ALWAYS = ("proc", "dev", "var/run/log", "var/run/logpriv")
# rsync(1): -a archive, -H hard links, -A ACLs, -X extended attributes,
# --numeric-ids (the jails' uids are not the NAS's), --delete-after.
RSYNC = ("rsync", "-aHAX", "--numeric-ids", "--delete-after")


def excludes(ctx, mounts) -> List[str]:
    """Absolute paths to leave out, jail by jail, sorted."""
    paths = {f"{root.rstrip('/')}/{rel}" for root in jail_roots(ctx) for rel in ALWAYS}
    paths |= {m["mountpoint"] for m in jail_mounts(ctx, mounts)}
    return sorted(paths)


def rsync_argv(root: str, dest: str, name: str, exclude: List[str]):
    """rsync of one jail root; excludes anchored at the transfer's root
    (rsync(1) FILTER RULES: a leading / matches at the root of the transfer)."""
    anchored = [f"--exclude=/{p[len(root.rstrip('/')) + 1:]}" for p in exclude
                if p.startswith(root.rstrip("/") + "/")]
    ssh = ["-e", "ssh"] if ":" in dest.split("/", 1)[0] else []
    return (*RSYNC, *ssh, *anchored, f"{root.rstrip('/')}/", f"{dest.rstrip('/')}/{name}/")


def _mounts(ctx):
    from ..host.observe import get_mounts
    return get_mounts(ctx)


def copy(ctx, dest: str, timeout: float, out=None, err=None) -> int:
    """rsync each jail root to DEST/NAME/ from the node serving the group;
    the first non-zero rsync status, or 0."""
    group = ctx.group
    seen = survey_group(ctx)
    why = not_served_because(group, seen)
    if why is not None:
        raise CarphaError(f"copy {group.name}: {ctx.node} does not serve it ({why}): copy from the node "
                          f"that does", exits.TEMPFAIL)
    exclude = excludes(ctx, _mounts(ctx))
    worst = 0
    for name, root in zip(group.jails, jail_roots(ctx)):
        result = ctx.runner.change(rsync_argv(root, dest, name, exclude), timeout=timeout, check=False)
        (out or sys.stdout).write(result.stdout)
        (err or sys.stderr).write(result.stderr)
        if result.returncode:
            ctx.log.error(f"copy {group.name}: {name}: rsync exited {result.returncode}")
        worst = worst or result.returncode
    return worst
