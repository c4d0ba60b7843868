"""UFS as mount(8), umount(8) and fsck_ffs(8) see it (reference 8).

A filesystem is a superblock summary stored in a provider's content:
{"journal": SU+J?, "clean": fs_clean, "inconsistent": needs a full
check, "dirs": directories under its root, "last_mounted": fs_fsmnt}.
Mounting read-write writes clean=0 to the disk and a clean unmount
writes clean=1, so a crash leaves it dirty wherever the data went,
including mirror components and resync copies. A dirty SU+J filesystem
refuses a read-write mount until fsck replays the journal
(sys/ufs/ffs/ffs_vfsops.c: "R/W mount of %s denied. Filesystem is not
clean - run fsck. Forced mount will invalidate journal contents").
"""

from __future__ import annotations


def new_fs(*, journal: bool = True, dirs=(), size: int = 0) -> dict:
    return {"type": "ufs", "softdep": True, "journal": journal, "clean": True,
            "inconsistent": False, "dirs": sorted({d.strip("/") for d in dirs}),
            "last_mounted": "", "size": size}


def stats(fs: dict, blocks: int) -> tuple:
    """(free, nffree, nbfree, fragmentation %) for the summary lines, from a
    32 KiB block / 4 KiB fragment layout (newfs defaults)."""
    size = fs.get("size") or 1 << 30
    dsize = max(1, size // 4096)
    if fs.get("free"):
        nffree, nbfree = fs["free"]
        return nffree + 8 * nbfree, nffree, nbfree, nffree * 100.0 / dsize
    nbfree = max(0, size // 32768 - blocks - 2)
    nffree = blocks % 8
    return nffree + 8 * nbfree, nffree, nbfree, nffree * 100.0 / dsize


def mount_flags(mnt: dict) -> list:
    """prmount() names in optnames[] order (sbin/mount/mount.c)."""
    if mnt["fstype"] == "devfs":
        return []
    names = ["local"]
    if "noatime" in mnt["opts"]:
        names.append("noatime")
    if "ro" in mnt["opts"]:
        names.append("read-only")
    names.append("soft-updates")
    if mnt.get("journal"):
        names.append("journaled soft-updates")
    return names


def covering_mount(host, path: str):
    """The visible mount a path lives on (longest mount point; the last of
    stacked mounts wins)."""
    best = None
    for mnt in host.mounts:
        mp = mnt["mountpoint"]
        if path == mp or path.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) >= len(best["mountpoint"]):
                best = mnt
    return best


def path_exists(host, path: str) -> bool:
    """A directory exists on the filesystem that is mounted over it."""
    from . import geom
    path = "/" + path.strip("/")
    mnt = covering_mount(host, path)
    if mnt is None or mnt.get("orphaned"):
        return False
    if mnt["fstype"] != "ufs":
        return path == mnt["mountpoint"]
    if mnt.get("prov") is None:          # the root filesystem
        rel = path.strip("/")
        return rel == "" or any(d == rel or d.startswith(rel + "/") for d in host.root_dirs)
    content = geom.read_content(host, mnt["prov"])
    if content is None or content["fs"] is None:
        return False
    rel = path[len(mnt["mountpoint"]):].strip("/")
    if rel == "":
        return True
    return any(d == rel or d.startswith(rel + "/") for d in content["fs"]["dirs"])
