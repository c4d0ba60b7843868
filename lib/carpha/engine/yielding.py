"""Letting a group go to the peer without tearing anything down: a node
that refuses to promote yields CARP (`_yield`), a multi-vhid group that
cannot be served here is released (`_release_if_cannot_serve`), and a
release the peer cannot answer ends (`_end_unanswered_release`,
`_restore_advskew`)."""

from __future__ import annotations

from .. import clock
from ..safety import maintenance, vhids
from ..store import state
from . import transitions
from ..exits import CarphaError
from ..freebsd import commands as cmd
from ..host.observe import get_carp_state, get_carps
from .holds import apply_demotion, boot_id
from .promotion import STALE_HOLD, stale_replica

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
