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
runs second sees the event.

What a pass calls lives beside it: the promotion protocol against the
witness (carpha.engine.promotion), the CARP demotion and its holds
(carpha.engine.holds), letting a group go (carpha.engine.yielding) and
recording the peer's half (carpha.engine.replica_state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from .. import clock
from ..safety import damping, maintenance, vhids
from ..store import journal, state
from . import notify, transitions
from ..actions.base import Abandoned, Context
from ..exits import TEMPFAIL, UNAVAILABLE, CarphaError
from ..store.lock import GROUP_LOCK_WAIT, Lock, LockBusy
from ..host.observe import get_carp_state
from .holds import sync_demotion
from .promotion import _begin_serving, _claim_and_intend, _wait_for_witness, witness_allows
from .replica_state import record_replica
from .yielding import _end_unanswered_release, _release_if_cannot_serve, _restore_advskew, _yield

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

def applied_role(ctx) -> Optional[str]:
    try:
        return state.load(ctx.config.paths.state_dir, ctx.group.name).role
    except CarphaError:
        return None

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
