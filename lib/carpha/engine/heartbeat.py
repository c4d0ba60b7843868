"""`carpha heartbeat`: the long-running loop that renews this node's
witness lease every interval, publishes the view for the worker, drops a
stalled peer half and fences the groups that must stop serving. The
records, the view and the decisions it acts on are carpha.safety.witness
(and its witness_* modules); the lease renewal is carpha.engine.lease."""

from __future__ import annotations

import os
import sys
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from .. import clock
from ..exits import OK, CarphaError
from ..safety.watchdog import start_petter, unusable
from ..safety.witness import condemned
from ..safety.witness_config import leased_groups, peer_of
from ..safety.witness_files import describe_error
from ..safety.witness_record import GroupStatus
from ..safety.witness_view import group_statuses, save_view
from .lease import Beat, Heartbeat, is_reachable


def replica_probe_for(config, node: str, runner, log, timeout: float):
    """A replica_probe reading `gmirror list` and `ggatec list -v` once per
    call, each capped at `timeout` (a beat must stay inside one interval,
    however many groups). A half whose ggate queue has stalled counts as
    out of sync, and `probe.stalled` names those groups for
    replica_drop (dropped once this beat's record says so)."""
    from ..actions.base import Context
    from ..actions.replica import replica_in_sync
    from ..host.observe import get_ggate_devices, get_mirrors
    from ..safety.replica_drop import StallWatch, stalled

    class Quick(Context):
        def seconds(self, timeout_class) -> float:
            return min(timeout, super().seconds(timeout_class))

    watch = StallWatch()

    def probe(groups: Sequence[str]) -> Dict[str, Optional[bool]]:
        probe.stalled, probe.detached = set(), set()
        contexts = {name: Quick(config, config.groups[name], node, runner, log) for name in groups
                    if config.groups[name].storage.kind == "gmirror-ggate"}
        if not contexts:
            return {}
        first = next(iter(contexts.values()))
        try:
            mirrors = get_mirrors(first)
        except (CarphaError, OSError):
            return {}
        try:
            devices = get_ggate_devices(first)
        except (CarphaError, OSError):
            devices = None
        now = clock.monotonic()
        if devices is not None:      # served here (mirror running), the peer's unit missing
            units = {d["unit"] for d in devices}
            probe.detached = {n for n in contexts if config.groups[n].storage.mirror in (mirrors or {})
                              and config.groups[n].storage.ggate.unit not in units}
        watch.look(devices, now)
        probe.stalled = stalled(watch.waiting_since,
                                {n: config.groups[n].storage.ggate.unit for n in contexts}, now,
                                {n: config.groups[n].storage.ggate.drop_after_seconds for n in contexts})
        return {name: replica_in_sync(ctx, mirrors)[0] and name not in probe.stalled
                for name, ctx in contexts.items()}
    probe.stalled, probe.detached = set(), set()
    return probe


def reattach_due(config, probe, statuses: Mapping[str, GroupStatus], peer_reachable, now: float, log) -> List[str]:
    """The groups whose missing peer half to try attaching now (a worker
    pass), by carpha.safety.reconnect's back-off; not a group marked split brain
    (nothing touches the peer's disk then)."""
    from ..safety import reconnect
    detached = [g for g in probe.detached if g in statuses and statuses[g].serving
                and statuses[g].split_brain is None]
    return reconnect.due(config.paths.run_dir, detached, bool(peer_reachable), now, log)


def main_loop(config, node: str, *, beats: Optional[int] = None, runner=None, log=None,
              on_fence: Optional[Callable[[List[str], str], None]] = None,
              statuses: Optional[Callable[[], Mapping[str, GroupStatus]]] = None,
              require_mount: bool = True) -> int:
    """`carpha heartbeat`: renew `node`'s lease every interval, publish the
    view for the worker, and call `on_fence(groups, reason)` once per beat
    with the serving groups must_fence condemns (again every beat until
    they stop serving); by default that fences them together (carpha.engine.fence,
    whose bound counts `mount -p` and the demotion once). `beats` bounds
    the loop (tests); None runs forever. Returns an exit code."""
    import logging
    from . import fence
    from ..safety import replica_drop
    from ..store.lock import Lock
    from ..host.runner import Runner
    from .holds import boot_id, note_boot

    log = log or logging.getLogger("carpha")
    w = config.witness
    if w.kind != "lease":
        log.info(f"heartbeat: witness kind {w.kind} keeps no lease; nothing to do")
        return OK
    peer = peer_of(config, node)
    mine = [g.name for g in leased_groups(config, node)]
    runner = runner or Runner(path=config.paths.command_path, logger=log)
    address = config.nodes[peer].address
    io_timeout = w.interval_seconds / 2      # a beat (I/O and ping together) fits in an interval
    probe = None
    if statuses is None:
        # Capped so a beat (this probe, then the share I/O and the ping side
        # by side) stays well inside one interval, as the fencing bound assumes.
        probe = replica_probe_for(config, node, runner, log, io_timeout / 4)

        def statuses() -> Dict[str, GroupStatus]:
            return group_statuses(config.paths.state_dir, mine, probe)
    try:
        boot = boot_id(runner, config)      # once: a fence must not wait on extra queries
        note_boot(config, boot, log)        # publish no role from before a reboot
    except CarphaError as error:
        # Unknown: a fence then always adds its demotion (too much is safe).
        log.warning(f"heartbeat: cannot tell this boot apart: {error}")
        boot = f"unknown-{os.getpid()}-{clock.monotonic()}"
    if on_fence is None:
        def on_fence(groups: List[str], reason: str) -> None:
            fence.fence(config, node, groups, runner, log, reason=reason, boot=boot)
    heartbeat = Heartbeat(w.path, node, peer, config.paths.state_dir, groups=statuses,
                          probe_peer=lambda timeout: is_reachable(runner, address, timeout),
                          io_timeout=io_timeout, require_mount=require_mount)
    said: Dict[str, Optional[str]] = {}
    petter = [None]                         # the watchdog's petter, once the lock is held

    def tell(key: str, message: Optional[str], level=logging.WARNING) -> None:
        # Log changes, not every beat.
        if said.get(key) != message:
            said[key] = message
            if message:
                log.log(level, message)

    def after(beat: Beat) -> None:
        now = clock.monotonic()
        view = heartbeat.view(now)
        try:
            save_view(config.paths.run_dir, view)
        except (OSError, CarphaError) as error:
            tell("view", f"heartbeat: cannot publish the view: {describe_error(error)}")
        tell("own", None if beat.own_ok else f"witness: cannot write our record in {w.path}: {beat.own_error}")
        tell("peer", beat.peer_error and f"witness: {peer}: {beat.peer_error}")
        tell("notes", beat.notes and "witness: " + "; ".join(beat.notes))
        if probe is not None:
            halves = replica_drop.to_drop(probe.stalled, heartbeat.statuses, beat.own_ok)
            if halves:
                replica_drop.drop(config, halves, runner, log, io_timeout / 2)
            if reattach_due(config, probe, heartbeat.statuses, beat.peer_reachable, now, log):
                from ..host.runner import spawn_detached
                spawn_detached([sys.executable, "-m", "carpha", "-c", config.path, "reconcile"])
        doomed = condemned(heartbeat.statuses, view, now, w.fence_after_seconds)
        doomed += [d for d in unusable(petter[0], heartbeat.statuses) if d[0] not in dict(doomed)]
        for group, reason in doomed:
            log.error(f"{group}: {reason}")
        if doomed:
            on_fence([group for group, _ in doomed], doomed[0][1])

    with Lock(config.paths.run_dir, "heartbeat", purpose="heartbeat"):
        if getattr(config, "watchdog", None) is not None:     # this process owns /dev/fido
            petter[0] = start_petter(config, heartbeat, runner, log)
        heartbeat.run(w.interval_seconds, max_beats=beats, on_beat=after)
    return OK
