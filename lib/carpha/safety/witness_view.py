"""The heartbeat's view and the status it publishes: `group_statuses` (each
group's status for our record, from its state file) and `View` (what the
heartbeat saw, in `<run_dir>/witness-view.json`).

Contract:
- The heartbeat publishes what it saw (`View`, monotonic seconds) in
  `<run_dir>/witness-view.json`; the worker, another process on the same
  machine, decides from it (CLOCK_MONOTONIC is system-wide).
- `load_view` returns None when there is no view or it is unreadable: either
  way, no evidence that we reach the witness.
- `group_statuses` counts unreadable state as serving (fencing a node that
  serves nothing changes nothing).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Mapping, Optional, Sequence

from ..exits import CarphaError
from ..store.files import ensure_private_dir, write_atomic
from .witness_files import read_bytes
from .witness_record import GroupStatus

VIEW_FILE = "witness-view.json"        # in the run dir: what the heartbeat saw
REFUSING_HOLD = "refusing to serve"   # the demotion hold of a node that refused (yielding._yield)


@dataclass(frozen=True)
class View:
    """What the heartbeat saw, in this machine's monotonic seconds."""
    node: str
    peer: str
    directory: str
    pid: int
    started: float
    updated: float
    own_ok: bool
    own_error: Optional[str]
    own_written_at: Optional[float]       # start of the last successful write
    peer_counter: Optional[int]
    peer_changed_at: Optional[float]
    peer_error: Optional[str]
    peer_reachable: Optional[bool]
    peer_reached_at: Optional[float]
    peer_groups: Optional[Dict[str, Dict]] = None   # the peer's last record's groups

    def peer_status(self, group: str) -> Optional[Dict]:
        """The group's status in the peer's last record read, None if none."""
        status = (self.peer_groups or {}).get(group)
        return status if isinstance(status, dict) else None



def save_view(run_dir: str, view: View) -> None:
    ensure_private_dir(run_dir)
    write_atomic(os.path.join(run_dir, VIEW_FILE), json.dumps(asdict(view), sort_keys=True) + "\n")


def load_view(run_dir: str) -> Optional[View]:
    """The heartbeat's last view, None if there is none or it is unreadable
    (either way: no evidence that we reach the witness)."""
    try:
        data = read_bytes(os.path.join(run_dir, VIEW_FILE))
        return None if data is None else View(**json.loads(data))
    except (OSError, ValueError, TypeError, CarphaError):
        return None



def group_statuses(state_dir: str, groups: Sequence[str],
                   replica_probe: Optional[Callable[[Sequence[str]], Mapping[str, Optional[bool]]]] = None
                   ) -> Dict[str, GroupStatus]:
    """Each group's status from its state file. Unreadable state counts as
    serving (fencing a node that serves nothing changes nothing).
    `replica_probe(groups)` looks at their mirrors now, in one look (per
    group True/False, None when it cannot tell): for a group we serve, a
    replica seen out of sync is published at once, stale since the current
    generation, without waiting for the worker's next pass to record it (the
    worker owns the state, and only it records "in sync" again)."""
    from ..store import state
    from .maintenance import MaintenanceError, read as read_maintenance
    try:
        hold = read_maintenance(state_dir).hold
    except MaintenanceError:
        hold = None
    refusing = hold is not None and hold.startswith(REFUSING_HOLD)
    saved: Dict[str, Optional[object]] = {}
    for name in groups:
        try:
            saved[name] = state.load(state_dir, name)
        except CarphaError:
            saved[name] = None
    # Every served group is looked at, also one already recorded stale: the
    # probe is what finds a stalled half to drop (carpha.safety.replica_drop).
    suspects = [name for name, s in saved.items() if s is not None and s.role == "MASTER"]
    seen = replica_probe(suspects) if suspects and replica_probe is not None else {}
    statuses = {}
    for name, s in saved.items():
        if s is None:
            statuses[name] = GroupStatus(True, 0, False, None)
            continue
        in_sync, since = s.replica_in_sync, s.out_of_sync_since_generation
        if seen.get(name) is False:
            # Stale since the current generation, or since an earlier one
            # already recorded (the peer then lacks writes since that one).
            in_sync, since = False, since if (not in_sync and since is not None) else max(s.generation, 1)
        elif seen.get(name) is True:
            # Both halves ACTIVE now: a peer that must promote before the
            # worker's next pass records it finds its replica good.
            in_sync, since = True, None
        statuses[name] = GroupStatus(
            serving=s.role == "MASTER", generation=s.generation,
            replica_in_sync=in_sync, out_of_sync_since_generation=since,
            released=s.released, refusing=refusing and s.role != "MASTER", served_generation=s.served_generation,
            split_brain=s.split_brain_generation,
            split_brain_resolved=s.split_brain_resolved, disk_cleared_for=s.disk_cleared_for)
    return statuses
