"""Re-attaching the peer's half of a mirror with back-off.

When the peer's ggate provider disappears (the heartbeat dropped a stalled
half, the standby rebooted, ggated died), the mirror goes on DEGRADED on
the local half alone. Nothing on this node announces the peer's return:
ggated starting there makes no device appear here until `ggatec create`
runs. So the serving node's heartbeat retries, through a worker pass (the
same attach step as every pass, actions/replica.py, under the group lock):
at once when the peer answers again, then after 1, 2, 4, then every 8 s
while it answers and the half is still missing; never while the peer is
silent (each attempt would wait out ggatec's connect timeout) nor while
the group is marked split brain (the attach refuses anyway); cron's minute
stays the fallback. The back-off state lives in the run dir (it is this
boot's: monotonic times), written atomically.

`plan()` is pure; `due()` loads, plans, logs what changed and saves."""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Mapping, Tuple

from ..store.files import ensure_private_dir, read_text, write_atomic

FIRST_SECONDS = 1.0
MAX_SECONDS = 8.0
FILE = "reconnect.json"


def delay(attempts: int) -> float:
    """Seconds to wait after `attempts` attempts (1, 2, 4, 8, 8, ...)."""
    return min(FIRST_SECONDS * 2 ** max(attempts - 1, 0), MAX_SECONDS)


def plan(previous: Mapping[str, dict], detached: Iterable[str], peer_up: bool,
         now: float) -> Tuple[List[str], Dict[str, dict], List[str]]:
    """(groups to attempt now, the new state, one line per change to log).
    `previous`: group -> {"since", "attempts", "next_at", "peer_up"};
    `detached`: the groups served here whose peer half is missing."""
    due, state, notes = [], {}, []
    detached = sorted(set(detached))
    for group in sorted(set(previous) - set(detached)):
        notes.append(f"{group}: the peer's half is attached again after "
                     f"{previous[group].get('attempts', 0)} attempt(s)")
    for group in detached:
        entry = dict(previous.get(group) or {})
        if not entry:
            entry = {"since": now, "attempts": 0, "next_at": now, "peer_up": peer_up}
            notes.append(f"{group}: mirror degraded, the peer's half is gone; retrying the connection "
                         + ("with back-off" if peer_up else "once the peer answers"))
        if peer_up and not entry.get("peer_up"):
            entry.update(attempts=0, next_at=now)        # it came back: try at once
            notes.append(f"{group}: the peer answers again; attaching its half")
        entry["peer_up"] = peer_up
        if peer_up and now >= entry["next_at"]:
            entry["attempts"] += 1
            entry["next_at"] = now + delay(entry["attempts"])
            due.append(group)
        state[group] = entry
    return due, state, notes


def load(run_dir: str) -> Dict[str, dict]:
    """The saved back-off state; unreadable or malformed counts as none
    (the worst that does is an attempt too early)."""
    try:
        text = read_text(os.path.join(run_dir, FILE))
        data = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    good = {}
    for group, entry in data.items():
        if (isinstance(entry, dict) and isinstance(entry.get("attempts"), int)
                and all(isinstance(entry.get(k), (int, float)) for k in ("since", "next_at"))):
            good[group] = {"since": float(entry["since"]), "attempts": entry["attempts"],
                           "next_at": float(entry["next_at"]), "peer_up": bool(entry.get("peer_up"))}
    return good


def due(run_dir: str, detached: Iterable[str], peer_up: bool, now: float, log) -> List[str]:
    """The groups whose half to try attaching now; the state saved."""
    previous = load(run_dir)
    groups, state, notes = plan(previous, detached, peer_up, now)
    for note in notes:
        log.warning(note) if "degraded" in note else log.info(note)
    if state != previous:
        try:
            ensure_private_dir(run_dir)
            write_atomic(os.path.join(run_dir, FILE), json.dumps(state, sort_keys=True))
        except OSError as error:
            log.warning(f"cannot save the reconnect back-off: {error}")
    return groups
