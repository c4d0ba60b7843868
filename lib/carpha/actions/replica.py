"""The peer's disk as the mirror's second component, on the master.

The kernel decides most of it (sys/geom/mirror/g_mirror.c @d22ff249, 13.x;
reference 4.3): `ggatec create` (no -t: carpha.safety.replica_drop drops a dead
peer's half on purpose) makes the peer's disk appear, and gmirror tastes
it at once. Same genid, lower syncid (the usual case: this node wrote
alone meanwhile) or DIRTY: resynchronised in full. Same genid and syncid,
clean: ACTIVE at once. Fresher (its node wrote after ours stopped): the
kernel refuses it ("Cannot refresh metadata in RUNNING state"), and so do
we, loudly: inserting it would overwrite writes this node never saw. A
stale genid (kicked for an I/O error) or no metadata: `gmirror insert`
copies it in full.

What carpha adds:
- Components: set to the connected count with `gmirror forget`, in
  whichever direction they differ (a disk tasted into a mirror that had
  forgotten its second half is ACTIVE, but the mirror says DEGRADED until
  then; reference 4.5);
- reads stay local (`balance prefer` reads the first ACTIVE disk of the
  list, which is sorted once, when a disk attaches, a tie in front; 4.2):
  the local half ranks above LOCAL_PRIORITY - 1 before the peer's disk
  appears, and a peer disk that attached in front of it (its stored
  priority at least the local one's) is removed and inserted again at
  priority 0, a full copy;
- split brain (carpha.safety.splitbrain): while the group is marked, nothing here
  touches the peer's disk, `ggatec create` included; it is attached only
  while the peer's generation is known; after `carpha resolve` only once
  the peer says it blanked its disk (`gmirror clear`), so the diverged half
  can join only through `gmirror insert`, a full copy.
Detaching is part of storage.demote (it must follow the mirror's stop)."""

from __future__ import annotations

from ..host import observe as probe
from ..safety import splitbrain
from ..store import state
from ..freebsd import commands as cmd
from ..freebsd.gmirror_dump import parse_gmirror_dump
from .base import Action, ActionFailed, Conflict, Step
from .storage import NO_METADATA

# `gmirror dump` of a disk without gmirror magic ("Can't read metadata from
# ggate0: Invalid argument."); any other error means it could not be read.
# The remote component's priority, and the least the local one needs: numerically
# higher wins (reference 4.2).
REMOTE_PRIORITY = 0
LOCAL_PRIORITY = 1


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
    split-brain bookkeeping (carpha.safety.splitbrain: `check` sets or clears the
    group's mark, except in a dry run), so the planner stays pure."""
    if ctx.group.storage.kind != "gmirror-ggate":
        return {}
    split_brain = splitbrain.check(ctx)
    mirrors = probe.get_mirrors(ctx) or {}
    devices = probe.get_ggate_devices(ctx)
    seen = {"mirror": mirrors.get(ctx.group.storage.mirror),
            "ggate": any(d["unit"] == ctx.group.storage.ggate.unit for d in devices),
            "dump": None, "split_brain": split_brain, "peer_unknown": splitbrain.peer_unknown(ctx),
            "rebuild_owed": splitbrain.rebuild_owed(ctx), "peer_not_blank": splitbrain.peer_disk_blank(ctx)}
    mirror = seen["mirror"]
    remote = _component(mirror, ggate_name(ctx)) if mirror is not None else None
    if seen["rebuild_owed"] and remote is not None and remote["state"] == splitbrain.SYNCHRONIZING:
        splitbrain.rebuild_started(ctx)     # a full copy from this node is under way
        seen["rebuild_owed"] = False
    seen["tasted_stale"] = _judge_join(ctx, remote)
    if seen["ggate"] and mirror is not None and remote is None:
        result = ctx.query(cmd.gmirror_dump(ggate_name(ctx)), timeout="storage", check=False)
        if result.returncode == 0:
            dumps = parse_gmirror_dump(result.stdout)
            seen["dump"] = dumps[0] if dumps else None
        elif NO_METADATA in result.stderr:
            seen["dump"] = {}   # a blank disk: nothing on it to lose
    return seen


def _judge_join(ctx, remote) -> "str | None":
    """The peer's half as it joins: trusted once seen SYNCHRONIZING (a copy
    from this node) or while our record says it lacks nothing; first seen
    ACTIVE while out of sync since a generation, it is not. The kernel makes
    a clean half with the mirror's genid and syncid ACTIVE without a copy
    (g_mirror.c g_mirror_determine_state(), 13.x @d22ff249); a peer whose
    abandoned promotion fsck'd and mounted its disk bumped its syncid once,
    as our first write bumped ours, and it lacks every write since (soak
    seed 7). Returns why it is not trusted, else None; the mark is saved
    except in a dry run."""
    saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
    if remote is None:
        joined = False
    elif saved.replica_joined:
        return None
    elif remote["state"] == splitbrain.SYNCHRONIZING or saved.out_of_sync_since_generation is None:
        joined = True
    else:
        return (f"{ctx.peer}'s disk joined mirror/{ctx.group.storage.mirror} {remote['state']} without a copy, "
                f"though it lacks writes since generation {saved.out_of_sync_since_generation}")
    if joined != saved.replica_joined and not ctx.dry_run:
        state.update(ctx.config.paths.state_dir, ctx.group.name, replica_joined=joined)
    return None


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
    local = _component(mirror, storage.providers[ctx.node])
    configured = mirror.get("component_count")
    if configured is not None and configured != len(mirror["components"]):
        steps.append(Step(cmd.gmirror_forget(storage.mirror),
                          f"count the {len(mirror['components'])} connected components as the mirror's "
                          f"(it says {configured})", "storage"))
    if not seen["ggate"]:
        if seen.get("peer_unknown"):
            raise ActionFailed(seen["peer_unknown"])    # logged as pending; cron retries
        if owed and seen.get("peer_not_blank"):
            raise ActionFailed(seen["peer_not_blank"])
        if local is not None and local["priority"] < LOCAL_PRIORITY:
            steps.append(Step(cmd.gmirror_priority(storage.mirror, local["name"], LOCAL_PRIORITY),
                              "rank the local disk first for reads before the peer's appears", "storage"))
        steps.append(Step(cmd.ggatec_create(str(ctx.config.nodes[peer].address), f"/dev/{storage.providers[peer]}",
                                            port=storage.ggate.port, unit=storage.ggate.unit,
                                            timeout=storage.ggate.timeout_seconds),
                          f"attach {peer}'s disk over ggate (the kernel tastes it)", connect_timeout(ctx)))
        return steps
    if remote is None:
        if seen["dump"] is None:
            raise Conflict(f"{ctx.group.name}: cannot read the mirror metadata on {ggate_name(ctx)} "
                           f"({peer}'s disk); not inserting a disk whose freshness is unknown")
        # After `carpha resolve` the peer's writes are discarded on purpose.
        _refuse_fresher_peer(ctx, mirror, seen["dump"], fresher_too=not owed)
        steps.append(Step(cmd.gmirror_insert(storage.mirror, ggate_name(ctx), REMOTE_PRIORITY),
                          f"insert {peer}'s disk: full resynchronisation from this node", "storage"))
    elif seen.get("tasted_stale"):
        steps.append(Step(cmd.gmirror_remove(storage.mirror, ggate_name(ctx)),
                          f"{seen['tasted_stale']}: take it out", "storage"))
        steps.append(Step(cmd.gmirror_insert(storage.mirror, ggate_name(ctx), REMOTE_PRIORITY),
                          f"insert {peer}'s disk: full resynchronisation from this node", "storage"))
    elif local is not None and (remote["priority"] >= local["priority"] or owed):
        # It attached in front of the local half (sorted at attach, a tie in
        # front; configure -p does not re-sort): every read would go over
        # ggate. Or, after `carpha resolve`, it was tasted in although the
        # peer said it was blank: out at once, and back only as a full copy.
        steps.append(Step(cmd.gmirror_remove(storage.mirror, ggate_name(ctx)),
                          f"{peer}'s disk attached ahead of the local one for reads: take it out", "storage"))
        steps.append(Step(cmd.gmirror_insert(storage.mirror, ggate_name(ctx), REMOTE_PRIORITY),
                          f"insert {peer}'s disk behind the local one: full resynchronisation", "storage"))
    if mirror.get("balance") != "prefer":
        steps.append(Step(cmd.gmirror_balance(storage.mirror, "prefer"), "read from the local disk", "storage"))
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
    """The planned steps ran: an insert of the peer's half is the full
    resynchronisation a resolved split brain owes, and a join to trust."""
    if ctx.dry_run or not seen or seen.get("mirror") is None or not seen.get("ggate"):
        return
    remote = _component(seen["mirror"], ggate_name(ctx))
    if remote is None:
        splitbrain.rebuild_started(ctx)
    if any(step.argv[:2] == ("gmirror", "insert") for step in plan_attach(ctx, seen)):
        # It joins as a full copy from this node, however fast that copy ends.
        state.update(ctx.config.paths.state_dir, ctx.group.name, replica_joined=True)


ATTACH = Action("attach-replica", observe, plan_attach, after=after_attach)


def replica_in_sync(ctx, mirrors=None):
    """(True, "") when both halves of the mirror are ACTIVE here, else
    (False, why): a switchover onto a stale replica would lose every write
    it lacks. Judged per component, as the kernel reports it: a mirror
    whose `Components:` count lags the halves connected (a disk tasted in
    after `gmirror forget`) says DEGRADED with both halves ACTIVE
    (g_mirror_dumpconf(); reference 4.5) until the next attach pass forgets
    again. `mirrors`: observe.get_mirrors()'s answer when the caller
    already has it."""
    if ctx.group.storage.kind != "gmirror-ggate":
        return True, ""
    from ..host.observe import get_mirrors
    if mirrors is None:
        mirrors = get_mirrors(ctx)
    mirror = (mirrors or {}).get(ctx.group.storage.mirror)
    if mirror is None:
        return False, f"mirror/{ctx.group.storage.mirror} is not running on {ctx.node}"
    states = {c["name"]: c["state"] for c in mirror["components"]}
    local = ctx.group.storage.providers[ctx.node]
    if states.get(ggate_name(ctx)) != "ACTIVE" or states.get(local) != "ACTIVE":
        halves = ", ".join(f"{c['name']} {c['state']}" + (f" {c['progress']}%" if c.get("progress") else "")
                           for c in mirror["components"])
        return False, f"mirror/{mirror['name']} is {mirror['state']} ({halves})"
    saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
    if not saved.replica_joined and saved.out_of_sync_since_generation is not None:
        return False, (f"{ctx.peer}'s disk is ACTIVE in mirror/{mirror['name']} without having been copied "
                       f"since generation {saved.out_of_sync_since_generation}: it is rebuilt in full first")
    return True, ""
