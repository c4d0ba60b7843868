"""Moving a group by hand: `carpha takeover` / `carpha release`.

Release lets go of the group first, then hands CARP over
(`ifconfig IF vhid N state backup`); takeover forces CARP MASTER first and
then runs the ordered transition under the group's lock. A forced BACKUP
alone does not last: with net.inet.carp.preempt=1 the preferred node takes
MASTER back as soon as it hears the peer's slower adverts (reference 2.2).
So release also raises the vhid's advskew to 240 (slower than any peer
configured in rc.conf) and records the original in the group's state;
takeover restores it. rc.conf's value returns at the next reboot anyway."""

from __future__ import annotations

from .. import clock
from ..store import state
from . import holds, promotion, replica_state, transitions, worker
from ..actions.base import ActionFailed
from ..actions.replica import replica_in_sync
from ..freebsd import commands as cmd
from ..store.lock import GROUP_LOCK_WAIT, Lock
from ..host.observe import get_carp, get_carp_state, get_carps

RELEASED_ADVSKEW = 240


def current_advskew(ctx):
    observed = get_carp(ctx)
    return None if observed is None else observed["advskew"]


def plan_carp(ctx, role: str, saved_advskew, observed=None):
    """The CARP commands for a hand-over, in order. `observed`: the vhid as
    get_carp() reads it (read here when not given); a unicast peer it shows
    is passed again with each command, or 14.x ifconfig would put the vhid
    back on multicast (reference 2.2)."""
    # Every vhid of a multi-vhid group moves (carpha.safety.vhids); the saved
    # advskew is the first vhid's (rc.conf gives a node's vhids one value).
    carps = get_carps(ctx) if observed is None else [(ctx.group.carp, observed)]
    steps = []
    for carp, seen in carps:
        seen = seen or {}
        peers = {"peer": seen.get("peer"), "peer6": seen.get("peer6")}
        if role == transitions.BACKUP and seen.get("advskew") != RELEASED_ADVSKEW:
            steps.append(cmd.carp_advskew(carp.interface, carp.vhid, RELEASED_ADVSKEW, **peers))
        if role == transitions.MASTER and saved_advskew is not None:
            steps.append(cmd.carp_advskew(carp.interface, carp.vhid, saved_advskew, **peers))
        steps.append(cmd.carp_force(carp.interface, carp.vhid, role, **peers))
    return steps


def stale_replica_reason(ctx):
    """Why our replica is known to be stale (the peer recorded it), or None."""
    if ctx.config.witness.kind != "lease":
        return None
    from ..safety import witness_view
    return promotion.stale_replica(witness_view.load_view(ctx.config.paths.run_dir), ctx.group.name,
                                ctx.config.paths.state_dir)


def unknown_peer_reason(ctx):
    """Unknown is not "fine": with a lease witness, a takeover that cannot
    read the peer's record does not know whether the peer served writes
    this node lacks (it may have served, alone, while we were cut off).
    Says what is unknown, or None. A dry run only describes."""
    if ctx.config.witness.kind != "lease" or ctx.dry_run:
        return None
    from ..safety import splitbrain, witness_view
    status, _, why = splitbrain.reading(ctx, witness_view.load_view(ctx.config.paths.run_dir), clock.monotonic())
    if status is not None:
        return None
    return (f"{ctx.peer}'s witness record cannot be read ({why}): whether it served writes this node lacks "
            f"is unknown; bring the witness back, or, if {ctx.peer} is really gone and its last writes may "
            f"be lost, carpha takeover {ctx.group.name} --accept-data-loss")


def hand_over(ctx, role: str, *, accept_data_loss: bool = False):
    """Move the group by hand; returns the worker's GroupResult (None in a
    dry run, which prints the whole plan instead).

    Release lets go *before* handing CARP over, under the group's lock: the
    peer promotes as soon as CARP moves, and must never find our jails
    running or the mirror still mounted here. Takeover forces CARP first
    (the peer lets go on its BACKUP event) and then runs the worker."""
    paths = ctx.config.paths
    if ctx.group.storage.kind == "local-gmirror":     # moves with its drives, not with CARP
        from . import nas
        held_role, changed, held = nas.hand_over(ctx, role)
        return worker.GroupResult(ctx.group.name, held_role, changed, 1, held, 0)
    stale = stale_replica_reason(ctx) if role == transitions.MASTER else None
    if role == transitions.MASTER and not stale:
        stale = unknown_peer_reason(ctx)
    if stale and not accept_data_loss:
        from ..exits import TEMPFAIL, CarphaError
        raise CarphaError(f"takeover refused: {stale}", TEMPFAIL)
    saved = state.load(paths.state_dir, ctx.group.name)
    carp_steps = plan_carp(ctx, role, saved.saved_advskew)
    if ctx.dry_run:
        if role == transitions.MASTER:
            for argv in carp_steps:
                ctx.change(argv)
        transitions.run(ctx, role)
        if role == transitions.BACKUP:
            for argv in carp_steps:
                ctx.change(argv)
        return None
    if role == transitions.MASTER:
        if stale:
            ctx.log.error(f"{ctx.group.name}: data loss accepted by the administrator: {stale}")
            from ..store import journal
            journal.append(paths.state_dir, ctx.group.carp.subsystem,
                           {"kind": "takeover", "node": ctx.node, "accepted_data_loss": True, "reason": stale})
            _discard_peer_disk(ctx, saved)
        _end_hold(ctx)
        for argv in carp_steps:
            ctx.change(argv)
        if saved.saved_advskew is not None:
            state.update(paths.state_dir, ctx.group.name, saved_advskew=None)
        _wait_peer_let_go(ctx)
        result = worker.reconcile_group(ctx, automatic=False, accepted_loss=accept_data_loss)
        if result.role != role:
            raise ActionFailed(f"{ctx.group.name}: CARP did not stay MASTER on {ctx.node} (now {result.role})")
        return result
    with Lock(paths.run_dir, ctx.group.name, purpose="release").acquire(timeout=GROUP_LOCK_WAIT):
        replica_state.record_replica(ctx)       # what the peer needs to know before it promotes
        _refuse_release_to_stale_peer(ctx)
        outcomes = transitions.run(ctx, role)
        if saved.saved_advskew is None:
            original = current_advskew(ctx)
            if original is not None and original != RELEASED_ADVSKEW:
                state.update(paths.state_dir, ctx.group.name, saved_advskew=original)
        for argv in carp_steps:
            ctx.change(argv)
        state.update(paths.state_dir, ctx.group.name, role=role, released=True)
    return worker.GroupResult(ctx.group.name, role, any(o.changed for o in outcomes), 1)


def _wait_peer_let_go(ctx) -> None:
    """A takeover of a live peer serves nothing until the peer's record says
    it let go (its BACKUP event stops its jails first, and that can take
    seconds when its writes stall on our half going away) or has not
    advanced for takeover_after (its lease lapsed: it fenced itself).
    Without this, both nodes served for seconds (soak seeds 9 and 10). No
    current reading: unknown_peer_reason refused already, unless the loss
    was accepted."""
    from ..exits import TEMPFAIL, CarphaError
    w = ctx.config.witness
    if w.kind != "lease":
        return
    from ..safety import witness_view
    from ..safety.splitbrain import reading
    waited = w.takeover_after_seconds + 2 * w.interval_seconds
    deadline = clock.monotonic() + waited
    while True:
        status, fresh, _ = reading(ctx, witness_view.load_view(ctx.config.paths.run_dir), clock.monotonic())
        if status is None or not status.get("serving") or not fresh:
            return
        if clock.monotonic() >= deadline:
            raise CarphaError(f"takeover: {ctx.peer} still serves {ctx.group.name} after {waited:g} s; "
                              f"nothing started here", TEMPFAIL)
        clock.sleep(w.interval_seconds / 2)


def _refuse_release_to_stale_peer(ctx) -> None:
    """A serving node whose peer's half is recorded out of date does not let
    go: the peer would refuse its stale disk, and nobody would serve."""
    from ..exits import TEMPFAIL, CarphaError
    saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
    if saved.role == transitions.MASTER and not saved.replica_in_sync:
        raise CarphaError(
            f"release refused: {ctx.peer}'s replica is out of date (out of sync since generation "
            f"{saved.out_of_sync_since_generation}): {ctx.peer} would refuse to serve {ctx.group.name} "
            f"and nobody would; wait until the resync completes (carpha status)", TEMPFAIL)


def _discard_peer_disk(ctx, saved) -> None:
    """After an accepted loss the peer's disk holds writes this node will
    never have, and may carry the same genid/syncid as the mirror this node
    is about to start alone (both bumped syncid once): the kernel would taste
    it in ACTIVE, with no copy (reference 4.3). So it is treated as the
    losing side of a resolved split brain: the peer blanks it before
    exporting it (splitbrain.disk_to_clear) and this node inserts it in full."""
    from ..safety import splitbrain
    peer = splitbrain.peer_status_seen(ctx.config.paths.run_dir, ctx.group.name) or {}
    peer_generation = peer.get("generation") if isinstance(peer.get("generation"), int) else 0
    discarded = max(saved.generation, peer_generation, saved.split_brain_resolved or 0)
    state.update(ctx.config.paths.state_dir, ctx.group.name, split_brain_resolved=discarded, resync_owed=True)


def _end_hold(ctx) -> None:
    """An administrator's takeover ends a fence's or a boot's demotion hold:
    a demoted node's forced MASTER would not last against the peer's
    better adverts."""
    from ..safety import maintenance
    try:
        hold = maintenance.read(ctx.config.paths.state_dir).hold
    except maintenance.MaintenanceError:
        return
    if hold is not None:
        maintenance.set_hold(ctx.config.paths.state_dir, None)
        ctx.log.info(f"{ctx.group.name}: takeover ends the demotion hold ({hold})")
        holds.apply_demotion(ctx.config, ctx.runner, ctx.log, holds.boot_id(ctx.runner, ctx.config))


SWITCHOVER_TIMEOUT = 120.0


def switch_over(ctx, *, to=None, timeout=SWITCHOVER_TIMEOUT, pause=None, echo=print):
    """Move the group to the peer with zero acknowledged writes lost: refuse
    unless the peer's replica is in sync; release here (jails stopped before
    CARP moves); wait until the group's address answers from the peer (an
    observable signal, not a sleep); if it does not within `timeout`, take
    the group back and say why."""
    from .. import clock
    from ..exits import TEMPFAIL, UNAVAILABLE, USAGE, CarphaError
    from .lease import is_reachable
    pause = pause or clock.sleep
    peer, group = ctx.peer, ctx.group
    if to is not None and to != peer:
        raise CarphaError(f"switchover: {to} is not {ctx.node}'s peer in group {group.name} ({peer})", USAGE)
    if transitions.role_for(get_carp_state(ctx)) != transitions.MASTER:
        raise CarphaError(f"switchover: {ctx.node} is not serving {group.name} (CARP is not MASTER here)", TEMPFAIL)
    ok, why = replica_in_sync(ctx)
    if not ok:
        raise CarphaError(f"switchover refused: {peer}'s replica is not in sync: {why}", TEMPFAIL)
    # The mirror only notices a dead peer at its next write: ask the peer itself.
    if not is_reachable(ctx.runner, str(ctx.config.nodes[peer].address), 1):
        raise CarphaError(f"switchover refused: {peer} ({ctx.config.nodes[peer].address}) does not answer",
                          UNAVAILABLE)
    address = str(group.addresses[0].ip)
    echo(f"{group.name}: {ctx.node} lets go (jails, addresses, mirror), then hands CARP to {peer}")
    hand_over(ctx, transitions.BACKUP)
    started, shown = clock.monotonic(), -1
    while clock.monotonic() - started < timeout:
        if is_reachable(ctx.runner, address, 1):
            echo(f"{group.name}: {peer} serves {address} after {clock.monotonic() - started:.0f} s")
            return True
        waited = int(clock.monotonic() - started)
        if waited // 5 != shown // 5:
            echo(f"{group.name}: waiting for {peer} to serve {address}: {waited} s")
            shown = waited
        pause(1.0)
    echo(f"{group.name}: {peer} did not serve {address} within {timeout:g} s; taking the group back")
    hand_over(ctx, transitions.MASTER)
    raise CarphaError(f"switchover: {peer} did not take over {group.name} within {timeout:g} s; "
                      f"{ctx.node} serves it again", UNAVAILABLE)
