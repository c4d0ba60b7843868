"""carpha's share of the CARP demotion and the holds that keep it raised:
maintenance mode, the boot hold (`boot_hold`, rc.d/carpha_boot) and the
hold of a standby whose half is behind (`update_hold`, ended once
`readiness` says this node could serve with current data)."""

from __future__ import annotations

from typing import NamedTuple

from .. import clock
from ..safety import maintenance
from ..store import state
from . import transitions
from ..safety.boot import BootIdUnknown, boot_id   # the one boot identity (heartbeat, handover: via here)
from ..freebsd import commands as cmd
from .promotion import STALE_HOLD, stale_replica

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
