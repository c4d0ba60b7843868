"""mount(8), umount(8), fsck(8) and fsck_ufs/fsck_ffs(8).

mount: sbin/mount/mount.c (prmount/putfsent formats, optnames[] order),
mount_fs.c ("mount: <dev>: <errmsg>: <strerror>"); mounting onto an
occupied mount point stacks silently; a device already mounted is busy.
umount: sbin/umount/umount.c ("not a file system root directory",
"unmount of %s failed: Device busy"). fsck_ffs: sbin/fsck_ffs/main.c and
fsutil.c (pwarn/pfatal prefixes in preen mode), journal replay lines as in
sample fsck/pfsense-sg1100 (its figures are reused verbatim). A test sets
fs["rerun"] = N for N full checks that end asking to be run again (exit 16).
"""

from __future__ import annotations

import getopt

from .. import geom, ggate, ufs
from ..executor import Exit, command
from ..storage import INF

MOUNT_USAGE = (
    "usage: mount [-adflpruvw] [-F fstab] [-o options] [-t ufs | external_type]\n"
    "       mount [-dfpruvw] special | node\n"
    "       mount [-dfpruvw] [-o options] [-t ufs | external_type] special node")
UMOUNT_USAGE = ("usage: umount [-fNnv] special ... | node ... | fsid ...\n"
                "       umount -a | -A [-F fstab] [-fnv] [-h host] [-t type]")
MOUNT_SECONDS = 0.1
ERERUN = 16     # sbin/fsck_ffs/fsck.h: the file system must be checked again


def _blocked_wait(host, prov: str) -> float:
    """How long an I/O on an unreachable provider waits: until ggate's
    sweep fails it (-t N), or forever (-t 0)."""
    return geom.stall_seconds(host, prov) or INF


def putfsent(mnt: dict) -> str:
    def col(text: str) -> str:
        n = len(text)
        return text + ("\t" if n < 8 else "") + ("\t" if n < 16 else "") + ("\t" if n < 24 else " ")
    opts = ["rw"] if "ro" not in mnt["opts"] else ["ro"]
    if "noatime" in mnt["opts"]:
        opts.append("noatime")
    opts = ",".join(opts)
    tail = ("1 1" if mnt["mountpoint"] == "/" else "2 2") if mnt["fstype"] == "ufs" else "0 0"
    return (col(mnt["device"]) + col(mnt["mountpoint"]) + f"{mnt['fstype']}\t"
            + opts + ("\t" if len(opts) < 8 else " ") + f"\t{tail}")


@command("mount")
def mount(ctx):
    try:
        opts, args = getopt.getopt(ctx.args, "adF:fLlno:prt:uvw")
    except getopt.GetoptError:
        ctx.usage(MOUNT_USAGE)
    options, fstab_style, force, vfstype = [], False, False, "ufs"
    for flag, value in opts:
        if flag == "-o":
            options += [o for o in value.split(",") if o]
        elif flag == "-p":
            fstab_style = True
        elif flag == "-f":
            force = True
        elif flag == "-r":
            options.append("ro")
        elif flag == "-w":
            options.append("noro")
        elif flag == "-t":
            vfstype = value
        else:
            ctx.unsupported(f"option {flag}")
    host = ctx.host
    if not args:
        for mnt in host.mounts:
            if fstab_style:
                ctx.out(putfsent(mnt))
            else:
                flags = ufs.mount_flags(mnt)
                ctx.out(f"{mnt['device']} on {mnt['mountpoint']} ({mnt['fstype']}"
                        + "".join(f", {f}" for f in flags) + ")")
        return 0
    if len(args) != 2:
        if len(args) == 1:
            ctx.unsupported("mounting from /etc/fstab")
        ctx.usage(MOUNT_USAGE)
    if vfstype != "ufs":
        ctx.unsupported(f"file system type {vfstype}")
    for opt in options:
        if opt not in ("ro", "rw", "noro", "noatime"):
            ctx.unsupported(f"mount option {opt}")
    ro = "ro" in options and "noro" not in options and "rw" not in options
    return do_mount(ctx, args[0], args[1].rstrip("/") or "/", ro, "noatime" in options, force)


def do_mount(ctx, device: str, mountpoint: str, ro: bool, noatime: bool, force: bool) -> int:
    host = ctx.host
    if not device.startswith("/dev/"):
        ctx.unsupported("a device outside /dev")
    prov = geom.strip_dev(device)
    ctx.wait(MOUNT_SECONDS)
    if not geom.provider_exists(host, prov):
        ctx.fail(f"{device}: No such file or directory")
    if any(m.get("prov") == prov and not m.get("orphaned") for m in host.mounts):
        ctx.fail(f"{device}: Device busy")
    if not geom.can_open(host, prov, 1, 0 if ro else 1, 1):
        ctx.fail(f"{device}: Operation not permitted")
    content = geom.read_content(host, prov)
    if content is None:
        ctx.wait(_blocked_wait(host, prov))
        ctx.fail(f"{device}: Input/output error")
    fs = content["fs"]
    if fs is None:
        ctx.fail(f"{device}: Invalid argument")              # [unverified] errno
    fsmnt = fs["last_mounted"] or mountpoint
    if not fs["clean"]:
        if ro or force or (fs["softdep"] and not fs["journal"]):
            host.log("kernel", f"WARNING: {fsmnt} was not properly dismounted")
        else:
            extra = " Forced mount will invalidate journal contents" if fs["journal"] else ""
            ctx.fail(f"{device}: R/W mount of {fsmnt} denied. Filesystem is not clean - "
                     f"run fsck.{extra}: Operation not permitted")
    if not ro:
        wait = geom.write(host, prov, {"op": "fs", "set": {"clean": False, "last_mounted": mountpoint}})
        ctx.wait(wait)
    opts = (["ro"] if ro else []) + (["noatime"] if noatime else [])
    host.mounts.append({"device": device, "prov": prov, "mountpoint": mountpoint,
                        "fstype": "ufs", "opts": opts, "journal": fs["journal"],
                        "id": host.cluster.random32()})
    return 0


@command("umount")
def umount(ctx):
    try:
        opts, args = getopt.getopt(ctx.args, "AaF:fh:Nnt:v")
    except getopt.GetoptError:
        ctx.usage(UMOUNT_USAGE)
    flags = dict(opts)
    for flag in flags:
        if flag not in ("-f", "-v"):
            ctx.unsupported(f"option {flag}")
    if not args:
        ctx.usage(UMOUNT_USAGE)
    rc = 0
    for target in args:
        rc |= do_umount(ctx, target, "-f" in flags, "-v" in flags)
    return rc


def do_umount(ctx, target: str, force: bool, verbose: bool) -> int:
    host = ctx.host
    name = target.rstrip("/") or "/"
    mnt = None
    for candidate in reversed(host.mounts):     # the most recent one first
        if name in (candidate["mountpoint"], candidate["device"]):
            mnt = candidate
            break
    if mnt is None:
        ctx.warnx(f"{name}: not a file system root directory")
        return 1
    if mnt["mountpoint"] in ("/", "/dev"):
        ctx.unsupported(f"unmounting {mnt['mountpoint']}")
    busy = any(j["path"] == mnt["mountpoint"] or j["path"].startswith(mnt["mountpoint"] + "/")
               for j in host.jails.values())
    if busy and not force:
        ctx.warnx(f"unmount of {mnt['mountpoint']} failed: Device busy")
        return 1
    rw = "ro" not in mnt["opts"]
    if rw and not mnt.get("orphaned"):
        # The final sync and the clean superblock are writes (also with -f).
        wait = geom.write(host, mnt["prov"], {"op": "fs", "set": {"clean": True}})
        ctx.wait(wait)
    host.mounts.remove(mnt)
    if verbose:
        ctx.out(f"{mnt['device']}: unmount from {mnt['mountpoint']}")
    if mnt.get("prov") and not mnt.get("orphaned"):
        geom.released(host, mnt["prov"], rw)
    return 0


# ---------------------------------------------------------------------------
# fsck

JOURNAL_REPLAY = [
    # Sample fsck/pfsense-sg1100-boot-suj-recovery (suj.c messages).
    "** SU+J Recovering {dev}",
    "** Reading 11730944 byte journal from inode 4.",
    "** Building recovery table.",
    "** Resolving unreferenced inode list.",
    "** Processing journal entries.",
    "** 288 journal records in 38912 bytes for 23.68% utilization",
    "** Freed 1 inodes (0 dirs) 4 blocks, and 0 frags.",
    "",
    "***** FILE SYSTEM MARKED CLEAN *****",
]
PHASES = ["** Phase 1 - Check Blocks and Sizes", "** Phase 2 - Check Pathnames",
          "** Phase 3 - Check Connectivity", "** Phase 4 - Check Reference Counts",
          "** Phase 5 - Check Cyl groups"]


def _summary(fs, blocks) -> str:
    free, nffree, nbfree, frag = ufs.stats(fs, blocks)
    return f"({nffree} frags, {nbfree} blocks, {frag:.1f}% fragmentation)"


def fsck_check(ctx, device: str, preen: bool, yes: bool, force: bool) -> int:
    host = ctx.host
    prov = geom.strip_dev(device)

    def pfatal(message: str, softdep: bool = True):
        ctx.out(f"{device}: {message}")
        ctx.out(f"{device}: UNEXPECTED{' SOFT UPDATE ' if softdep else ' '}INCONSISTENCY; "
                "RUN fsck MANUALLY.")
        raise Exit(8)

    if not geom.provider_exists(host, prov):
        pfatal(f"Can't open {device}: No such file or directory", False)   # [unverified]
    if not geom.can_open(host, prov, 1, 1, 0):
        # setup(): the write open fails (held exclusively, e.g. mounted rw)
        # and preen gives up [unverified for a mounted file system].
        pfatal("NO WRITE ACCESS", False)
    content = geom.read_content(host, prov)
    if content is None:
        ctx.wait(_blocked_wait(host, prov))
        pfatal(f"Can't read {device}: Input/output error", False)          # [unverified]
    fs = content["fs"]
    if fs is None:
        pfatal("BAD SUPER BLOCK: MAGIC NUMBER WRONG", False)                # [unverified]
    blocks = len(content["blocks"])
    if fs["clean"] and not fs["inconsistent"] and not force and preen:
        ctx.wait(0.1)
        ctx.out(f"{device}: FILE SYSTEM CLEAN; SKIPPING CHECKS")
        ctx.out(f"{device}: clean, {ufs.stats(fs, blocks)[0]} free {_summary(fs, blocks)}")
        return 0
    if fs["journal"] and not force and not fs["clean"]:
        ctx.wait(1.0)
        if not fs["inconsistent"]:
            for line in JOURNAL_REPLAY:
                ctx.out(line.format(dev=device))
            ctx.wait(geom.write(host, prov, {"op": "fs", "set": {"clean": True}}))
            return 0
        ctx.out(JOURNAL_REPLAY[0].format(dev=device))
        if preen:
            ctx.out(f"{device}: UNEXPECTED SU+J INCONSISTENCY")             # [unverified] layout
            pfatal("INTERNAL ERROR: GOT TO reply()")
        ctx.out("** Skipping journal, falling through to full fsck")
        ctx.out("")
    if preen and fs["inconsistent"]:
        pfatal("PARTIALLY ALLOCATED INODE I=4")                            # [unverified] text
    # A full check (also -y on a clean file system) [unverified figures].
    ctx.wait(5.0)
    if not preen:
        ctx.out(f"** {device}")
        ctx.out(f"** Last Mounted on {fs['last_mounted']}")
        for line in PHASES:
            ctx.out(line)
    free = ufs.stats(fs, blocks)[0]
    prefix = f"{device}: " if preen else ""
    ctx.out(f"{prefix}{blocks + 2} files, {blocks * 8} used, {free} free {_summary(fs, blocks)}")
    modified = fs["inconsistent"] or not fs["clean"]
    # sbin/fsck_ffs/main.c checkfilesys() (@002ae26a, with -R): a check that
    # set `rerun` does not mark the file system clean (ckfini(resolved=0)),
    # prints "PLEASE RERUN FSCK" after "MODIFIED" and returns ERERUN, 16 in
    # fsck.h; without -R it does not restart by itself. main() ORs it into
    # the exit status, and fsck(8) passes the status through (reference 8).
    rerun = int(fs.get("rerun", 0)) > 0
    fixed = {"inconsistent": False, "rerun": int(fs["rerun"]) - 1} if rerun else \
        {"clean": True, "inconsistent": False}
    ctx.wait(geom.write(host, prov, {"op": "fs", "set": fixed}))
    if modified and not preen:
        ctx.out("")
        ctx.out("***** FILE SYSTEM WAS MODIFIED *****")
    if rerun:
        ctx.out("")
        ctx.out("***** PLEASE RERUN FSCK *****")
        return ERERUN
    return 0


@command("fsck_ufs", "fsck_ffs")
def fsck_ufs(ctx):
    usage = (f"usage: {ctx.prog} [-BCdEFfnpRrSyZ] [-b block] [-c level] [-m mode] "
             "filesystem ...")                                             # [unverified] text
    try:
        opts, args = getopt.getopt(ctx.args, "b:Bc:CdEfFm:npRrSyZz")
    except getopt.GetoptError:
        ctx.usage(usage, 1)
    flags = {f for f, _ in opts}
    for flag in flags - {"-p", "-y", "-f", "-C"}:
        ctx.unsupported(f"option {flag}")
    if not args:
        ctx.usage(usage, 1)
    preen = "-p" in flags
    if not preen and "-y" not in flags:
        ctx.unsupported("interactive fsck (give -p or -y)")
    rc = 0
    for device in args:
        try:
            rc |= fsck_check(ctx, device, preen, "-y" in flags, "-f" in flags)
        except Exit as stop:
            rc |= stop.code
            if preen:
                break
    return rc


@command("fsck")
def fsck(ctx):
    usage = ("usage: fsck [-dfnpvy] [-B | -F] [-T fstype:fsoptions] [-t fstype] [-c fstab]\n"
             "            [special | node] ...")                           # [unverified] text
    try:
        opts, args = getopt.getopt(ctx.args, "BCdvpfFnyl:t:T:c:")
    except getopt.GetoptError:
        ctx.usage(usage, 1)
    flags = dict(opts)
    for flag in flags:
        if flag not in ("-p", "-y", "-f", "-t", "-C"):
            ctx.unsupported(f"option {flag}")
    if flags.get("-t", "ufs") not in ("ufs", "ffs"):
        ctx.unsupported(f"file system type {flags['-t']}")
    if not args:
        ctx.unsupported("checking every file system of /etc/fstab")
    argv = ["fsck_ufs"] + [f for f in ("-p", "-y", "-f", "-C") if f in flags] + args
    from ..executor import Context
    sub = Context(ctx.host, argv, ctx.timeout - (ctx.cluster.clock.t - ctx.started), ctx.env)
    sub.started = ctx.started
    sub.timeout = ctx.timeout
    try:
        rc = fsck_ufs(sub)
    except Exit as stop:
        rc = stop.code
    ctx._out.extend(sub._out)
    ctx._err.extend(sub._err)
    return rc
