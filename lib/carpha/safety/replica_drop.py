"""Dropping the peer's half of a mirror on purpose (DRBD's fence-peer:
mark the peer outdated, then go on alone).

carpha runs ggatec without -t, so a write to a dead or unreachable peer is
never failed by ggate: it waits in the ggate queue, and the jail that issued
it waits with it. The serving node's heartbeat watches that queue
(`ggatec list -v`, `queue_count`: requests queued or sent and not yet
answered, sys/geom/gate/g_gate.c g_gate_queue_io() and the G_GATE_CMD_DONE
ioctl, @37d84eaa, 13.x). A half whose queue has stayed non-empty at every
beat for `storage.ggate.drop_after_seconds` is *stalled*:
1. the heartbeat publishes the peer's replica as out of date in this node's
   witness record, and that write is this node's lease renewal: if the
   write fails, nothing is dropped (the writes keep waiting, and the node
   fences itself if it has lost the witness and the peer);
2. only after that write landed, `ggatec destroy -f` cancels the queued
   requests with ENXIO (g_gate_destroy()); gmirror disconnects the half,
   bumps syncid, and the waiting writes complete on the local half
   (reference 5.2). The peer, reading the record before it could promote,
   refuses its outdated disk.
So an acknowledged write is on the peer's disk, or the peer knows its disk
is outdated, whatever the ggate timing.

`stalled()` is pure; `StallWatch` keeps the since-when per unit between
beats; `drop()` runs the one forced command, capped."""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Set

from ..freebsd import commands as cmd
from ..host.runner import CommandError


def stalled(waiting_since: Mapping[int, float], units: Mapping[str, int], now: float,
            drop_after: Mapping[str, float]) -> Set[str]:
    """The groups (of `units`: group -> ggate unit) whose unit has had
    requests waiting since at least drop_after[group] seconds before `now`."""
    return {group for group, unit in units.items()
            if unit in waiting_since and now - waiting_since[unit] >= drop_after[group]}


class StallWatch:
    """Since when each ggate unit's queue has been non-empty at every look."""

    def __init__(self) -> None:
        self.waiting_since: Dict[int, float] = {}

    def look(self, devices: Optional[Iterable[dict]], now: float) -> None:
        """`devices`: parsed `ggatec list -v`; None (unreadable) forgets all:
        no evidence, no drop."""
        if devices is None:
            self.waiting_since = {}
            return
        busy = {d["unit"] for d in devices if (d.get("queue_count") or 0) > 0}
        self.waiting_since = {unit: self.waiting_since.get(unit, now) for unit in busy}


def to_drop(stalled_groups: Iterable[str], published: Mapping[str, object], written: bool) -> List[str]:
    """The stalled groups whose half may go now: this beat's record was
    written, and it says we serve the group with its replica out of date."""
    if not written:
        return []
    return sorted(g for g in stalled_groups
                  if g in published and published[g].serving and not published[g].replica_in_sync)


def _record_outdated(state_dir: str, group: str, log) -> None:
    """What was just published stays true in the state file, so the record
    never says "in sync" again (once this node stops serving, the heartbeat
    publishes the state's word) until both halves are ACTIVE again."""
    from ..store import state
    from ..exits import CarphaError
    try:
        saved = state.load(state_dir, group)
        if saved.replica_in_sync or saved.out_of_sync_since_generation is None:
            state.save(state_dir, saved.with_changes(
                replica_in_sync=False, out_of_sync_since_generation=saved.out_of_sync_since_generation
                or max(saved.generation, 1)))
    except (CarphaError, OSError) as error:
        log.error(f"{group}: cannot record the peer's half outdated in the state: {error}")


def drop(config, groups: Iterable[str], runner, log, timeout: float) -> List[str]:
    """`ggatec destroy -f` of each group's ggate unit; never raises. Only
    call it once this node's record saying the replica is outdated was
    written (see the module docstring). Returns one line per command."""
    lines = []
    for name in groups:
        group = config.groups[name]
        _record_outdated(config.paths.state_dir, name, log)
        argv = cmd.ggatec_destroy(group.storage.ggate.unit, force=True)
        try:
            result = runner.change(argv, timeout=timeout, check=False)
            line = f"{' '.join(argv)}: exit {result.returncode}"
        except CommandError as error:
            line = str(error)
        log.error(f"{name}: the peer's half stopped answering; recorded it out of date, then dropped it: {line}")
        lines.append(line)
    return lines
