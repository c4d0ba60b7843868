"""The peer's disk as the mirror's second component, on the master.

attach: when the peer exports its disk again, `ggatec create -t N` (never
the default -t 0, which hangs the mirror forever when the peer dies) and
`gmirror insert` so the mirror resynchronises; reads stay local (`balance
prefer`, local component highest priority: numerically higher wins,
reference 4.2). Guards (reference 4.3): a component gmirror refused for a
stale genid is never re-attached by the kernel, so carpha forgets and
re-inserts it; but a peer disk whose metadata is FRESHER than the running
mirror holds writes this mirror never saw, and inserting it would overwrite
them: that is refused and reported, never papered over.
Split brain (carpha.splitbrain): while the group is marked, nothing here
touches the peer's disk, `ggatec create` included (the kernel would taste a
diverged half with our genid/syncid straight into the mirror as ACTIVE); it
is attached only while the peer's generation is known; after `carpha
resolve` its half is rebuilt in full (`gmirror rebuild` when tasted back in).
Detaching is part of storage.demote (it must follow the mirror's stop)."""

from __future__ import annotations

from .. import observe as probe
from .. import splitbrain
from ..freebsd import commands as cmd
from ..freebsd.gmirror_dump import parse_gmirror_dump
from .base import Action, ActionFailed, Conflict, Step
from .storage import missing_components

# g_metadata_read() returns EINVAL when the last sector has no gmirror magic
# (lib/geom/misc/subr.c): "Can't read metadata from ggate0: Invalid argument."
# Any other error (EIO, ENXIO) means the disk could not be read at all.
NO_METADATA = ": Invalid argument."
# The remote component's priority; the local one must be higher.
REMOTE_PRIORITY = 0
# A balance no carpha mirror uses (they read `prefer`), set while a resolved
# split brain's diverged disk is attached; `prefer` returns after the insert.
DECOY_BALANCE = "round-robin"


# A dead peer makes `ggatec create` wait for TCP's connect timeout (75 s);
# the worker must not be held that long, so give up sooner and let cron retry.
CONNECT_SECONDS = 10.0


def connect_timeout(ctx) -> float:
    return min(ctx.seconds("storage"), CONNECT_SECONDS)


def ggate_name(ctx) -> str:
    return f"ggate{ctx.group.storage.ggate.unit}"


def observe(ctx) -> dict:
    """What plan_attach needs: the mirror, whether our ggate device exists,
    the metadata on the peer's disk when it is not in the mirror, and the
    split-brain bookkeeping (carpha.splitbrain: `check` sets or clears the
    group's mark, except in a dry run), so the planner stays pure."""
    if ctx.group.storage.kind != "gmirror-ggate":
        return {}
    split_brain = splitbrain.check(ctx)
    mirrors = probe.get_mirrors(ctx) or {}
    devices = probe.get_ggate_devices(ctx)
    seen = {"mirror": mirrors.get(ctx.group.storage.mirror),
            "ggate": any(d["unit"] == ctx.group.storage.ggate.unit for d in devices),
            "dump": None, "split_brain": split_brain, "peer_unknown": splitbrain.peer_unknown(ctx),
            "rebuild_owed": splitbrain.rebuild_owed(ctx)}
    mirror = seen["mirror"]
    remote = _component(mirror, ggate_name(ctx)) if mirror is not None else None
    if seen["rebuild_owed"] and remote is not None and remote["state"] == splitbrain.SYNCHRONIZING:
        splitbrain.rebuild_started(ctx)     # a full copy from this node is under way
        seen["rebuild_owed"] = False
    if seen["ggate"] and mirror is not None and remote is None:
        result = ctx.query(cmd.gmirror_dump(ggate_name(ctx)), timeout="storage", check=False)
        if result.returncode == 0:
            dumps = parse_gmirror_dump(result.stdout)
            seen["dump"] = dumps[0] if dumps else None
        elif NO_METADATA in result.stderr:
            seen["dump"] = {}   # a blank disk: nothing on it to lose
    return seen


def _component(mirror, name):
    return next((c for c in mirror["components"] if c["name"] == name), None)


def plan_attach(ctx, seen):
    if not seen:
        return []
    # Before anything else: in split brain the peer's disk is not touched.
    if seen.get("split_brain"):
        raise Conflict(f"{ctx.group.name}: {seen['split_brain']}")
    storage, mirror = ctx.group.storage, seen["mirror"]
    if mirror is None:
        return []   # nothing to attach to: promote-storage comes first
    steps = []
    peer = ctx.peer
    owed = seen.get("rebuild_owed", False)
    remote = _component(mirror, ggate_name(ctx))
    if (not seen["ggate"] or not remote) and seen.get("peer_unknown"):
        raise ActionFailed(seen["peer_unknown"])    # logged as pending; cron retries
    if not seen["ggate"] and owed and mirror.get("balance") != DECOY_BALANCE:
        # The diverged disk carries our genid/syncid: the kernel would taste
        # it straight in as ACTIVE. g_mirror_check_metadata() skips a disk
        # whose md_balance differs from the device's, so it can then only
        # join through `gmirror insert`, which copies it in full.
        return [Step(cmd.gmirror_balance(storage.mirror, DECOY_BALANCE),
                     f"make the kernel refuse {peer}'s diverged disk when it appears, so it joins only "
                     f"through a full insert", "storage")]
    if not seen["ggate"]:
        # Insert only in the next round, once the disk's metadata is read.
        return [Step(cmd.ggatec_create(str(ctx.config.nodes[peer].address), f"/dev/{storage.providers[peer]}",
                                       port=storage.ggate.port, unit=storage.ggate.unit,
                                       timeout=storage.ggate.timeout_seconds),
                     f"attach {peer}'s disk over ggate", connect_timeout(ctx))]
    if not remote:
        if seen["dump"] is None:
            raise Conflict(f"{ctx.group.name}: cannot read the mirror metadata on {ggate_name(ctx)} "
                           f"({peer}'s disk); not inserting a disk whose freshness is unknown")
        # After `carpha resolve` the peer's writes are discarded on purpose.
        _refuse_fresher_peer(ctx, mirror, seen["dump"], fresher_too=not owed)
        if missing_components(mirror):
            steps.append(Step(cmd.gmirror_forget(storage.mirror), "forget the departed component", "storage"))
        steps.append(Step(cmd.gmirror_insert(storage.mirror, ggate_name(ctx), REMOTE_PRIORITY),
                          f"insert {peer}'s disk: full resynchronisation from this node", "storage"))
    elif owed and remote["state"] != splitbrain.SYNCHRONIZING:
        # The kernel tasted the diverged half back in as it appeared (same
        # genid/syncid: both halves were promoted alone from the same base).
        steps.append(Step(cmd.gmirror_rebuild(storage.mirror, ggate_name(ctx)),
                          f"rebuild {peer}'s disk in full: its writes since the split brain are "
                          f"discarded (carpha resolve)", "storage"))
        if mirror.get("component_count") is not None and len(mirror["components"]) > mirror["component_count"]:
            # It joined a mirror that had forgotten its second half.
            steps.append(Step(cmd.gmirror_forget(storage.mirror),
                              "count the connected components as the mirror's own", "storage"))
    if mirror.get("balance") != "prefer":
        steps.append(Step(cmd.gmirror_balance(storage.mirror, "prefer"), "read from the local disk", "storage"))
    local = _component(mirror, storage.providers[ctx.node])
    others = [c["priority"] for c in mirror["components"] if c is not local]
    if local is not None and local["priority"] <= max(others + [REMOTE_PRIORITY]):
        steps.append(Step(cmd.gmirror_priority(storage.mirror, local["name"], max(others + [REMOTE_PRIORITY]) + 1),
                          "local component first for reads", "storage"))
    return steps


def _refuse_fresher_peer(ctx, mirror, dump, *, fresher_too: bool = True) -> None:
    if not dump:
        return   # a blank disk: nothing on it to lose
    if dump.get("name") != mirror["name"]:
        raise Conflict(f"{ctx.group.name}: {ctx.peer}'s disk holds metadata of another mirror "
                       f"({dump.get('name')!r}, not {mirror['name']!r}); not inserting it (check "
                       f"storage.providers, or `gmirror clear` it by hand if it is really spare)")
    if not fresher_too:
        return
    ours = (mirror["genid"], mirror["syncid"])
    theirs = (dump["genid"], dump["syncid"])
    if theirs > ours:
        raise Conflict(f"{ctx.group.name}: {ctx.peer}'s disk is fresher than mirror/{mirror['name']} "
                       f"(genid/syncid {theirs[0]}/{theirs[1]} > {ours[0]}/{ours[1]}): it holds writes "
                       f"this node never saw; not inserting it (that would overwrite them)")


def after_attach(ctx, seen) -> None:
    """The planned steps ran: an insert or a rebuild of the peer's half is
    the full resynchronisation a resolved split brain owes."""
    if ctx.dry_run or not seen or seen.get("mirror") is None or not seen.get("ggate"):
        return
    remote = _component(seen["mirror"], ggate_name(ctx))
    if remote is None or remote["state"] != splitbrain.SYNCHRONIZING:
        splitbrain.rebuild_started(ctx)


ATTACH = Action("attach-replica", observe, plan_attach, after=after_attach)
