"""Disks, GEOM Gate devices and gmirror, as the kernel behaves (reference 4, 5).

Content model: every provider that stores data (a physical disk) holds
`content` = {"blocks": set of block ids, "fs": None or a UFS superblock
summary}; writes are operations applied to each mirror component, a resync
copies the whole content (gmirror has no dirty bitmap). gmirror metadata
lives in the last sector of a component (`Disk.md`), so it travels with
the disk, also when the disk is reached through ggate.

Access counts (r/w/e) are derived from who holds a provider: a mirror
component consumer r1w1e1, a ggated connection r1w1e0, a rw mount r1w1e1.
g_access refuses an exclusive open while someone writes, and a write open
while someone holds it exclusively (sys/geom/geom_subr.c); closing the
last write open re-tastes the provider, which is how gmirror grabs a disk
the moment ggated lets go of it.
"""

from __future__ import annotations

import copy
import hashlib
import struct

from .state import model

G_MIRROR_VERSION = 4
BALANCES = ("none", "round-robin", "load", "split", "prefer")   # g_mirror.h order
INF = float("inf")


def new_content() -> dict:
    return {"blocks": set(), "fs": None}


def apply_op(content: dict, op: dict) -> None:
    kind = op["op"]
    if kind == "block":
        content["blocks"].add(op["id"])
    elif kind == "fs":
        if content["fs"] is not None:
            content["fs"].update(op["set"])
    elif kind == "newfs":
        content["blocks"] = set()
        content["fs"] = copy.deepcopy(op["fs"])
    else:
        raise ValueError(f"unknown op {kind}")


@model
class Disk:
    """A physical provider (ada1): survives crashes, keeps data and metadata."""

    def __init__(self, name: str, mediasize: int, sectorsize: int = 512):
        self.name = name
        self.mediasize = mediasize
        self.sectorsize = sectorsize
        self.content = new_content()
        self.md = None

    @property
    def blocks(self) -> set:
        return self.content["blocks"]


@model
class GgateDev:
    """ggate<unit> on the client: requests travel to a ggated connection."""

    def __init__(self, unit: int, target: str, port: int, path: str, timeout: int,
                 flags: str, pid: int):
        self.unit = unit
        self.info_host = target       # host as given to ggatec create
        self.remote = None            # the host that answered
        self.port = port
        self.path = path
        self.timeout = timeout
        self.flags = flags            # "rw", "ro", "wo"
        self.queue_size = 1024        # G_GATE_QUEUE_SIZE
        self.pid = pid                # the ggatec daemon serving it
        self.conn = None              # pid of the ggated child on the server
        self.remote_boot = None       # server boot id the connection belongs to
        self.lost = False             # ggatec noticed; it reconnects every 2 s
        self.next_retry = None
        self.mediasize = 0
        self.sectorsize = 512
        # [{"t": queued at, "op": op or None (resync I/O), "write": the
        # cluster's pending write it belongs to, or None}]
        self.pending = []
        self.created = None           # g_gate_create(): the guard's phase starts here
        self.last_sweep = None

    @property
    def name(self) -> str:
        return f"ggate{self.unit}"


@model
class Component:
    def __init__(self, prov: str, md: dict):
        self.prov = prov
        self.did = md["did"]
        self.priority = md["priority"]
        self.genid = md["genid"]
        self.syncid = md["syncid"]
        self.flags = set(md["dflags"])
        if md["provider"]:
            self.flags.add("HARDCODED")
        self.hardcoded = md["provider"]
        # What the disk said on arrival: the STARTING pre-flight compares it.
        self.arrived = {k: md[k] for k in ("all", "balance", "slice", "mediasize")}
        self.state = "NEW"
        self.sync_offset = 0
        self.sync_mark = None
        self.attached = 0             # attach sequence: consumers() order


@model
class Mirror:
    def __init__(self, md: dict, now: float, timeout: float):
        self.name = md["name"]
        self.mid = md["mid"]
        self.genid = md["genid"]
        self.syncid = md["syncid"]
        self.ndisks = md["all"]
        self.balance = md["balance"]
        self.slice = md["slice"]
        self.mediasize = md["mediasize"]
        self.sectorsize = md["sectorsize"]
        self.mflags = set(md["mflags"])
        self.state = "STARTING"
        self.launched = False
        self.launch_deadline = now + timeout
        self.components = []
        self.bump_syncid = False
        self.dirty = False
        self.last_write = None
        self.attach_seq = 0
        self.reads = 0               # round-robin position

    @property
    def provider(self) -> str:
        return f"mirror/{self.name}"

    def component(self, prov: str):
        for c in self.components:
            if c.prov == prov:
                return c
        return None

    def active(self) -> list:
        """ACTIVE components in sc_disks order (prefer reads from, and a
        resync copies from, the first one)."""
        return [c for c in self.components if c.state == "ACTIVE"]

    def status(self) -> str:
        # g_mirror_dumpconf() (g_mirror.c @d22ff249, 13.x): COMPLETE when
        # sc_ndisks equals the ACTIVE count, so one ACTIVE disk too many
        # (a disk tasted in after `forget`) is DEGRADED too (reference 4.5).
        if self.state == "STARTING":
            return "STARTING"
        return "COMPLETE" if self.ndisks == len(self.active()) else "DEGRADED"

    def attach(self, comp: "Component") -> None:
        """g_mirror_update_disk(), state NEW (g_mirror.c @d22ff249, 13.x;
        reference 4.2): the disk goes before the first one whose priority is
        not higher, so sc_disks is sorted by priority as of attach time and
        a tie goes in front; `configure -p` later does not re-sort."""
        self.attach_seq += 1
        comp.attached = self.attach_seq
        for index, other in enumerate(self.components):
            if other.priority <= comp.priority:
                self.components.insert(index, comp)
                return
        self.components.append(comp)

    def consumers(self) -> list:
        """The geom's consumer list as `gmirror status/list` print it:
        the most recently attached first (g_new_consumer inserts at the
        head; matches samples gmirror_list and gmirror_status)."""
        return sorted(self.components, key=lambda c: -c.attached)


# ---------------------------------------------------------------------------
# Metadata helpers

def new_metadata(name: str, mid: int, did: int, nall: int, priority: int, *,
                 balance: str, slice_: int, mediasize: int, sectorsize: int,
                 provider: str, provsize: int, genid: int = 0, syncid: int = 1,
                 mflags=(), dflags=()) -> dict:
    return {
        "magic": "GEOM::MIRROR", "version": G_MIRROR_VERSION, "name": name,
        "mid": mid, "did": did, "all": nall, "genid": genid, "syncid": syncid,
        "priority": priority, "slice": slice_, "balance": balance,
        "mediasize": mediasize, "sectorsize": sectorsize, "sync_offset": 0,
        "mflags": list(mflags), "dflags": list(dflags), "provider": provider,
        "provsize": provsize,
    }


_MFLAG_BITS = {"NOAUTOSYNC": 0x1, "NOFAILSYNC": 0x2}
_DFLAG_BITS = {"DIRTY": 0x1, "SYNCHRONIZING": 0x2, "FORCE_SYNC": 0x4, "INACTIVE": 0x8}


def metadata_hash(md: dict) -> str:
    """MD5 over the 119 encoded bytes, as mirror_metadata_encode() does
    (sys/geom/mirror/g_mirror.h), so `gmirror dump` shows a real hash."""
    data = bytearray(119)
    data[0:16] = md["magic"].encode().ljust(16, b"\0")
    struct.pack_into("<I", data, 16, md["version"])
    data[20:36] = md["name"].encode()[:16].ljust(16, b"\0")
    struct.pack_into("<II", data, 36, md["mid"], md["did"])
    data[44] = md["all"]
    struct.pack_into("<II", data, 45, md["genid"], md["syncid"])
    data[53] = md["priority"]
    struct.pack_into("<I", data, 54, md["slice"])
    data[58] = BALANCES.index(md["balance"])
    struct.pack_into("<QIQ", data, 59, md["mediasize"], md["sectorsize"], md["sync_offset"])
    mflags = sum(_MFLAG_BITS[f] for f in md["mflags"])
    dflags = sum(_DFLAG_BITS[f] for f in md["dflags"] if f in _DFLAG_BITS)
    struct.pack_into("<QQ", data, 79, mflags, dflags)
    data[95:111] = md["provider"].encode()[:16].ljust(16, b"\0")
    struct.pack_into("<Q", data, 111, md["provsize"])
    return hashlib.md5(bytes(data)).hexdigest()


def humanize(n: int) -> str:
    """humanize_number(buf, 5, n, "", HN_AUTOSCALE, HN_B|HN_NOSPACE|HN_DECIMAL)
    (lib/libutil/humanize_number.c), as geom list and ggatec list use it."""
    prefixes = ["B", "K", "M", "G", "T", "P", "E"]
    divisor, deccut, maxscale = 1024, 973, 7
    quotient, remainder = n, 0
    maxv = 1000      # 10 ** (len 5 - baselen 2)
    i = 0
    while (quotient >= maxv or (quotient == maxv - 1 and
           (remainder >= deccut or remainder >= divisor // 2))) and i < maxscale:
        remainder = quotient % divisor
        quotient //= divisor
        i += 1
    if ((quotient == 9 and remainder < deccut) or quotient < 9) and i > 0:
        s1 = quotient + ((remainder * 10 + divisor // 2) // divisor // 10)
        s2 = ((remainder * 10 + divisor // 2) // divisor) % 10
        text = f"{s1}.{s2}{prefixes[i]}"
    else:
        text = f"{quotient + (remainder + divisor // 2) // divisor}{prefixes[i]}"
    return text[:4]      # snprintf into a 5-byte buffer
