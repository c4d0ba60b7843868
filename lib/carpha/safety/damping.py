"""Flap damping: a group whose CARP role changed more than `flap_limit` times
within `flap_window_seconds` is held as it is (no automatic action) until
the storm passes, and a fresh MASTER is re-checked after `settle_seconds`
before storage is touched. A flapping link must not bounce a mirror and
its fsck back and forth.

Contract:
- The pure core works on a list of wall-clock timestamps: a transition is in
  the window when `now - window < t <= now`, so one exactly `window` seconds
  old is outside, and one stamped in the future (the clock was stepped back)
  counts for nothing: it must not hold a group for as long as the step.
- Each group's history is `<state_dir>/<group>.transitions.json` (JSON with a
  schema version, written atomically), pruned to the window and to at most
  MAX_KEPT entries on every write, so it stays a few hundred bytes.
- An unreadable history damps nothing (failover must not hang on its own
  bookkeeping); the next record_transition() moves it aside to `.unreadable`
  and starts afresh.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Iterable, List, Optional, Tuple

from .. import clock
from ..config import GROUP_NAME, MAX_FLAP_LIMIT, Damping
from ..exits import DATAERR, CarphaError
from ..store.files import ensure_private_dir, read_text, write_atomic

SCHEMA = 1
# More than any valid flap_limit, so should_hold() is exact.
MAX_KEPT = MAX_FLAP_LIMIT + 1
DEFAULT_WINDOW = Damping().flap_window_seconds


class DampingError(CarphaError):
    exit_code = DATAERR


# --- the pure core --------------------------------------------------------------


def in_window(t: float, now: float, window: float) -> bool:
    return now - window < t <= now


def count_in_window(times: Iterable[float], now: float, window: float) -> int:
    return sum(1 for t in times if in_window(t, now, window))


def should_hold(times: Iterable[float], now: float, limit: int, window: float) -> bool:
    """True when more than `limit` transitions fall in the window."""
    return count_in_window(times, now, window) > limit


def prune(entries: List[Tuple[float, str]], now: float, window: float,
          keep: int = MAX_KEPT) -> List[Tuple[float, str]]:
    """The (time, role) entries still in the window, newest `keep` of them."""
    kept = [e for e in entries if in_window(e[0], now, window)]
    return kept[-keep:] if keep > 0 else []


def describe(group: str, count: int, limit: int, window: float) -> str:
    return (f"{group}: {count} transitions in the last {window:g} s (limit {limit}):"
            " holding the group as it is")


# --- the history file -------------------------------------------------------------


def path_for(state_dir: str, group: str) -> str:
    # Group names come from the config, but this name becomes a path.
    if not GROUP_NAME.fullmatch(group):
        raise ValueError(f"{group!r} is not a valid group name")
    return os.path.join(state_dir, f"{group}.transitions.json")


def load(state_dir: str, group: str) -> Tuple[Optional[str], List[Tuple[float, str]]]:
    """(last role recorded, [(time, role), ...] oldest first); DampingError
    when the file cannot be read."""
    path = path_for(state_dir, group)
    text = read_text(path)
    if text is None:
        return None, []
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"schema is not {SCHEMA}")
        entries = [(float(t), str(role)) for t, role in data["transitions"]]
        last = data.get("last_role")
        return (None if last is None else str(last)), entries
    except (ValueError, TypeError, KeyError) as error:
        raise DampingError(f"{path}: unreadable transition history: {error}") from None


def record_transition(state_dir: str, group: str, role: str, now: float, *,
                      window: float = DEFAULT_WINDOW, keep: int = MAX_KEPT) -> bool:
    """Append a transition to `role` at `now`, pruned to `window` (pass the
    configured flap_window_seconds). The same role as the last one recorded is
    not a transition (a re-run after a crash must not count twice): returns
    False and writes nothing."""
    path = path_for(state_dir, group)
    ensure_private_dir(state_dir)
    try:
        last, entries = load(state_dir, group)
    except DampingError:
        os.replace(path, path + ".unreadable")
        last, entries = None, []
    if role == last:
        return False
    entries = prune(entries + [(now, role)], now, window, keep)
    data = {"schema": SCHEMA, "group": group, "last_role": role,
            "transitions": [[t, r] for t, r in entries]}
    write_atomic(path, json.dumps(data, sort_keys=True) + "\n")
    return True


def is_damped(state_dir: str, group: str, limit: int, window: float, now: float) -> Optional[str]:
    """The one-line reason to hold `group`, or None."""
    try:
        _, entries = load(state_dir, group)
    except DampingError:
        return None
    times = [t for t, _ in entries]
    if not should_hold(times, now, limit, window):
        return None
    return describe(group, count_in_window(times, now, window), limit, window)


# --- settling -------------------------------------------------------------------


def settle(check_role: Callable[[], bool], seconds: float, sleep: Callable[[float], None] = clock.sleep) -> bool:
    """Wait `seconds`, then whether `check_role()` still holds: a MASTER that
    lasts only a moment (CARP preempted back, a link blip) is not worth
    moving storage for."""
    sleep(seconds)
    return bool(check_role())
