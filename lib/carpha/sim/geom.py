"""The GEOM side of a simulated host: providers, access counts, gmirror.

Kernel behaviour modelled, as read in sys/geom/mirror/g_mirror.c @d22ff249
(13.x era: SPDX BSD-2-Clause-FreeBSD, BIO_SPEEDUP, CTLFLAG_MPSAFE; the index
holds no 14.x revision, and the 12.x-era one has the same checks) and
g_mirror_ctl.c @e4452d45 (14.x era); freebsd-reference.md 4.2-4.5:
- tasting: with geom_mirror loaded, a provider carrying metadata is tasted
  when it appears, at boot, on `kldload geom_mirror`, and when its last
  write open closes (geom_subr.c g_access); a hardcoded provider name must
  match; a provider someone writes to cannot be opened exclusively;
- every taste (g_mirror_add_disk): a lower genid is refused ("broken,
  skipping"); a newer genid or higher syncid redefines a STARTING device
  and is refused by a RUNNING one ("Cannot refresh metadata in RUNNING
  state"); md_all, md_balance, md_slice, md_mediasize are NOT compared;
- assembly: STARTING until all md_all components are there (or
  kern.geom.mirror.timeout s, then forced); the pre-flight of
  g_mirror_update_device() drops older genids and disks whose md_all,
  md_balance, md_slice or md_mediasize differ from the newest; syncid is
  bumped on the first write after a forced or reduced start;
- a disk joining a RUNNING device (g_mirror_determine_state): equal syncid
  and clean -> ACTIVE at once, no copy; equal syncid but DIRTY beside an
  ACTIVE disk, or flagged SYNCHRONIZING -> resynchronised (from 0: the saved
  offset is 0 unless it was syncing); lower syncid -> a full copy;
- sc_disks is sorted when a disk attaches (g_mirror_update_disk(), NEW:
  before the first disk whose priority is not higher, a tie in front) and
  `configure -p` does not re-sort; `prefer` reads the first ACTIVE disk;
- writes go to every ACTIVE component; one that fails with EIO (a ggate
  sweep) is kicked and genid bumped; one that vanishes (ENXIO) is
  disconnected and syncid bumped on the next write (at once when a write
  failed with ENXIO); DIRTY while written, cleared after
  kern.geom.mirror.idletime s without writes and on `gmirror stop`.
"""

from __future__ import annotations

import copy

from . import gatedev as gg
from .storage import INF, Component, Mirror, apply_op, new_metadata


def _log(host, message: str) -> None:
    # G_MIRROR_DEBUG(0, ...) prints "GEOM_MIRROR: <message>" to the console.
    host.log("kernel", f"GEOM_MIRROR: {message}")


# ---------------------------------------------------------------------------
# Providers

def strip_dev(name: str) -> str:
    return name[5:] if name.startswith("/dev/") else name


def mirror_of_provider(host, prov: str):
    if prov.startswith("mirror/"):
        m = host.mirrors.get(prov[7:])
        if m is not None and m.launched:
            return m
    return None


def provider_exists(host, prov: str) -> bool:
    prov = strip_dev(prov)
    if prov in host.disks:
        return True
    if gg.dev_by_name(host, prov) is not None:
        return True
    return mirror_of_provider(host, prov) is not None


def _geometry_source(host, prov: str):
    """The disk, ggate device or mirror behind `prov`, or None."""
    prov = strip_dev(prov)
    if prov in host.disks:
        return host.disks[prov]
    return gg.dev_by_name(host, prov) or mirror_of_provider(host, prov)


def mediasize(host, prov: str) -> int:
    source = _geometry_source(host, prov)
    return source.mediasize if source is not None else 0


def sectorsize(host, prov: str) -> int:
    source = _geometry_source(host, prov)
    return source.sectorsize if source is not None else 512


def backing_disk(host, prov: str):
    """The Disk whose sectors `prov` reaches, or None (no such provider, or a
    ggate device whose connection does not work right now)."""
    prov = strip_dev(prov)
    if prov in host.disks:
        return host.disks[prov]
    dev = gg.dev_by_name(host, prov)
    if dev is not None and gg.working(host, dev):
        return gg.remote_disk(host, dev)
    return None


def read_md(host, prov: str):
    disk = backing_disk(host, prov)
    return copy.deepcopy(disk.md) if disk is not None and disk.md else None


def write_md(host, prov: str, md) -> bool:
    disk = backing_disk(host, prov)
    if disk is None:
        return False
    disk.md = copy.deepcopy(md)
    return True


def holders(host, prov: str) -> list:
    """[(who, r, w, e)] - who has `prov` open, as g_access counts it."""
    prov = strip_dev(prov)
    result = []
    for m in host.mirrors.values():
        if m.component(prov) is not None:
            result.append((f"mirror/{m.name}", 1, 1, 1))
    for pid, proc in host.processes.items():
        if proc.get("kind") in ("ggated-conn", "ggated") and proc.get("holds") == prov:
            result.append((f"ggated[{pid}]", 1, 1 if proc.get("mode") != "ro" else 0, 0))
    for mnt in host.mounts:
        if mnt.get("prov") == prov:
            # g_vfs_open(): r1w1e1 read-write; r1w0e1 read-only [unverified].
            rw = 0 if "ro" in mnt["opts"] else 1
            result.append((f"mount {mnt['mountpoint']}", 1, rw, 1))
    return result


def access(host, prov: str):
    counts = [0, 0, 0]
    for _, r, w, e in holders(host, prov):
        counts[0] += r
        counts[1] += w
        counts[2] += e
    return tuple(counts)


def can_open(host, prov: str, r: int, w: int, e: int) -> bool:
    """g_access(): exclusive while someone writes, or write while someone
    holds it exclusively -> EPERM (sys/geom/geom_subr.c)."""
    _, pw, pe = access(host, prov)
    if e > 0 and pw > 0:
        return False
    if w > 0 and pe > 0:
        return False
    return True


def released(host, prov: str, had_write: bool) -> None:
    """A holder closed `prov`: closing the last write open re-tastes it."""
    if had_write and access(host, prov)[1] == 0 and provider_exists(host, prov):
        taste(host, prov)


# ---------------------------------------------------------------------------
# Tasting and assembly

def taste_all(host) -> None:
    for name in list(host.disks):
        taste(host, name)
    for dev in list(host.ggate.values()):
        taste(host, dev.name)


def taste(host, prov: str) -> None:
    if not host.up or "geom_mirror" not in host.modules:
        return
    md = read_md(host, prov)
    if md is None:
        return
    if md["provider"] and md["provider"] != prov:
        return     # hardcoded for another provider name
    if any(m.component(prov) for m in host.mirrors.values()):
        return
    m = host.mirrors.get(md["name"])
    if m is not None and m.mid != md["mid"]:
        return     # "Device %s already configured." (another mirror, same name)
    if not can_open(host, prov, 1, 1, 1):
        return     # someone writes to it: the exclusive open fails (EPERM)
    if "INACTIVE" in md["dflags"]:
        return
    if m is None:
        m = Mirror(md, host.now(), float(host.sysctl.get("kern.geom.mirror.timeout", 4)))
        host.mirrors[m.name] = m
    add_disk(host, m, prov, md)


def add_disk(host, m: Mirror, prov: str, md: dict) -> bool:
    """g_mirror_add_disk() on a taste, any device state (g_mirror.c
    @d22ff249, 13.x; reference 4.3). md_all, md_balance, md_slice and
    md_mediasize are NOT compared here: only the STARTING pre-flight in
    launch() compares them (the pre-2018 per-taste comparison is gone)."""
    if md["genid"] < m.genid:
        _log(host, f"Component {prov} (device {m.name}) broken, skipping.")
        return False
    if (md["genid"], md["syncid"]) > (m.genid, m.syncid):
        # g_mirror_refresh_device(): a newer component redefines a STARTING
        # device, and is refused by a RUNNING one.
        if m.state == "RUNNING":
            _log(host, f"Cannot refresh metadata in RUNNING state (device={m.name} genid={m.genid}). "
                       "A stale mirror device was launched.")
            _log(host, f"Cannot add disk {prov} to {m.name} (error=22).")
            return False
        m.genid, m.syncid, m.ndisks = md["genid"], md["syncid"], md["all"]
        m.balance, m.slice, m.mediasize = md["balance"], md["slice"], md["mediasize"]
        m.sectorsize, m.mflags = md["sectorsize"], set(md["mflags"])
    comp = Component(prov, md)
    m.attach(comp)
    if m.state == "STARTING":
        if (len(m.components) == m.ndisks and
                int(host.sysctl.get("kern.geom.mirror.launch_mirror_before_timeout", 1))):
            launch(host, m, force=False)
    else:
        state = determine_state(host, m, comp)
        enter_state(host, m, comp, state)
    return True


def determine_state(host, m: Mirror, comp: Component) -> str:
    """g_mirror_determine_state() for a disk joining a RUNNING device
    (g_mirror.c @d22ff249, 13.x; reference 4.3 table): equal syncid and
    clean -> ACTIVE at once, no copy; equal syncid but DIRTY (beside an
    ACTIVE disk) or flagged SYNCHRONIZING -> resynchronised; lower syncid ->
    a full copy. (Fresher disks were refused by add_disk.)"""
    autosync = "NOAUTOSYNC" not in m.mflags or "FORCE_SYNC" in comp.flags
    # An interrupted resync restarts from 0 here; the kernel resumes from
    # the saved md_sync_offset (simplification: the copy is whole anyway).
    if comp.syncid == m.syncid:
        dirty_beside_active = "DIRTY" in comp.flags and any(c is not comp for c in m.active())
        if "SYNCHRONIZING" not in comp.flags and not dirty_beside_active:
            return "ACTIVE"
        comp.flags.add("SYNCHRONIZING")
        return "SYNCHRONIZING" if autosync else "STALE"
    comp.flags.add("SYNCHRONIZING")
    comp.sync_offset = 0
    comp.syncid = m.syncid
    return "SYNCHRONIZING" if autosync else "STALE"


def enter_state(host, m: Mirror, comp: Component, state: str) -> None:
    comp.state = state
    if state == "SYNCHRONIZING":
        comp.flags.discard("DIRTY")
        comp.sync_offset = 0
        comp.sync_mark = host.now()
        update_md(host, m, comp)
    elif state == "ACTIVE":
        update_md(host, m, comp)
    elif state == "STALE":
        _log(host, f"Device {m.name}: provider {comp.prov} is stale.")
        update_md(host, m, comp)


MISMATCH_FIELDS = (("all", "md_all"), ("balance", "md_balance"), ("slice", "md_slice"),
                   ("mediasize", "md_mediasize"))


def launch(host, m: Mirror, force: bool) -> None:
    """STARTING -> RUNNING: the pre-flight of g_mirror_update_device()
    (g_mirror.c @d22ff249, 13.x; reference 4.3): disks with an older genid
    are dropped, and so are disks whose md_all, md_balance, md_slice or
    md_mediasize differ from the newest disk's (DETECT_MISMATCH)."""
    if not m.components:
        del host.mirrors[m.name]
        return
    m.genid = max(c.genid for c in m.components)
    for comp in list(m.components):
        if comp.genid < m.genid:
            _log(host, f"Stale 'genid' field on {comp.prov} (device {m.name}) "
                       f"(component={comp.genid} latest={m.genid}), skipping.")
            m.components.remove(comp)
    newest = max(m.components, key=lambda c: (c.genid, c.syncid))
    for comp in list(m.components):
        for key, field in MISMATCH_FIELDS:
            if comp.arrived[key] != newest.arrived[key]:
                found, want = comp.arrived[key], newest.arrived[key]
                if key == "balance":
                    from .storage import BALANCES
                    found, want = BALANCES.index(found), BALANCES.index(want)
                _log(host, f"Found a mismatching '{field}' field on {comp.prov} (device {m.name}) "
                           f"(found={found} newest={want}).")
                m.components.remove(comp)
                break
    syncid = max(c.syncid for c in m.components)
    fresh = [c for c in m.components if c.syncid == syncid and "SYNCHRONIZING" not in c.flags]
    dirty = [c for c in fresh if "DIRTY" in c.flags]
    if fresh and len(dirty) == len(fresh) and len(fresh) > 1:
        # All up-to-date components are dirty: the one with the biggest
        # priority is the source, the rest are rebuilt.
        source = max(dirty, key=lambda c: c.priority)
        for comp in dirty:
            if comp is not source:
                comp.syncid = 0
    elif 0 < len(dirty) < len(fresh):
        for comp in dirty:
            comp.syncid = 0
    m.syncid = syncid
    if force or len(m.components) < m.ndisks:
        # A forced start, or one that dropped a disk: syncid is bumped on
        # the first write (reference 4.3).
        m.bump_syncid = True
    m.state = "RUNNING"
    for comp in list(m.components):
        if comp.syncid == m.syncid and "SYNCHRONIZING" not in comp.flags:
            enter_state(host, m, comp, "ACTIVE")
        else:
            enter_state(host, m, comp, determine_state(host, m, comp))
    if m.active() and not m.launched:
        m.launched = True
        _log(host, f"Device {m.provider} launched ({len(m.active())}/{m.ndisks}).")
        host.provider_events(m.provider, "CREATE")
    if not m.active():
        destroy_mirror(host, m)


def fill_md(m: Mirror, comp: Component, host) -> dict:
    dflags = sorted(comp.flags - {"HARDCODED"})
    return new_metadata(m.name, m.mid, comp.did, m.ndisks, comp.priority,
                        balance=m.balance, slice_=m.slice, mediasize=m.mediasize,
                        sectorsize=m.sectorsize, provider=comp.hardcoded,
                        provsize=mediasize(host, comp.prov), genid=comp.genid,
                        syncid=comp.syncid, mflags=sorted(m.mflags), dflags=dflags)


def update_md(host, m: Mirror, comp: Component) -> None:
    if comp.state == "ACTIVE":
        comp.genid = m.genid
        comp.syncid = m.syncid
    write_md(host, comp.prov, fill_md(m, comp, host))


def update_all_md(host, m: Mirror) -> None:
    for comp in m.components:
        update_md(host, m, comp)


def destroy_mirror(host, m: Mirror) -> None:
    """The device goes away; its components are closed (no retaste: the
    consumers are still attached when the close event runs)."""
    host.mirrors.pop(m.name, None)
    if m.launched:
        host.provider_events(m.provider, "DESTROY")
        for mnt in host.mounts:
            if mnt.get("prov") == m.provider:
                mnt["orphaned"] = True


def disconnect(host, m: Mirror, comp: Component, *, broken: bool) -> None:
    """A component leaves the running device: broken (I/O error) bumps genid
    at once, vanished (ENXIO) bumps syncid on the next write."""
    if comp not in m.components:
        return
    m.components.remove(comp)
    _log(host, f"Device {m.name}: provider {comp.prov} disconnected.")
    if broken:
        m.genid += 1
        for other in m.active():
            update_md(host, m, other)
    else:
        m.bump_syncid = True
    if m.state == "RUNNING" and not m.active():
        destroy_mirror(host, m)


def provider_gone(host, prov: str, write_failed: bool = False) -> None:
    """ENXIO (the provider withered): the component is disconnected, and
    syncid bumped on the next write, or at once when a write failed with
    ENXIO (G_MIRROR_BUMP_SYNCID_NOW; reference 5.2)."""
    for m in list(host.mirrors.values()):
        comp = m.component(prov)
        if comp is not None:
            disconnect(host, m, comp, broken=False)
            if write_failed and m.name in host.mirrors and m.bump_syncid:
                m.bump_syncid = False
                m.syncid += 1
                for other in m.active():
                    update_md(host, m, other)


# ---------------------------------------------------------------------------
# Data path

def write(host, prov: str, op: dict, request=None) -> int:
    """Write through `prov`; returns how many of its requests still wait
    in a ggate queue (0: complete). `request` names the cluster's pending
    write those requests report to when they complete (gatedev.submit)."""
    prov = strip_dev(prov)
    m = mirror_of_provider(host, prov)
    if m is None:
        if prov in host.disks:
            apply_op(host.disks[prov].content, op)
            return 0
        dev = gg.dev_by_name(host, prov)
        if dev is not None:
            return 0 if gg.submit(host, dev, op, request) else 1
        raise OSError(6, f"{prov}: Device not configured")
    return mirror_write(host, m, op, request)


def mirror_write(host, m: Mirror, op: dict, request=None) -> int:
    if not m.active():
        raise OSError(5, "Input/output error")
    if m.bump_syncid:
        m.bump_syncid = False
        m.syncid += 1
        for comp in m.active():
            update_md(host, m, comp)
    if not m.dirty:
        # g_mirror_unidle(): mark every ACTIVE component DIRTY on disk.
        m.dirty = True
        for comp in m.active():
            comp.flags.add("DIRTY")
            update_md(host, m, comp)
    m.last_write = host.now()
    waiting = 0
    for comp in m.active():
        dev = gg.dev_by_name(host, comp.prov)
        if dev is None:
            apply_op(host.disks[comp.prov].content, op)
        elif not gg.submit(host, dev, op, request):
            waiting += 1
    return waiting


def stall_seconds(host, prov: str) -> float:
    """How long a request queued now on `prov` (or on the ggate halves of
    the mirror it is) waits before ggate completes it: until the next
    g_gate_guard() sweep that finds it 5 s old, or for ever with -t 0."""
    prov = strip_dev(prov)
    m = mirror_of_provider(host, prov)
    names = [c.prov for c in m.active()] if m is not None else [prov]
    waits = []
    for name in names:
        dev = gg.dev_by_name(host, name)
        if dev is None or gg.working(host, dev):
            continue
        at = gg.next_sweep(host, dev) if dev.pending else None
        if at is None and dev.timeout > 0:
            dev.pending.append({"t": host.now(), "op": None, "write": None})
            at = gg.next_sweep(host, dev)
        waits.append(INF if at is None else max(0.0, at - host.now()))
    return max(waits) if waits else 0.0


def read_source(host, m: Mirror):
    """The component a read goes to: `prefer` reads the first ACTIVE disk
    of sc_disks (g_mirror_request_prefer(), g_mirror.c @d22ff249, 13.x;
    reference 4.2); round-robin alternates over the ACTIVE disks
    (g_mirror_request_round_robin()); load and split are modelled as
    round-robin [simplification]."""
    active = m.active()
    if not active:
        return None
    if m.balance == "prefer":
        return active[0]
    m.reads += 1
    return active[m.reads % len(active)]


def read_content(host, prov: str):
    """The content a reader of `prov` sees (None if unreachable)."""
    prov = strip_dev(prov)
    m = mirror_of_provider(host, prov)
    if m is not None:
        for comp in m.active():
            disk = backing_disk(host, comp.prov)
            if disk is not None:
                return disk.content
        return None
    disk = backing_disk(host, prov)
    return disk.content if disk is not None else None


def idle(host, m: Mirror) -> None:
    """g_mirror_idle(): no write for idletime s -> components clean."""
    m.dirty = False
    for comp in m.active():
        comp.flags.discard("DIRTY")
        update_md(host, m, comp)


# ---------------------------------------------------------------------------
# Resynchronisation (always a full copy from offset 0)

def sync_target_ok(host, comp: Component) -> bool:
    dev = gg.dev_by_name(host, comp.prov)
    return dev is None or gg.working(host, dev)


def sync_progress(host, m: Mirror, comp: Component) -> None:
    now = host.now()
    if comp.sync_mark is None:
        comp.sync_mark = now
    if sync_target_ok(host, comp) and m.active():
        comp.sync_offset = min(m.mediasize,
                               comp.sync_offset + int((now - comp.sync_mark) * host.cluster.resync_rate))
    comp.sync_mark = now


def sync_done_at(host, m: Mirror, comp: Component):
    if not (sync_target_ok(host, comp) and m.active()):
        return None
    base = comp.sync_mark if comp.sync_mark is not None else host.now()
    remaining = max(0, m.mediasize - comp.sync_offset)
    return base + remaining / host.cluster.resync_rate


def sync_finish(host, m: Mirror, comp: Component) -> None:
    source = m.active()[0]
    src = backing_disk(host, source.prov)
    dst = backing_disk(host, comp.prov)
    if src is None or dst is None:
        return
    dst.content = copy.deepcopy(src.content)
    comp.flags.discard("SYNCHRONIZING")
    comp.flags.discard("FORCE_SYNC")
    comp.state = "ACTIVE"
    comp.sync_offset = 0
    comp.sync_mark = None
    update_md(host, m, comp)
    _log(host, f"Device {m.name}: rebuilding provider {comp.prov} finished.")


# ---------------------------------------------------------------------------
# gmirror label (userland: lib/geom/mirror/geom_mirror.c mirror_label)

def label(host, name: str, provs: list, *, balance: str = "load", hardcoded: bool = False,
          slice_: int = 4096, noautosync: bool = False, nofailsync: bool = False):
    """Write fresh metadata (priority = argument position from 0) on every
    provider. Returns an error message, or None."""
    provs = [strip_dev(p) for p in provs]
    if len(provs) < 1:
        return "Too few arguments."
    for prov in provs:
        if not provider_exists(host, prov) or backing_disk(host, prov) is None:
            return f"Can't get informations about {prov}: No such file or directory."
    size = min(mediasize(host, p) - sectorsize(host, p) for p in provs)
    ssize = max(sectorsize(host, p) for p in provs)
    size -= size % ssize
    for prov in provs:
        if not can_open(host, prov, 1, 1, 0):
            return f"Can't store metadata on {prov}: Operation not permitted."
    mid = host.cluster.random32()
    mflags = (["NOAUTOSYNC"] if noautosync else []) + (["NOFAILSYNC"] if nofailsync else [])
    for i, prov in enumerate(provs):
        md = new_metadata(name, mid, host.cluster.random32(), len(provs), i, balance=balance,
                          slice_=slice_, mediasize=size, sectorsize=ssize,
                          provider=prov if hardcoded else "", provsize=mediasize(host, prov),
                          mflags=mflags)
        write_md(host, prov, md)
    # Closing the write open re-tastes each provider.
    for prov in provs:
        released(host, prov, True)
    return None
