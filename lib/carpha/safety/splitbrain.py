"""Split brain: both nodes promoted a group without seeing each other (a
forced takeover, a witness share that split), so each disk may hold
acknowledged writes the other never saw. Resynchronising in either
direction would silently destroy one side's writes: carpha refuses until
an administrator says which side is kept (`carpha resolve GROUP --keep NODE`).

Contract:
- Generations are pair-wide: a promotion takes max(own generation, the
  peer's last published one) + 1 (`next_generation`, used by
  worker._write_state), so a promotion that saw the peer's record never
  repeats its number. Two nodes on the same generation (> 0) promoted
  independently from the same base.
- `detect(own, peer_status, peer_fresh)` is pure: the split-brain
  generation, or None. Either the generations are equal, or we serve while
  the peer's fresh record (advanced within takeover_after) says it serves a
  generation at least as recent as ours. (An older generation marked
  serving is the record of a peer that crashed while serving and has not
  let go in its state yet: we promoted after it, not beside it.)
- The mark (GroupState.split_brain_generation, published by the heartbeat
  as GroupStatus.split_brain) is set by `check` on the node that would
  attach the peer's disk, and survives reboots. `resolve` clears it on the
  node whose data is kept and records what it resolved
  (split_brain_resolved, published too); the other node's mark counts no
  more once the peer's record says it resolved a split brain at least that
  recent, and `check` clears it there.
- `check(ctx)`: why replica.ATTACH must not touch the peer's disk, or None.
  It runs before anything else, `ggatec create` included: the kernel tastes
  a disk the moment it appears, and a diverged half whose genid/syncid
  equal ours joins the mirror ACTIVE, with no resynchronisation at all.
- `peer_unknown(ctx)`: why the peer's generation is unknown right now (no
  current reading of its record: the witness is down, or the heartbeat has
  not read it since it started), or None. Attaching waits for it: a peer
  that promoted on its own meanwhile would be overwritten unseen.
- `resolve(ctx, keep)`: runs on `keep`, which serves the group while the
  peer does not; our generation goes above both, our mark is cleared, and
  `resync_owed` makes the next attach rebuild the peer's half in full
  (`gmirror rebuild` when the kernel tasted it back in ACTIVE; no
  "fresher peer" refusal: discarding its writes is the choice just made).
- Only witness kind lease publishes generations. With kind ping or none
  there is nothing to compare: check, peer_unknown and describe say None.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional, Tuple

from .. import clock
from ..store import journal, state
from ..exits import OK, TEMPFAIL, UNAVAILABLE, USAGE, CarphaError

MASTER = "MASTER"
SYNCHRONIZING = "SYNCHRONIZING"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _level(value) -> int:
    """A mark or resolved generation for comparisons; None (or garbage) is below all."""
    return value if _is_int(value) else -1


# --- pure decisions -----------------------------------------------------------


def detect(own: state.GroupState, peer_status: Optional[dict], peer_fresh: bool) -> Optional[int]:
    """The generation to mark as split, or None. `peer_status` is the
    group's entry in the peer's witness record (None: unknown);
    `peer_fresh`: that record advanced within takeover_after."""
    if not peer_status:
        return None
    theirs = peer_status.get("generation")
    if not _is_int(theirs):
        return None
    if own.generation > 0 and own.generation == theirs:
        return theirs
    if (own.role == MASTER and peer_status.get("serving") is True and peer_fresh
            and theirs >= own.generation):
        return max(own.generation, theirs)
    return None


def next_generation(own_generation: int, peer_status: Optional[dict]) -> int:
    """The generation a promotion takes: above ours and above the peer's."""
    theirs = peer_status.get("generation") if peer_status else None
    return max(own_generation, theirs if _is_int(theirs) else 0) + 1


def reason(group: str, node: str, peer: str, generation: int, marked_by: Optional[str] = None, *,
           headline: bool = True) -> str:
    """Why nothing is resynchronised; without the headline for `carpha
    status`, whose line already says "split brain"."""
    by = f", marked by {marked_by}" if marked_by else ""
    what = (f"{node} and {peer} both promoted {'it' if headline else group} without seeing each other, so "
            f"each disk may hold writes the other never saw; not resynchronising in either direction until "
            f"`carpha resolve {group} --keep NODE` (run on NODE, which must be serving {group})")
    if headline:
        return f"split brain in {group} (generation {generation}{by}): {what}"
    return f"generation {generation}{by}: {what}"


# --- reading the peer ------------------------------------------------------------


def _load_view(ctx):
    from . import witness_view
    return witness_view.load_view(ctx.config.paths.run_dir)


def reading(ctx, view, now: float) -> Tuple[Optional[dict], bool, str]:
    """(status, fresh, why): the group's status in the peer's record when the
    heartbeat's view holds a current reading of it (its last beat, at most 3
    intervals ago, read the record), whether that record advanced within
    takeover_after, and why there is no current reading."""
    w, peer = ctx.config.witness, ctx.peer
    if view is None:
        return None, False, "no heartbeat view (is carpha heartbeat running?)"
    if view.updated > now or now - view.updated > 3 * w.interval_seconds:
        return None, False, "the heartbeat's view is out of date"
    if view.peer_error:
        return None, False, f"{peer}'s witness record: {view.peer_error}"
    status = view.peer_status(ctx.group.name)
    if status is None:
        return None, False, f"{peer}'s witness record does not list {ctx.group.name}"
    fresh = view.peer_changed_at is not None and now - view.peer_changed_at < w.takeover_after_seconds
    return status, fresh, ""


def peer_status_seen(run_dir: str, group: str) -> Optional[dict]:
    """The group's status in the peer's last record the heartbeat read,
    however old (a generation only grows), None if it never read one."""
    from . import witness_view
    view = witness_view.load_view(run_dir)
    return view.peer_status(group) if view is not None else None


def _resolved_by_peer(status: Optional[dict], mark: Optional[int]) -> bool:
    return mark is not None and status is not None and _level(status.get("split_brain_resolved")) >= mark


def _assess(ctx, own, status, fresh) -> Tuple[Optional[int], Optional[str]]:
    """(split-brain generation, who marked it) as this reading shows it,
    our own mark first; (None, None) when there is none."""
    mark = own.split_brain_generation
    if mark is not None and not _resolved_by_peer(status, mark):
        return mark, None
    if status is None:
        return None, None
    found = detect(own, status, fresh)
    if found is not None and found > _level(own.split_brain_resolved):
        return found, None
    theirs = status.get("split_brain")
    if _is_int(theirs) and theirs > _level(own.split_brain_resolved):
        return theirs, ctx.peer
    return None, None


# --- the worker's side -------------------------------------------------------------


def _save(ctx, **changes) -> None:
    state.update(ctx.config.paths.state_dir, ctx.group.name, **changes)


def _journal(ctx, record: dict) -> None:
    try:
        journal.append(ctx.config.paths.state_dir, ctx.group.carp.subsystem,
                       {"group": ctx.group.name, "node": ctx.node, **record})
    except (OSError, CarphaError) as error:
        ctx.log.warning(f"{ctx.group.name}: cannot journal: {error}")


def check(ctx) -> Optional[str]:
    """The refusal reason while the group is in split brain, else None.
    Called by the node that would attach the peer's disk (it serves, or is
    being promoted: it counts as serving). Sets our mark when `detect` finds
    a split brain (alert in the log, `split-brain` in the journal) and
    clears it when the peer's record says it resolved it; a dry run only
    reports."""
    if ctx.config.witness.kind != "lease":
        return None
    paths, group = ctx.config.paths, ctx.group.name
    status, fresh, _ = reading(ctx, _load_view(ctx), clock.monotonic())
    own = state.load(paths.state_dir, group)
    if _resolved_by_peer(status, own.split_brain_generation):
        ctx.log.warning(f"{group}: {ctx.peer} resolved the split brain of generation "
                        f"{own.split_brain_generation}, keeping its own data: this node's writes since "
                        f"then are discarded when its disk is resynchronised")
        if not ctx.dry_run:
            _save(ctx, split_brain_generation=None)
            _journal(ctx, {"kind": "split-brain-cleared", "split_brain_generation": own.split_brain_generation,
                           "resolved_by": ctx.peer})
        own = replace(own, split_brain_generation=None)
    generation, marked_by = _assess(ctx, replace(own, role=MASTER), status, fresh)
    if generation is None:
        return None
    why = reason(group, ctx.node, ctx.peer, generation, marked_by)
    if marked_by is None and own.split_brain_generation != generation:
        ctx.log.error(f"alert: {why}")
        if not ctx.dry_run:
            _save(ctx, split_brain_generation=generation)
            _journal(ctx, {"kind": "split-brain", "split_brain_generation": generation,
                           "generation": own.generation, "peer_generation": status.get("generation"),
                           "peer_serving": status.get("serving"), "reason": why})
    return why


def peer_unknown(ctx) -> Optional[str]:
    """Why the peer's generation is unknown now (so is split brain), else None."""
    if ctx.config.witness.kind != "lease":
        return None
    status, _, why = reading(ctx, _load_view(ctx), clock.monotonic())
    if status is not None:
        return None
    return (f"{ctx.group.name}: not attaching {ctx.peer}'s disk while its generation is unknown ({why}): "
            f"had it promoted on its own meanwhile, its writes would be overwritten unseen")


def describe(ctx) -> Optional[str]:
    """For `carpha status`: the split brain as this node sees it now, or
    None. Read-only (the mark itself is set by the worker)."""
    if ctx.config.witness.kind != "lease":
        return None
    status, fresh, _ = reading(ctx, _load_view(ctx), clock.monotonic())
    own = state.load(ctx.config.paths.state_dir, ctx.group.name)
    generation, marked_by = _assess(ctx, own, status, fresh)
    if generation is None:
        return None
    return reason(ctx.group.name, ctx.node, ctx.peer, generation, marked_by, headline=False)


def disk_to_clear(ctx) -> Optional[int]:
    """On the node whose data the peer kept: the resolved split brain for
    which this node must blank its disk before exporting it, or None. The
    peer's record says it resolved a split brain at least as recent as our
    own generation (so our disk diverged from, or lags, the kept data) and
    we have not blanked it for that resolution yet. A blank disk cannot be
    tasted into the peer's mirror (g_mirror_taste() needs metadata): it
    joins only through `gmirror insert`, a full copy, and no read is ever
    served from a diverged half (reference 4.3: a clean disk with equal
    genid/syncid would join ACTIVE)."""
    if ctx.config.witness.kind != "lease":
        return None
    status = peer_status_seen(ctx.config.paths.run_dir, ctx.group.name)
    resolved = status.get("split_brain_resolved") if status else None
    if not _is_int(resolved):
        return None
    own = state.load(ctx.config.paths.state_dir, ctx.group.name)
    if own.generation > resolved or _level(own.disk_cleared_for) >= resolved:
        return None
    return resolved


def disk_cleared(ctx, resolved: int) -> None:
    if not ctx.dry_run:
        _save(ctx, disk_cleared_for=resolved, split_brain_generation=None)
        _journal(ctx, {"kind": "disk-cleared", "split_brain_resolved": resolved})
        ctx.log.warning(f"{ctx.group.name}: {ctx.peer} kept its data after the split brain of generation "
                        f"{resolved}: this node's disk was blanked and is rebuilt in full from {ctx.peer}'s")


def peer_disk_blank(ctx) -> Optional[str]:
    """On the node that resolved a split brain: why the peer's disk may not
    be attached yet (it has not said it blanked it), or None."""
    own = state.load(ctx.config.paths.state_dir, ctx.group.name)
    if not own.resync_owed or own.split_brain_resolved is None:
        return None
    status = peer_status_seen(ctx.config.paths.run_dir, ctx.group.name)
    if status is not None and _level(status.get("disk_cleared_for")) >= own.split_brain_resolved:
        return None
    return (f"{ctx.group.name}: not attaching {ctx.peer}'s disk until {ctx.peer} says it blanked it for the "
            f"split brain of generation {own.split_brain_resolved} (a diverged disk would be tasted in ACTIVE)")


def rebuild_owed(ctx) -> bool:
    """Whether the peer's half must be rebuilt in full when attached (a
    resolved split brain)."""
    return state.load(ctx.config.paths.state_dir, ctx.group.name).resync_owed


def rebuild_started(ctx) -> None:
    """A full resynchronisation of the peer's half is under way: nothing owed."""
    if ctx.dry_run or not rebuild_owed(ctx):
        return
    _save(ctx, resync_owed=False)
    ctx.log.info(f"{ctx.group.name}: {ctx.peer}'s disk is being rebuilt in full from {ctx.node}'s")


# --- carpha resolve ---------------------------------------------------------------


def resolve(ctx, keep: str) -> Tuple[int, str]:
    """`carpha resolve GROUP --keep NODE`, run on NODE: keep this node's
    data. Returns (exit code, one line); refusals raise CarphaError."""
    from ..store.lock import GROUP_LOCK_WAIT, Lock
    from ..host.observe import get_carp_state
    group, peer, config = ctx.group, ctx.peer, ctx.config
    if keep not in group.nodes:
        raise CarphaError(f"resolve: {keep} is not one of group {group.name}'s nodes ({', '.join(group.nodes)})",
                          USAGE)
    if keep != ctx.node:
        raise CarphaError(f"resolve: run it on {keep}, whose data is kept (this is {ctx.node})", USAGE)
    if config.witness.kind != "lease":
        return OK, (f"{group.name}: nothing to resolve: witness kind {config.witness.kind} publishes no "
                    f"generations, so carpha detects no split brain and holds nothing back")
    with Lock(config.paths.run_dir, group.name, purpose="resolve").acquire(timeout=GROUP_LOCK_WAIT):
        own = state.load(config.paths.state_dir, group.name)
        status, fresh, why = reading(ctx, _load_view(ctx), clock.monotonic())
        if status is None:
            raise CarphaError(f"resolve: {peer}'s generation must be known to resolve: {why}", UNAVAILABLE)
        generation, _ = _assess(ctx, own, status, fresh)
        if generation is None:
            return OK, f"{group.name}: nothing to resolve: no split brain between {ctx.node} and {peer}"
        carp = get_carp_state(ctx)
        if own.role != MASTER or carp != MASTER:
            raise CarphaError(
                f"resolve: {keep} does not serve {group.name} (CARP {carp or 'absent'}, last role applied "
                f"{own.role or 'none'}): move the group here first (`carpha release {group.name}` on {peer}, "
                f"then `carpha takeover {group.name}` here), or keep {peer}'s data instead", TEMPFAIL)
        if status.get("serving") is True and fresh:
            raise CarphaError(f"resolve: {peer} still serves {group.name}: `carpha release {group.name}` on "
                              f"{peer} first", TEMPFAIL)
        new = next_generation(own.generation, status)
        resolved = max(generation, _level(own.split_brain_resolved))
        state.save(config.paths.state_dir, own.with_changes(
            generation=new, split_brain_generation=None, split_brain_resolved=resolved, resync_owed=True))
        message = (f"{group.name}: split brain of generation {generation} resolved by the administrator: "
                   f"{keep}'s data is kept (now generation {new}); {peer}'s writes since the split are "
                   f"overwritten when its disk is resynchronised from {keep}")
        ctx.log.warning(message)
        _journal(ctx, {"kind": "resolve", "keep": keep, "split_brain_generation": generation,
                       "generation": new, "peer": peer, "peer_generation": status.get("generation")})
    return OK, message
