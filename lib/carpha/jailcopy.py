"""`carpha copy GROUP DEST` and `carpha excludes GROUP`: an offline copy of
the group's jail roots, from the node that serves it, with the excludes a
copy of a live jail needs.

Excluded under each jail root: `proc`, `dev`, `var/run/log` and
`var/run/logpriv` (syslogd's sockets), and every mount under the root that
`mount -p` shows (devfs from `mount.devfs`, tmpfs, nullfs): found, not
assumed. The copy is rsync (over ssh for a `host:path` DEST, else a local
path), one run per jail into DEST/NAME/, through the runner; `--dry-run`
prints the commands."""

from __future__ import annotations

import sys
from typing import List

from . import exits
from .actions.base import Context
from .exits import CarphaError
from .survey import failed, jail_mounts, jail_roots, survey_group

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


def _mounts(ctx):
    from .observe import get_mounts
    return get_mounts(ctx)


def cmd_excludes(args) -> int:
    from .commands import group_of, make_runner, setup
    config, logger = setup(args)
    group = group_of(config, args.group)
    ctx = Context(config, group, config.node, make_runner(config, logger), logger)
    print("\n".join(excludes(ctx, _mounts(ctx))))
    return exits.OK


def cmd_copy(args) -> int:
    from .commands import group_of, make_runner, setup
    from .servedhere import not_served_because
    if not args.dest or args.dest.startswith("-"):
        raise CarphaError(f"copy: {args.dest!r} is not a destination", exits.USAGE)
    config, logger = setup(args)
    group = group_of(config, args.group)
    runner = make_runner(config, logger, dry_run=args.dry_run)
    ctx = Context(config, group, config.node, runner, logger)
    seen = survey_group(ctx)
    why = not_served_because(group, seen)
    if why is not None:
        raise CarphaError(f"copy {group.name}: {config.node} does not serve it ({why}): copy from the node "
                          f"that does", exits.TEMPFAIL)
    if failed(seen["mounts"]):
        raise CarphaError(f"copy {group.name}: cannot read the mounts: {failed(seen['mounts'])}", exits.SOFTWARE)
    exclude = excludes(ctx, _mounts(ctx))
    worst = 0
    for name, root in zip(group.jails, jail_roots(ctx)):
        result = runner.change(rsync_argv(root, args.dest, name, exclude), timeout=args.timeout, check=False)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.returncode:
            logger.error(f"copy {group.name}: {name}: rsync exited {result.returncode}")
        worst = worst or result.returncode
    return worst
