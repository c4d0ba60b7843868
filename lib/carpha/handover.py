"""Moving a group by hand: `carpha takeover` / `carpha release`.

CARP is forced first (`ifconfig IF vhid N state master|backup`), then the
worker runs the ordered transition under the group's lock. A forced BACKUP
alone does not last: with net.inet.carp.preempt=1 the preferred node takes
MASTER back as soon as it hears the peer's slower adverts (reference 2.2).
So release also raises the vhid's advskew to 240 (slower than any peer
configured in rc.conf) and records the original in the group's state;
takeover restores it. rc.conf's value returns at the next reboot anyway."""

from __future__ import annotations

from . import state, transitions, worker
from .actions.base import ActionFailed
from .freebsd import commands as cmd
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
    """Force CARP toward `role` and run the transition; returns the worker's
    GroupResult. In a dry run, prints the whole plan instead."""
    paths = ctx.config.paths
    saved = state.load(paths.state_dir, ctx.group.name)
    carp_steps = plan_carp(ctx, role, saved.saved_advskew)
    if ctx.dry_run:
        for argv in carp_steps:
            ctx.change(argv)
        transitions.run(ctx, role)
        return None
    if role == transitions.BACKUP and saved.saved_advskew is None:
        original = current_advskew(ctx)
        if original is not None and original != RELEASED_ADVSKEW:
            state.save(paths.state_dir, saved.with_changes(saved_advskew=original))
    for argv in carp_steps:
        ctx.change(argv)
    if role == transitions.MASTER and saved.saved_advskew is not None:
        state.save(paths.state_dir, state.load(paths.state_dir, ctx.group.name).with_changes(saved_advskew=None))
    result = worker.reconcile_group(ctx)
    if result.role != role:
        raise ActionFailed(f"{ctx.group.name}: CARP did not stay {role} on {ctx.node} (now {result.role})")
    return result
