"""The promotion protocol against the witness: whether the witness lets
this node promote a group now (`witness_allows`, never onto a replica the
peer recorded stale: `stale_replica`), the generation claimed and the intent
recorded before anything serves (`_claim_and_intend`), and the wait until
the heartbeat has published that intent (`_begin_serving`). The decisions
themselves are carpha.safety.witness; the loop that calls these is
carpha.engine.worker."""

from __future__ import annotations

from typing import NamedTuple, Optional

from .. import clock
from ..safety import watchdog
from ..store import state
from . import transitions
from ..actions.base import ActionFailed
from ..exits import CarphaError
from ..host.observe import get_carp_state

PUBLISH_WAIT_INTERVALS = 3
# The hold of a node that refused because its replica is stale.
STALE_HOLD = "refusing to serve: our replica is out of date"   # starts with witness_view.REFUSING_HOLD


def _claim_and_intend(ctx, automatic: bool, accepted_loss: bool = False) -> Optional[str]:
    """Before a promotion serves anything: claim the group's next generation
    on the witness (carpha.safety.claim: of two nodes deciding at once, one wins),
    then record the intent (role MASTER, that generation) for the heartbeat
    to publish. Returns why this node must not promote, or None. A slot
    taken by a peer that is known down (it died inside its promotion) is
    skipped; an administrator's takeover skips it too."""
    from ..safety import claim, witness, witness_view
    from ..safety.splitbrain import next_generation, peer_status_seen
    paths, group, w = ctx.config.paths, ctx.group.name, ctx.config.witness
    current = state.load(paths.state_dir, group)
    if current.role == transitions.MASTER or ctx.dry_run:
        return None
    generation = next_generation(current.generation, peer_status_seen(paths.run_dir, group))
    if w.kind == "lease":
        got = claim.claim(w.path, group, generation, ctx.node, timeout=w.interval_seconds)
        if not got.won and got.holder is not None:
            view = witness_view.load_view(paths.run_dir)
            down, _ = witness.may_promote(witness.promote_inputs(view, clock.monotonic(), w, run_dir=paths.run_dir))
            if down or not automatic:
                generation += 1
                got = claim.claim(w.path, group, generation, ctx.node, timeout=w.interval_seconds)
        if not got.won and got.holder is None and accepted_loss:
            ctx.log.error(f"{group}: {got.why}; going on: the administrator accepted the loss")
        elif not got.won:
            return f"witness: {got.why}"
    # The peer's half is not known in sync in the new generation until the
    # mirror shows it (record_replica): the intent says so before any
    # client writes, so a crash before the pass records it leaves no stale
    # "in sync" behind (soak seed 5).
    replica = {}
    if ctx.group.storage.kind == "gmirror-ggate":
        earlier = current.out_of_sync_since_generation if not current.replica_in_sync else None
        replica = {"replica_in_sync": False,
                   "out_of_sync_since_generation": earlier if earlier is not None else generation}
    state.save(paths.state_dir, current.with_changes(role=transitions.MASTER, generation=generation,
                                                     released=False, **replica))
    ctx.log.info(f"{group}: promoting as generation {generation} (published before anything serves)")
    return None


def _wait_published(ctx, since: float) -> None:
    """Serve nothing until the heartbeat has written a record that began
    after our intent was recorded (lease only): a peer reading the witness
    then sees us serving before any client can."""
    from ..safety import witness_view
    w = ctx.config.witness
    if w.kind != "lease" or ctx.dry_run:
        return
    deadline = since + PUBLISH_WAIT_INTERVALS * w.interval_seconds + 1.0
    while True:
        view = witness_view.load_view(ctx.config.paths.run_dir)
        if view is not None and view.own_ok and view.own_written_at is not None and view.own_written_at >= since:
            return
        if clock.monotonic() >= deadline:
            raise ActionFailed(f"{ctx.group.name}: the intent to serve was not published on the witness within "
                               f"{deadline - since:g} s (is carpha heartbeat running?); serving nothing")
        clock.sleep(w.interval_seconds / 4)


def _begin_serving(ctx, intended: float) -> None:
    """Just before the first address: the intent published, the watchdog's
    gate open; then this generation counts as served here
    (state.served_generation), before any client can write, so a crash in
    the middle of the pass still leaves the newest writes recognised as
    ours (soak seed 5)."""
    _wait_published(ctx, intended)
    watchdog.wait_gate(ctx)
    if ctx.dry_run:
        return
    current = state.load(ctx.config.paths.state_dir, ctx.group.name)
    if current.role == transitions.MASTER and current.served_generation != current.generation:
        state.save(ctx.config.paths.state_dir, current.with_changes(served_generation=current.generation))

class Promotion(NamedTuple):
    allowed: bool
    reason: str
    may_change: bool = False      # worth re-checking within takeover_after


def witness_allows(ctx) -> Promotion:
    """Whether the witness lets this node promote the group now: kind none
    always; ping when the witness answers; lease when our record renews and
    the peer's record has been silent for takeover_after (it is down) or
    says it let the group go: released on purpose, or, for the preferred
    node, simply not serving (the tie-break that keeps two idle nodes that
    cannot hear each other from both promoting). Never onto a replica the
    peer recorded stale."""
    from . import lease
    from ..safety import witness, witness_view
    w, group = ctx.config.witness, ctx.group
    if w.kind == "none":
        return Promotion(True, "no witness")
    if w.kind == "ping":
        return Promotion(*witness.may_promote_ping(
            lease.is_reachable(ctx.runner, str(ctx.config.nodes[w.node].address), 1), w.node))
    now = clock.monotonic()
    view = witness_view.load_view(ctx.config.paths.run_dir)
    inputs = witness.promote_inputs(view, now, w, run_dir=ctx.config.paths.run_dir)
    # The lease first (a live peer is the first reason to stay put), then
    # the freshness of our replica before any promotion it would allow.
    stale = stale_replica(view, group.name, ctx.config.paths.state_dir)
    allowed, why = witness.may_promote(inputs)
    if allowed:
        return Promotion(False, stale) if stale else Promotion(True, why)
    if not inputs.can_write_own:
        # A heartbeat that has not published yet (just after boot) may soon;
        # a record we cannot write is final for now.
        missing = view is None or now - view.updated > 3 * w.interval_seconds
        return Promotion(False, why, may_change=missing)
    status = view.peer_status(group.name) or {"serving": False, "released": False}
    preferred = ctx.node == group.preferred_node
    if view.peer_groups is not None and not status["serving"] and (status.get("released") or preferred):
        if stale:
            return Promotion(False, stale)
        return Promotion(True, f"witness: {ctx.peer} " +
                         ("released the group" if status.get("released") else "does not serve it"))
    # A peer whose record advanced lately may yet go silent (it may be dying).
    silent = inputs.peer_silent_for if inputs.peer_silent_for is not None else inputs.watching_for
    return Promotion(False, why, may_change=silent < w.takeover_after_seconds)


def stale_replica(view, group: str, state_dir: str):
    """The reason not to promote when the peer, last time it served, recorded
    our half of the mirror as out of date (its writes since then exist only
    on its disk), else None. Only a serving node sets the mark, and a mark
    is about the peer's own service: once we served a later generation than
    the peer last served (generations are claimed one at a time on the
    witness, carpha.safety.claim), the newest writes are ours and the mark predates
    them. Served on both sides, not claimed: a claim whose promotion was
    abandoned wrote nothing (soak seeds 8 and 1). A peer that does not
    publish what it served (an older writer) counts by its last claim."""
    status = view.peer_status(group) if view is not None else None
    since = status.get("out_of_sync_since_generation") if status else None
    if since is None or status.get("replica_in_sync", True):
        return None
    try:
        ours = state.load(state_dir, group).served_generation
    except CarphaError:
        ours = 0
    # What the peer served: its claim while its record says it serves (it
    # may have written before publishing served_generation), else what it
    # published it served.
    theirs = None if status.get("serving") else status.get("served_generation")
    if theirs is not None and since > theirs:
        # Marked by an intent whose promotion never served (served_generation
        # is saved before the first address, and "not serving" published
        # only after letting go): no write was made since.
        return None
    if ours > (theirs if theirs is not None else status.get("generation") or 0):
        return None
    return (f"our replica is out of date: {view.peer} recorded it out of sync since generation {since}; "
            f"promoting would lose the writes made since (carpha takeover {group} --accept-data-loss)")


def _wait_for_witness(ctx):
    """A peer's record that advanced lately, or a heartbeat that has not
    published yet (just after boot), may change within takeover_after:
    re-check every interval while CARP still says MASTER. Any other refusal
    (our own record cannot be written) is final for now."""
    w = ctx.config.witness
    deadline = clock.monotonic() + (w.takeover_after_seconds + 2 * w.interval_seconds if w.kind == "lease" else 0)
    while True:
        decision = witness_allows(ctx)
        allowed, why = decision.allowed, decision.reason
        if allowed or not decision.may_change or clock.monotonic() >= deadline:
            return allowed, why
        clock.sleep(w.interval_seconds)
        if transitions.role_for(get_carp_state(ctx)) != transitions.MASTER:
            return False, f"CARP left MASTER while waiting for the witness ({why})"
