"""The witness: a lease on storage shared from a third machine, with
self-fencing (the pattern of Pacemaker's sbd and VMware HA datastore
heartbeats; not a new consensus protocol). This module holds the promote
and fence decisions.

Contract:
- Time: decisions take THIS machine's monotonic seconds. The peer is "alive"
  when its counter changes as seen by us (carpha.engine.lease.PeerTracker);
  the two machines' clocks are never compared.
- Decisions are pure functions returning (bool, reason): `may_promote`,
  `must_fence`, `may_promote_ping`. `promote_inputs` and `fence_inputs`
  derive their inputs from the heartbeat's view (carpha.safety.witness_view).
- Reachability of the peer means "answers ping" on both sides (may_promote
  refuses while the peer answers; must_fence needs the peer silent), so the
  two nodes judge each other by the same test.
- The rest of the witness: the record format (carpha.safety.witness_record),
  the record files (carpha.safety.witness_files), the view and published
  status (carpha.safety.witness_view), what the config says about the lease
  and its timing rules (carpha.safety.witness_config), and the heartbeat
  that renews the lease (carpha.engine.lease).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Mapping, Optional, Tuple

from .witness_record import GroupStatus
from .witness_view import VIEW_FILE, View


def _s(seconds: float) -> str:
    return f"{seconds:.1f}"


@dataclass(frozen=True)
class PromoteInputs:
    can_write_own: bool
    peer_silent_for: Optional[float]    # None: never seen since we started watching
    takeover_after: float
    peer_reachable: bool                # the peer answers ping
    watching_for: float = 0.0           # our uptime of watching the share
    own_problem: str = ""               # why we cannot write, when we cannot
    peer: str = "the peer"


def may_promote(i: PromoteInputs) -> Tuple[bool, str]:
    """Take over only when our own record renews (we still reach the
    witness), the peer's record has not advanced for takeover_after seconds
    and the peer does not answer ping."""
    if not i.can_write_own:
        return False, f"witness unreachable: {i.own_problem or 'cannot write our record'}"
    t = f"takeover after {i.takeover_after:g} s"
    if i.peer_silent_for is None:
        if i.watching_for < i.takeover_after:
            return False, f"witness: no record from {i.peer} yet in {_s(i.watching_for)} s of watching ({t})"
        silence = f"no record from {i.peer} in {_s(i.watching_for)} s of watching"
    elif i.peer_silent_for < i.takeover_after:
        return False, f"witness: {i.peer}'s record advanced {_s(i.peer_silent_for)} s ago ({t})"
    else:
        silence = f"{i.peer}'s record has not advanced for {_s(i.peer_silent_for)} s"
    if i.peer_reachable:
        return False, f"witness: {silence}, but {i.peer} answers ping: not taking over from a live peer"
    return True, f"witness: {silence} and {i.peer} does not answer ping ({t})"


@dataclass(frozen=True)
class FenceInputs:
    serving: bool
    own_record_stale_for: float         # since the start of our last successful write
    peer_unreachable_for: float         # since the peer last answered ping
    fence_after: float
    peer: str = "the peer"


def must_fence(i: FenceInputs) -> Tuple[bool, str]:
    """A master that has neither renewed its record nor reached its peer
    for fence_after seconds stops serving: the peer may be about to take
    over. The witness alone being down fences nothing."""
    f = f"fence after {i.fence_after:g} s"
    if not i.serving:
        return False, "not serving: nothing to fence"
    if i.own_record_stale_for < i.fence_after:
        return False, f"witness: our record renewed {_s(i.own_record_stale_for)} s ago ({f})"
    if i.peer_unreachable_for < i.fence_after:
        return False, (f"witness: our record not renewed for {_s(i.own_record_stale_for)} s, but {i.peer}"
                       f" answered ping {_s(i.peer_unreachable_for)} s ago: it will not take over ({f})")
    return True, (f"fencing: our record not renewed for {_s(i.own_record_stale_for)} s and {i.peer}"
                  f" unreachable for {_s(i.peer_unreachable_for)} s ({f})")


def condemned(statuses: Mapping[str, GroupStatus], view: View, now: float,
              fence_after: float) -> List[Tuple[str, str]]:
    """(group, reason) for every serving group must_fence condemns."""
    verdicts = ((group, must_fence(fence_inputs(view, now, status.serving, fence_after)))
                for group, status in statuses.items())
    return [(group, why) for group, (fence, why) in verdicts if fence]


def may_promote_ping(witness_reachable: bool, witness: str = "the witness") -> Tuple[bool, str]:
    """kind ping only guards against promoting while isolated: it cannot
    tell a dead peer from a peer we cannot hear."""
    if witness_reachable:
        return True, f"witness {witness} answers ping"
    return False, f"witness unreachable: {witness} does not answer ping: not promoting while isolated"


def promote_inputs(view: Optional[View], now: float, witness, *,
                   peer_reachable: Optional[bool] = None, run_dir: str = "") -> PromoteInputs:
    """may_promote's inputs from the heartbeat's view at monotonic `now`.
    A view older than 3 intervals (or from before a reboot) is no evidence
    that we can write. `peer_reachable` overrides the view's last probe."""
    max_age = 3 * witness.interval_seconds
    problem = ""
    if view is None:
        problem = f"no heartbeat: no {os.path.join(run_dir, VIEW_FILE)} (is carpha heartbeat running?)"
    elif view.updated > now:
        problem = "no heartbeat: its last view is from before this boot"
    elif now - view.updated > max_age:
        problem = f"no heartbeat: its last view is {_s(now - view.updated)} s old (limit {max_age:g} s)"
    elif not view.own_ok:
        problem = f"cannot write our record in {view.directory}: {view.own_error}"
    if view is None:
        return PromoteInputs(False, None, witness.takeover_after_seconds, bool(peer_reachable),
                             own_problem=problem)
    silent = None if view.peer_changed_at is None else max(0.0, now - view.peer_changed_at)
    reachable = view.peer_reachable if peer_reachable is None else peer_reachable
    return PromoteInputs(can_write_own=not problem, peer_silent_for=silent,
                         takeover_after=witness.takeover_after_seconds, peer_reachable=bool(reachable),
                         watching_for=max(0.0, now - view.started), own_problem=problem, peer=view.peer)


def fence_inputs(view: View, now: float, serving: bool, fence_after: float) -> FenceInputs:
    """must_fence's inputs from the heartbeat's view at monotonic `now`;
    never written or never reached since start counts from the start."""
    written = view.own_written_at if view.own_written_at is not None else view.started
    reached = view.peer_reached_at if view.peer_reached_at is not None else view.started
    return FenceInputs(serving=serving, own_record_stale_for=max(0.0, now - written),
                       peer_unreachable_for=max(0.0, now - reached), fence_after=fence_after, peer=view.peer)
