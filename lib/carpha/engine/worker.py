"""The reconcile loop behind the hooks (`carpha reconcile`).

One worker per node (the `worker` lock). For each group this node serves,
under the group's lock: read the unhandled journal events, observe the real
CARP state (never trust the event: events arrive late, twice or out of
order), decide the role, and run the transition toward it. Between steps the
CARP state is read again; when the role flipped (MASTER then BACKUP a second
later) the rest of the plan is abandoned and the loop re-plans toward the
new role. It ends when reality matches the role and no event is unread.
Every pass appends a `run` record to the group's journal: what it observed,
decided and did, with durations and the last event seq it handled.

Lost wake-up guard: the hook appends its event *before* probing the worker
lock, and the worker re-reads the journals *after* releasing it; whichever
runs second sees the event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional

from .. import clock
from ..safety import damping, maintenance, vhids, watchdog
from ..store import journal, state
from . import notify, transitions
from ..actions.base import Abandoned, ActionFailed, Context
from ..safety.boot import BootIdUnknown, boot_id   # the one boot identity (heartbeat, handover: via here)
from ..exits import TEMPFAIL, UNAVAILABLE, CarphaError
from ..freebsd import commands as cmd
from ..store.lock import GROUP_LOCK_WAIT, Lock, LockBusy
from ..host.observe import get_carp_state, get_carps

MAX_PASSES = 50          # bound on re-plans in one run (a flapping vhid)


@dataclass
class GroupResult:
    group: str
    role: str
    changed: bool
    passes: int
    error: Optional[str] = None
    exit_code: int = 0


def unhandled_events(state_dir: str, binding: str) -> List[dict]:
    records = journal.read(state_dir, binding)
    handled = max((r.get("handled_seq", 0) for r in records if r.get("kind") == "run"), default=0)
    return [r for r in records if r.get("kind") == "event" and r["seq"] > handled]


def pending_bindings(state_dir: str) -> List[str]:
    return [b for b in journal.bindings(state_dir) if unhandled_events(state_dir, b)]


def reconcile(config, node: str, make_runner, log, *, only_group: Optional[str] = None) -> Dict[str, GroupResult]:
    """Run until every group matches its role and no event is unread.
    `make_runner()` returns the Runner to use. Returns per-group results;
    if another worker holds the worker lock this one exits at once ({})."""
    results: Dict[str, GroupResult] = {}
    paths = config.paths
    while True:
        try:
            worker_lock = Lock(paths.run_dir, "worker", purpose="reconcile").acquire(timeout=0)
        except LockBusy:
            log.debug("another worker is running; it will see the journal")
            return results
        try:
            _ignore_unknown_bindings(config, log)
            try:
                sync_demotion(config, make_runner(), log)
            except (CarphaError, OSError) as error:
                # One failed probe degrades this decision only: every group
                # is still reconciled, letting go included.
                log.error(f"CARP demotion not brought up to date this pass: {error}")
            for group in config.groups.values():
                if node not in group.nodes or (only_group and group.name != only_group):
                    continue
                ctx = Context(config, group, node, make_runner(), log)
                try:
                    result = reconcile_group(ctx) if group.storage.kind != "local-gmirror" else _nas(ctx)
                    earlier = results.get(group.name)
                    # A refusal stays the answer of this run even when the
                    # events it caused (it handed CARP over) ran a quiet pass.
                    results[group.name] = earlier if earlier and earlier.error and not result.error else result
                except (CarphaError, OSError) as error:   # logged and journaled; the other groups go on
                    code = getattr(error, "exit_code", 74)   # EX_IOERR for an OSError
                    log.error(f"{group.name}: {error}")
                    results[group.name] = GroupResult(group.name, "?", False, 0, str(error), code)
            _devices_handled(config, unhandled_events(paths.state_dir, journal.DEVICES), log)
        finally:
            worker_lock.release()
        pending = [b for b in pending_bindings(paths.state_dir)
                   if any(b in g.subsystems and node in g.nodes for g in config.groups.values())]
        pending += [journal.DEVICES] if unhandled_events(paths.state_dir, journal.DEVICES) else []
        if not pending:
            return results
        # A hook that found our lock held trusted us with its event, whatever
        # group we were asked about: handle every group from here on.
        only_group = None
        log.debug(f"events arrived while finishing: {', '.join(pending)}; running again")


def _nas(ctx) -> GroupResult:
    """A NAS group follows its drives, not CARP (carpha.engine.nas)."""
    from .nas import reconcile as reconcile_nas
    role, changed, held = reconcile_nas(ctx)
    return GroupResult(ctx.group.name, role, changed, 1, held, 0)


def _ignore_unknown_bindings(config, log) -> None:
    known = {b for g in config.groups.values() for b in g.subsystems}
    for binding in journal.bindings(config.paths.state_dir):
        if binding in known:
            continue
        events = unhandled_events(config.paths.state_dir, binding)
        if events:
            log.info(f"ignoring {len(events)} event(s) for {binding}: no group uses this vhid")
            try:
                journal.append(config.paths.state_dir, binding,
                               {"kind": "run", "handled_seq": events[-1]["seq"], "decided": None,
                                "note": "no group uses this vhid"})
            except (OSError, CarphaError) as error:
                log.warning(f"cannot journal for {binding}: {error}")


def _devices_handled(config, events, log) -> None:
    """A device appeared or went (geom-event): this pass looked at every
    group, so the events so far are handled, also those that came while it
    ran: most are its own doing (ggatec create, a mirror it assembled),
    and a peer half lost meanwhile is seen by the heartbeat's next beat
    (carpha.safety.reconnect)."""
    if not events:
        return
    log.info("device events: " + ", ".join(f"{e.get('subsystem')} {e.get('type')}" for e in events))
    try:
        journal.append(config.paths.state_dir, journal.DEVICES,
                       {"kind": "run", "handled_seq": events[-1]["seq"], "decided": None,
                        "note": "every group reconciled"})
    except (OSError, CarphaError) as error:
        log.warning(f"cannot journal the device events handled: {error}")


class Readiness(NamedTuple):
    ready: bool
    reason: str
    behind: bool = False          # positive evidence: the peer serves with our half out of sync


def readiness(config, node: str) -> Readiness:
    """Whether this node could serve its groups with current data, so a
    hold (after a fence or a boot) may end. Lease only (the other kinds
    publish nothing to judge by). Needs a fresh view of a live peer: the
    peer serves nothing, or serves with our half recorded in sync. A dead
    peer keeps the hold: nobody competes for CARP then, and promotion has
    guards of its own."""
    from ..safety import witness_view
    w = config.witness
    if w.kind != "lease":
        return Readiness(True, f"witness kind {w.kind}: readiness is not tracked")
    view = witness_view.load_view(config.paths.run_dir)
    now = clock.monotonic()
    if view is None or not 0 <= now - view.updated <= 3 * w.interval_seconds or not view.own_ok:
        return Readiness(False, "no fresh heartbeat view that reaches the witness")
    if view.peer_changed_at is None or now - view.peer_changed_at >= w.takeover_after_seconds:
        return Readiness(False, f"{view.peer}'s record is not advancing: waiting to see it")
    for name, group in config.groups.items():
        status = view.peer_status(name)
        if node in group.nodes and status and status["serving"] and not status["replica_in_sync"]:
            return Readiness(False, f"{view.peer} serves {name} and records our half of the mirror out of sync",
                             behind=True)
    return Readiness(True, f"{view.peer} records our replica in sync (or serves nothing)")


def update_hold(config, node: str, log) -> None:
    """Hold the demotion of a standby while the peer serves with our half
    out of sync (whatever the cause: a boot, a fence, a resync after a link
    failure), and
    end a hold once this node is ready. Only positive evidence starts one
    (a stale view does not); only a fresh view ends one."""
    state_dir = config.paths.state_dir
    try:
        hold = maintenance.read(state_dir).hold
    except maintenance.MaintenanceError:
        return
    now = readiness(config, node)
    serving = any(state.load(state_dir, name).role == transitions.MASTER
                  for name, g in config.groups.items() if node in g.nodes)
    if hold is not None and hold.startswith(STALE_HOLD) and now.ready:
        # Held so that the peer, which has the writes we lack, can serve:
        # "the peer serves nothing" is not enough, our half must be current.
        from ..safety import witness_view
        view = witness_view.load_view(config.paths.run_dir)
        if any(stale_replica(view, name, state_dir) for name, g in config.groups.items() if node in g.nodes):
            now = Readiness(False, f"{view.peer} still records our half out of sync")
    if hold is None and now.behind and not serving:   # a serving node never holds itself back
        maintenance.set_hold(state_dir, f"replica behind: {now.reason}")
        log.info(f"demotion held: {now.reason}")
    elif hold is not None and now.ready:
        maintenance.set_hold(state_dir, None)
        log.info(f"demotion hold ({hold}) ends: {now.reason}")
    elif hold is not None:
        log.debug(f"demotion hold ({hold}) stays: {now.reason}")


def boot_hold(config, runner, log) -> None:
    """At boot, before the interfaces come up (rc.d/carpha_boot): raise
    carpha's demotion share and hold it until this node is ready, so a
    rebooted preferred node does not preempt the group onto a stale disk.
    A boot that cannot be told apart still starts the hold (the worker
    raises the demotion once it can), then raises BootIdUnknown."""
    reason = "booted: until this node's replica is known in sync"
    try:
        boot = boot_id(runner, config)
    except BootIdUnknown as error:
        if runner.dry_run:
            raise BootIdUnknown(f"boot-hold: cannot tell this boot apart: {error}") from None
        # Adding the demotion without knowing the boot could count it twice.
        maintenance.set_hold(config.paths.state_dir, reason)
        log.error(f"boot: cannot tell this boot apart: {error}; demotion held, "
                  "the worker raises it once it can tell the boot")
        raise BootIdUnknown(f"boot-hold: cannot tell this boot apart: {error}") from None
    if runner.dry_run:
        runner.change(cmd.sysctl_add_demotion(maintenance.DEMOTION), timeout=config.timeouts.change_seconds)
        return
    note_boot(config, boot, log)

    def add(delta: int) -> bool:
        argv = cmd.sysctl_add_demotion(delta)
        result = runner.change(argv, timeout=config.timeouts.change_seconds, check=False)
        if result.returncode != 0:
            log.error(f"boot: {' '.join(argv)} failed ({result.stderr.strip()}); the worker retries")
        return result.returncode == 0

    maintenance.raise_and_hold(config.paths.state_dir, boot, reason, add)
    log.info("boot: CARP demotion held until this node's replica is known in sync")


def note_boot(config, boot: str, log) -> None:
    """After a reboot, forget the roles applied before it (state.note_boot)."""
    mine = [name for name, g in config.groups.items() if config.node in g.nodes]
    forgotten = state.note_boot(config.paths.state_dir, mine, boot)
    if forgotten:
        log.info(f"new boot: {', '.join(forgotten)} no longer served here since the reboot")


def sync_demotion(config, runner, log) -> None:
    """Keep CARP demoted exactly while maintenance mode is on or a hold
    stands, adding and removing only carpha's own share of the additive
    counter; on a new boot, first forget the roles of the last one. A boot
    that cannot be told apart leaves the demotion as it is this pass."""
    try:
        boot = boot_id(runner, config)
    except BootIdUnknown as error:
        log.warning(f"cannot tell this boot apart: {error}; CARP demotion left as it is this pass")
        update_hold(config, config.node, log)
        return
    note_boot(config, boot, log)
    update_hold(config, config.node, log)
    apply_demotion(config, runner, log, boot)


def apply_demotion(config, runner, log, boot: str) -> None:
    """Bring carpha's share of net.inet.carp.demotion to what the maintenance
    record wants now (mode on or a hold: DEMOTION, else 0)."""
    step = maintenance.plan_demotion(config.paths.state_dir, boot, clock.now())
    if step is None:
        return
    runner.change(step.argv, timeout=config.timeouts.change_seconds)
    maintenance.record_demotion(config.paths.state_dir, step.applied, boot)
    log.info(f"maintenance: {step.reason}")


def _hold(ctx, record, reason, exit_code, binding, passes) -> "GroupResult":
    """Journal why the group is left as it is (the record already names the
    events it handled)."""
    record.update(result="held", reason=reason)
    _journal(ctx, binding, record)
    return GroupResult(ctx.group.name, record["decided"], False, passes, reason, exit_code)


def _refuse(ctx, record, reason, exit_code, binding, passes) -> "GroupResult":
    """The one place a promotion is refused (the witness: a live peer, our
    replica recorded stale, our record unwritable; a generation claim
    lost): CARP yielded, the refusal journaled, and hooks.on_refusal run,
    once per refusal: not again while the group's last run was a refusal
    too (cron retries every minute while CARP stays MASTER here)."""
    _yield(ctx, reason)
    again = _last_run_refused(ctx, binding)
    record["refused"] = True
    held = _hold(ctx, record, reason, exit_code, binding, passes)
    if not again:
        notify.run(ctx.config, "on_refusal", ctx.group.name, ctx.node, reason, ctx.runner, ctx.log)
    return held


def _last_run_refused(ctx, binding) -> bool:
    try:
        records = journal.read(ctx.config.paths.state_dir, binding)
    except (OSError, CarphaError):
        return False                # unknown: better one alert too many than none
    last = next((r for r in reversed(records) if r.get("kind") == "run" and r.get("group") == ctx.group.name),
                None)
    return bool(last and last.get("refused"))


def _journal(ctx, binding, record) -> None:
    """Journal a run; a full or broken /var is logged, never fatal."""
    try:
        journal.append(ctx.config.paths.state_dir, binding, record)
    except (OSError, CarphaError) as error:
        ctx.log.warning(f"{ctx.group.name}: cannot journal this run: {error}")


def reconcile_group(ctx: Context, *, automatic: bool = True, accepted_loss: bool = False) -> GroupResult:
    """`automatic`: run by devd/cron, so maintenance mode, flap damping and
    the settle time apply; an administrator's takeover/release is not.
    `accepted_loss`: the administrator's takeover accepted a data loss (a
    generation claim the witness cannot record does not stop it)."""
    paths, group = ctx.config.paths, ctx.group
    binding = group.carp.subsystem
    with Lock(paths.run_dir, group.name, purpose="reconcile").acquire(timeout=GROUP_LOCK_WAIT):
        changed, passes = False, 0
        role = transitions.BACKUP
        while passes < MAX_PASSES:
            passes += 1
            started = clock.monotonic()
            events, last_seqs = vhids.events(paths.state_dir, group, unhandled_events)
            vhids.mark_handled(paths.state_dir, group, last_seqs, ctx.log)
            handled_seq = last_seqs.get(binding)
            try:
                carp = get_carp_state(ctx)
            except (CarphaError, OSError) as error:
                # Unknown is not BACKUP: tearing a serving group down on one
                # failed `ifconfig` would be an outage of our own making.
                reason = f"CARP state unknown this pass ({error}); nothing changed"
                ctx.log.error(f"{group.name}: {reason}")
                return GroupResult(group.name, "?", changed, passes, reason, TEMPFAIL)
            role = transitions.role_for(carp)
            before = applied_role(ctx)          # for the notify hooks: a move or a repair
            record = {"kind": "run", "group": group.name, "node": ctx.node, "pass": passes,
                      "observed": {"carp": carp, "events": [e["type"] for e in events]},
                      "decided": role, "was": before}
            if handled_seq is not None:
                record["handled_seq"] = handled_seq
            if automatic:
                held = _guard(ctx, role, record, binding, passes)
                if held == "re-plan":
                    continue
                if held is not None:
                    return held

            def still_same_role() -> None:
                now = get_carp_state(ctx)
                if transitions.role_for(now) != role:
                    raise Abandoned(f"{group.name}: CARP is now {now}; abandoning the move to {role}")

            if role == transitions.MASTER:
                refused = _claim_and_intend(ctx, automatic, accepted_loss)
                if refused is not None:
                    return _refuse(ctx, record, refused, TEMPFAIL, binding, passes)
            elif applied_role(ctx) == transitions.MASTER:
                # Letting go: say what the mirror shows before it stops (if
                # the peer's half then stalls the stop, the heartbeat drops
                # it and records it outdated, replica_drop).
                record_replica(ctx)
            intended = clock.monotonic()
            try:
                outcomes = transitions.run(ctx, role, between=still_same_role,
                                           before_serving=lambda: _begin_serving(ctx, intended))
            except Abandoned as abandoned:
                ctx.log.info(str(abandoned))
                record.update(result="abandoned", duration=round(clock.monotonic() - started, 6))
                _journal(ctx, binding, record)
                changed = True
                continue
            except Exception as failure:   # logged, journaled, then re-raised
                record.update(result="failed", error=str(failure),
                              duration=round(clock.monotonic() - started, 6))
                _journal(ctx, binding, record)
                ctx.log.error(f"{group.name}: move to {role} failed: {failure}")
                _save_state(ctx, role, handled_seq, applied=False)
                raise
            if role == transitions.MASTER:
                _restore_advskew(ctx)
                record_replica(ctx)
            else:
                _end_unanswered_release(ctx)
            did = [step for o in outcomes for step in o.steps]
            changed = changed or any(o.changed for o in outcomes)
            record.update(result="ok", did=did, duration=round(clock.monotonic() - started, 6))
            _journal(ctx, binding, record)
            _save_state(ctx, role, handled_seq, applied=True)
            if role == transitions.BACKUP and len(group.bindings) > 1:
                _release_if_cannot_serve(ctx)
            if before != role and any(o.changed for o in outcomes):
                notify.run(ctx.config, "on_promote" if role == transitions.MASTER else "on_demote",
                           group.name, ctx.node, f"CARP {carp}", ctx.runner, ctx.log)
            if not vhids.events(paths.state_dir, group, unhandled_events)[0] \
                    and transitions.role_for(get_carp_state(ctx)) == role:
                break
        else:
            error = f"{group.name}: still changing after {MAX_PASSES} passes; giving up for now"
            ctx.log.warning(error)
            return GroupResult(group.name, role, changed, passes, error, TEMPFAIL)
        return GroupResult(group.name, role, changed, passes)


def _guard(ctx, role, record, binding, passes):
    """Maintenance, flap damping and settling, for automatic runs. They only
    ever hold a *promotion*: letting go when CARP is no longer MASTER is
    always allowed (holding it would leave the group running here while the
    peer promotes). Returns a GroupResult to stop with, "re-plan", or None."""
    paths, settings = ctx.config.paths, ctx.config.damping
    now = clock.now()
    applied = state.load(paths.state_dir, ctx.group.name).role
    if applied != role:        # every role change counts as a flap, both ways
        try:
            damping.record_transition(paths.state_dir, ctx.group.name, role, now,
                                      window=settings.flap_window_seconds)
        except OSError as error:   # bookkeeping must not stop a failover
            ctx.log.warning(f"{ctx.group.name}: cannot record the transition: {error}")
    if role != transitions.MASTER:
        return None
    reason = maintenance.blocks_automatic_action(paths.state_dir, now)
    if reason is not None:
        ctx.log.info(f"{ctx.group.name}: {reason}")
        return _hold(ctx, record, reason, 0, binding, passes)
    if applied == role:
        return None
    allowed, why = _wait_for_witness(ctx)
    if not allowed:
        ctx.log.warning(f"{ctx.group.name}: not promoting: {why}")
        return _refuse(ctx, record, why, UNAVAILABLE, binding, passes)
    damped = damping.is_damped(paths.state_dir, ctx.group.name, settings.flap_limit,
                               settings.flap_window_seconds, now)
    if damped is not None:
        ctx.log.error(f"alert: {damped}")
        return _hold(ctx, record, damped, TEMPFAIL, binding, passes)
    if settings.settle_seconds > 0 and ctx.config.watchdog is None:   # the gate waits instead
        still = damping.settle(lambda: transitions.role_for(get_carp_state(ctx)) == transitions.MASTER,
                               settings.settle_seconds)
        if not still:
            ctx.log.info(f"{ctx.group.name}: CARP left MASTER within {settings.settle_seconds:g} s; re-planning")
            return "re-plan"
        # The grant was for then; the peer may have moved while we settled.
        decision = witness_allows(ctx)
        if not decision.allowed:
            ctx.log.warning(f"{ctx.group.name}: not promoting: {decision.reason}")
            return _refuse(ctx, record, decision.reason, UNAVAILABLE, binding, passes)
    return None


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


def _yield(ctx, why: str) -> None:
    """A node that refuses to promote does not keep CARP MASTER: it holds
    carpha's demotion (ended by update_hold once it could serve) and says in
    its record that it let the group go, so a peer holding the data can
    serve. Nothing is torn down: it serves nothing."""
    paths = ctx.config.paths
    try:
        if transitions.role_for(get_carp_state(ctx)) != transitions.MASTER:
            return          # CARP moved on by itself: nothing held
        if maintenance.read(paths.state_dir).hold is None:
            maintenance.set_hold(paths.state_dir, why.replace("our replica is out of date", STALE_HOLD, 1)
                                 if why.startswith("our replica is out of date") else f"refusing to serve: {why}")
            ctx.log.info(f"{ctx.group.name}: CARP demotion held while refusing to serve")
        current = state.load(paths.state_dir, ctx.group.name)
        if current.role != transitions.MASTER and not current.released:
            state.save(paths.state_dir, current.with_changes(released=True))
        apply_demotion(ctx.config, ctx.runner, ctx.log, boot_id(ctx.runner, ctx.config))
        # The demotion alone may not move CARP: with the peer demoted too,
        # both adverts clamp to the same interval (advskew + demotion is
        # capped at 240, reference 2.5) and the master stays. Hand it over.
        # Only to a live peer that serves nothing and does not refuse too:
        # handed to a dead one, or to one that refuses as well, CARP would
        # come straight back here at every master-down timeout (a churn of
        # worker runs every few seconds while nobody can serve).
        from ..safety import witness_view
        from ..safety.splitbrain import reading
        status, fresh, _ = reading(ctx, witness_view.load_view(paths.run_dir), clock.monotonic())
        if status is not None and fresh and not status.get("serving") and not status.get("refusing"):
            _hand_vhids_over(ctx)
    except (CarphaError, OSError) as error:
        ctx.log.warning(f"{ctx.group.name}: cannot hold the CARP demotion: {error}")


def _hand_vhids_over(ctx) -> None:
    """`state backup` for each of the group's vhids this node is MASTER of."""
    for binding, observed in vhids.masters_here(get_carps(ctx)):
        ctx.change(cmd.carp_force(binding.interface, binding.vhid, transitions.BACKUP,
                                  peer=observed.get("peer"), peer6=observed.get("peer6")))


def _release_if_cannot_serve(ctx) -> None:
    """A vhid of a multi-vhid group is INIT here while others are not (an
    interface of the group is down: this node cannot serve it; see
    carpha.safety.vhids): having let go, say so (released), so the peer may
    promote although our record is fresh, and hand a live peer the vhids
    still MASTER here, so CARP does not keep the group split."""
    from ..safety import witness_view
    from ..safety.splitbrain import reading
    paths = ctx.config.paths
    try:
        if not vhids.cannot_serve(get_carps(ctx)):
            return
        current = state.load(paths.state_dir, ctx.group.name)
        if not current.released:
            state.save(paths.state_dir, current.with_changes(released=True))
            ctx.log.warning(f"{ctx.group.name}: a vhid of the group is in INIT here (its interface is down): "
                            f"let go, for {ctx.peer} to serve")
        status, fresh, _ = reading(ctx, witness_view.load_view(paths.run_dir), clock.monotonic())
        if status is not None and fresh:      # handed to a dead peer, CARP would come straight back
            _hand_vhids_over(ctx)
    except (CarphaError, OSError) as error:
        ctx.log.warning(f"{ctx.group.name}: cannot hand the group's other vhids over: {error}")


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


def applied_role(ctx) -> Optional[str]:
    try:
        return state.load(ctx.config.paths.state_dir, ctx.group.name).role
    except CarphaError:
        return None


def record_replica(ctx) -> None:
    """The serving node notes whether the peer's half is in sync (mirror
    COMPLETE with the peer's ggate ACTIVE) and since which generation it is
    not; the heartbeat publishes it, so a standby knows when its own disk is
    stale. Every worker pass (and cron, each minute) refreshes it."""
    from ..actions.replica import replica_in_sync
    from ..host.observe import get_mirrors, get_mounts
    if ctx.group.storage.kind != "gmirror-ggate":
        return
    try:
        mirrors = get_mirrors(ctx)
        if (mirrors or {}).get(ctx.group.storage.mirror) is None:
            return      # nothing served here: nothing to say about the peer's half
        devices = {fs.device for fs in ctx.group.filesystems}
        if devices and not any(m["device"] in devices for m in get_mounts(ctx)):
            # Assembled but never mounted (a promotion abandoned early):
            # nothing was written here that the peer's half could lack.
            return
        if _served_nothing_yet(ctx):
            # Mounted, but abandoned before any jail started or address was
            # claimed: no client wrote here (fsck's journal replay repairs
            # this half; it is no write the peer's half lacks).
            return
        in_sync, _ = replica_in_sync(ctx, mirrors)
        saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
        since = None if in_sync else (saved.out_of_sync_since_generation
                                      if saved.out_of_sync_since_generation is not None
                                      else max(saved.generation, 1))
        if (saved.replica_in_sync, saved.out_of_sync_since_generation) != (in_sync, since):
            state.save(ctx.config.paths.state_dir,
                       saved.with_changes(replica_in_sync=in_sync, out_of_sync_since_generation=since))
    except (CarphaError, OSError) as error:
        ctx.log.warning(f"{ctx.group.name}: cannot record the replica's state: {error}")


def _served_nothing_yet(ctx) -> bool:
    """Neither a jail nor a service address of the group is up here."""
    from ..host.observe import find_address, get_interfaces, get_running_jails
    if set(ctx.group.jails) & get_running_jails(ctx):
        return False
    interfaces = get_interfaces(ctx)
    return not any(find_address(interfaces, a.ip) for a in ctx.group.addresses)


def _restore_advskew(ctx) -> None:
    """A node serving again drops the advskew an earlier `carpha release`
    raised (handover.RELEASED_ADVSKEW), so the next release or failover
    starts from rc.conf's value."""
    saved = state.load(ctx.config.paths.state_dir, ctx.group.name).saved_advskew
    if saved is None or ctx.dry_run:
        return
    # Pass a unicast peer again: 14.x resets it otherwise (reference 2.2).
    for binding, observed in get_carps(ctx):
        observed = observed or {}
        ctx.change(cmd.carp_advskew(binding.interface, binding.vhid, saved,
                                    peer=observed.get("peer"), peer6=observed.get("peer6")))
    state.save(ctx.config.paths.state_dir,
               state.load(ctx.config.paths.state_dir, ctx.group.name).with_changes(saved_advskew=None))
    ctx.log.info(f"{ctx.group.name}: advskew back to {saved}")


def _end_unanswered_release(ctx) -> None:
    """A release the peer cannot answer ends: when the peer's fresh record
    says it serves nothing and refuses to (CARP handed it the group and it
    yielded: its own half is stale), while our half is current, this node
    drops the advskew the release raised and its mark, so CARP elects it
    again and it serves; else nobody would."""
    from ..safety import witness_view
    from ..safety.splitbrain import reading
    paths = ctx.config.paths
    try:
        saved = state.load(paths.state_dir, ctx.group.name)
        # Released, or its advskew still raised by a release (a promotion
        # abandoned after it cleared the mark never restored it).
        if not (saved.released or saved.saved_advskew is not None) or ctx.dry_run:
            return
        view = witness_view.load_view(paths.run_dir)
        status, fresh, _ = reading(ctx, view, clock.monotonic())
        if status is None or not fresh or status.get("serving") or not status.get("refusing"):
            return
        if stale_replica(view, ctx.group.name, paths.state_dir):
            return
        _restore_advskew(ctx)
        if saved.released:
            state.update(paths.state_dir, ctx.group.name, released=False)
        ctx.log.info(f"{ctx.group.name}: {ctx.peer} let the group go too; this node's release ends")
    except (CarphaError, OSError) as error:
        ctx.log.warning(f"{ctx.group.name}: cannot end the release: {error}")


def _save_state(ctx: Context, role: str, handled_seq: Optional[int], *, applied: bool) -> None:
    try:
        _write_state(ctx, role, handled_seq, applied=applied)
    except OSError as error:
        ctx.log.warning(f"{ctx.group.name}: cannot save state: {error}")


def _write_state(ctx: Context, role: str, handled_seq: Optional[int], *, applied: bool) -> None:
    paths = ctx.config.paths
    current = state.load(paths.state_dir, ctx.group.name)
    changes = {}
    if handled_seq is not None:
        changes["last_event_seq"] = handled_seq
    if applied and current.role != role:
        changes["role"] = role
        if role == transitions.MASTER:
            # A dry run records nothing; a real promotion recorded its role
            # and generation as its intent (_claim_and_intend). Pair-wide:
            # only two promotions that never saw each other can end on the
            # same number (carpha.safety.splitbrain detects that).
            from ..safety.splitbrain import next_generation, peer_status_seen
            changes["generation"] = next_generation(current.generation,
                                                    peer_status_seen(paths.run_dir, ctx.group.name))
            changes["released"] = False
    if applied and role == transitions.MASTER and not ctx.dry_run:
        generation = changes.get("generation", current.generation)
        if current.served_generation != generation:
            changes["served_generation"] = generation
    if changes:
        state.save(paths.state_dir, current.with_changes(**changes))
