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

from . import state, transitions, worker
from .actions.base import ActionFailed
from .freebsd import commands as cmd
from .lock import Lock
from .observe import get_interfaces

RELEASED_ADVSKEW = 240


def current_advskew(ctx):
    iface = get_interfaces(ctx).get(ctx.group.carp.interface, {})
    return next((c["advskew"] for c in iface.get("carp", []) if c["vhid"] == ctx.group.carp.vhid), None)


def plan_carp(ctx, role: str, saved_advskew):
    """The CARP commands for a hand-over, in order."""
    carp = ctx.group.carp
    steps = []
    if role == transitions.BACKUP and current_advskew(ctx) != RELEASED_ADVSKEW:
        steps.append(cmd.carp_advskew(carp.interface, carp.vhid, RELEASED_ADVSKEW))
    if role == transitions.MASTER and saved_advskew is not None:
        steps.append(cmd.carp_advskew(carp.interface, carp.vhid, saved_advskew))
    steps.append(cmd.carp_force(carp.interface, carp.vhid, role))
    return steps


def hand_over(ctx, role: str):
    """Move the group by hand; returns the worker's GroupResult (None in a
    dry run, which prints the whole plan instead).

    Release lets go *before* handing CARP over, under the group's lock: the
    peer promotes as soon as CARP moves, and must never find our jails
    running or the mirror still mounted here. Takeover forces CARP first
    (the peer lets go on its BACKUP event) and then runs the worker."""
    paths = ctx.config.paths
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
        for argv in carp_steps:
            ctx.change(argv)
        if saved.saved_advskew is not None:
            state.save(paths.state_dir, saved.with_changes(saved_advskew=None))
        result = worker.reconcile_group(ctx, automatic=False)
        if result.role != role:
            raise ActionFailed(f"{ctx.group.name}: CARP did not stay MASTER on {ctx.node} (now {result.role})")
        return result
    with Lock(paths.run_dir, ctx.group.name, purpose="release").acquire(timeout=worker.GROUP_LOCK_WAIT):
        outcomes = transitions.run(ctx, role)
        if saved.saved_advskew is None:
            original = current_advskew(ctx)
            if original is not None and original != RELEASED_ADVSKEW:
                state.save(paths.state_dir, saved.with_changes(saved_advskew=original))
        for argv in carp_steps:
            ctx.change(argv)
        current = state.load(paths.state_dir, ctx.group.name)
        state.save(paths.state_dir, current.with_changes(role=role))
    return worker.GroupResult(ctx.group.name, role, any(o.changed for o in outcomes), 1)
