"""The lease renewal: `Heartbeat` renews our witness record and watches the
peer's (`PeerTracker`), and `is_reachable` pings the peer.

Contract:
- Share I/O runs in a helper thread bounded by `io_timeout`: NFS mounts are
  hard by default and a hung call would otherwise stop the loop that must
  decide to fence. mount_nfs(8): "any new or outstanding file operations on
  that file system will hang uninterruptibly until the server comes back".
- The peer is "alive" when its counter changes as seen by us, on OUR
  monotonic clock; the two machines' clocks are never compared.
- `view()` is what the heartbeat saw (carpha.safety.witness_view.View); the
  decisions taken from it are carpha.safety.witness. `carpha heartbeat`'s
  loop is carpha.engine.heartbeat.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from .. import clock
from ..exits import CarphaError
from ..store.files import UnsafePath
from ..freebsd.commands import ping as ping_argv  # noqa: F401  (re-exported for callers)
from ..safety.witness_files import (check_mounted, describe_error, read_local_counter, read_record,
                                    save_local_copy, write_record)
from ..safety.witness_record import GroupStatus, Record, RecordError, record_path
from ..safety.witness_view import View


class PeerTracker:
    """The peer's counter and OUR monotonic time when we last saw it change.
    The first sighting counts as a change: how old the record is we cannot
    know without trusting the peer's wall clock. Any change counts, a lower
    number too (a peer whose state was lost): it shows a live writer."""

    def __init__(self, started: float):
        self.started = started                  # when we began watching
        self.counter: Optional[int] = None
        self.changed_at: Optional[float] = None

    def observe(self, counter: Optional[int], now: float) -> bool:
        """Record a reading (None: missing or garbled); True if it advanced."""
        if counter is None or counter == self.counter:
            return False
        self.counter, self.changed_at = counter, now
        return True

    def peer_silent_for(self, now: float) -> Optional[float]:
        """Seconds since the peer's counter last advanced, None if never seen."""
        return None if self.changed_at is None else max(0.0, now - self.changed_at)

    def watching_for(self, now: float) -> float:
        return max(0.0, now - self.started)



def is_reachable(runner, address, timeout: float) -> bool:
    """True if `address` answers one ping within `timeout` seconds."""
    from ..host.runner import CommandError
    try:
        return runner.query(ping_argv(address, timeout), timeout=timeout, check=False).returncode == 0
    except CommandError:       # timed out or no ping: not reachable
        return False



@dataclass(frozen=True)
class Beat:
    own_ok: bool
    own_error: Optional[str]
    peer_counter: Optional[int]           # the last valid counter we have seen
    peer_silent_for: Optional[float]
    counter: Optional[int] = None         # what we wrote (when own_ok)
    peer_error: Optional[str] = None      # unreadable or garbled peer record
    peer_reachable: Optional[bool] = None   # None: no probe configured
    peer_record: Optional[Record] = None
    notes: Tuple[str, ...] = ()           # local copy trouble, our own garbled record



class _Job:
    """Share I/O in a daemon thread: a call stuck on a hard NFS mount cannot
    be interrupted, but it can be left behind."""

    def __init__(self, work: Callable[[dict], None], started: float):
        self.progress: dict = {}
        self.started = started
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(work,), name="carpha-witness-io", daemon=True)
        self.thread.start()

    def _run(self, work) -> None:
        try:
            work(self.progress)
        except BaseException as error:       # reported by the beat
            self.progress.setdefault("own_error", describe_error(error))
        finally:
            self.done.set()


class Heartbeat:
    """Renews `node`'s record in `directory` and watches `peer`'s.

    `groups()` returns the per-group status to publish; `probe_peer(timeout)`
    returns whether the peer answers (None: no probe, the peer counts as
    unreachable). Each beat waits at most `io_timeout` seconds for the share;
    while an earlier call is still stuck no new one is started."""

    def __init__(self, directory: str, node: str, peer: str, state_dir: str, *,
                 groups: Optional[Callable[[], Mapping[str, GroupStatus]]] = None,
                 probe_peer: Optional[Callable[[float], bool]] = None,
                 io_timeout: float = 1.0, require_mount: bool = True,
                 started: Optional[float] = None):
        self.directory, self.node, self.peer, self.state_dir = directory, node, peer, state_dir
        self.groups = groups or (lambda: {})
        self.probe_peer = probe_peer
        self.io_timeout = io_timeout
        self.require_mount = require_mount
        self.started = clock.monotonic() if started is None else started
        self.tracker = PeerTracker(self.started)
        self.last_counter = 0                  # highest counter we know we wrote
        self.own_ok = False
        self.own_error: Optional[str] = None
        self.own_written_at: Optional[float] = None
        self.peer_error: Optional[str] = None
        self.peer_reachable: Optional[bool] = None
        self.peer_reached_at: Optional[float] = None
        self.statuses: Dict[str, GroupStatus] = {}     # as published by the last beat
        self.peer_groups: Optional[Dict[str, Dict]] = None
        self._job: Optional[_Job] = None

    # -- one beat

    def _share_io(self, statuses: Dict[str, GroupStatus], progress: dict) -> None:
        notes: List[str] = []
        progress["notes"] = notes
        try:
            if self.require_mount:
                check_mounted(self.directory, self.state_dir)
            own = local = None
            try:
                own = read_record(self.directory, self.node)
            except RecordError as error:       # ours, garbled: overwrite it
                notes.append(str(error))
            try:
                local = read_local_counter(self.state_dir, self.node)
            except (RecordError, OSError, UnsafePath) as error:
                notes.append(f"local copy: {describe_error(error)}")
            counter = max(self.last_counter, own.counter if own else 0, local or 0) + 1
            record = Record(self.node, counter, dict(statuses), clock.now())
            write_record(self.directory, record)
            progress["written"] = counter
            try:
                save_local_copy(self.state_dir, record)
            except (OSError, CarphaError) as error:
                notes.append(f"local copy: {describe_error(error)}")
        except Exception as error:
            progress["own_error"] = describe_error(error)
        try:
            progress["peer"] = read_record(self.directory, self.peer)
        except Exception as error:
            progress["peer_error"] = describe_error(error)
        progress["peer_done"] = True

    def beat(self) -> Beat:
        """Write our record (counter + 1), read the peer's, probe the peer."""
        began = clock.monotonic()
        statuses = self.statuses = dict(self.groups())
        job = None
        if self._job is not None and self._job.done.is_set():
            # A write that finished after its beat gave up on it still counts.
            self.last_counter = max(self.last_counter, self._job.progress.get("written", 0))
        if self._job is not None and not self._job.done.is_set():
            progress = {"own_error": f"witness I/O blocked for {began - self._job.started:.1f} s"}
        else:
            job = self._job = _Job(lambda p: self._share_io(statuses, p), began)
        # The ping runs while the thread does the share I/O.
        if self.probe_peer is not None:
            self.peer_reachable = bool(self.probe_peer(self.io_timeout))
            if self.peer_reachable:
                self.peer_reached_at = clock.monotonic()
        if job is not None:
            job.done.wait(max(0.0, self.io_timeout - (clock.monotonic() - began)))
            progress = dict(job.progress)   # a late thread may still fill in the original
            if not job.done.is_set() and "written" not in progress:
                progress.setdefault("own_error", f"timed out after {self.io_timeout:g} s")
        now = clock.monotonic()

        if "written" in progress:
            self.last_counter = progress["written"]
            # From the write's start: the peer may see it as soon as it lands.
            self.own_ok, self.own_error, self.own_written_at = True, None, began
        else:
            self.own_ok = False
            self.own_error = progress.get("own_error", "no result")
        peer_record = progress.get("peer")
        if "peer_error" in progress:
            self.peer_error = progress["peer_error"]
        elif progress.get("peer_done"):
            self.peer_error = None if peer_record else f"no record {record_path(self.directory, self.peer)}"
        else:
            self.peer_error = "not read (witness I/O did not finish)"
        # Seen at `now`, after the read: the later time errs toward "the
        # peer advanced recently", away from taking over.
        self.tracker.observe(peer_record.counter if peer_record else None, now)
        if peer_record is not None:
            self.peer_groups = {g: asdict(st) for g, st in peer_record.groups.items()}
        return Beat(
            own_ok=self.own_ok, own_error=self.own_error,
            peer_counter=self.tracker.counter, peer_silent_for=self.tracker.peer_silent_for(now),
            counter=self.last_counter if self.own_ok else None, peer_error=self.peer_error,
            peer_reachable=self.peer_reachable if self.probe_peer is not None else None,
            peer_record=peer_record, notes=tuple(progress.get("notes", ())))

    def run(self, interval: float, stop_after: Optional[float] = None, *,
            max_beats: Optional[int] = None, on_beat: Optional[Callable[[Beat], None]] = None) -> int:
        """Beat every `interval` seconds until `stop_after` seconds have
        passed or `max_beats` beats ran (both None: forever). Returns the
        number of beats."""
        start = clock.monotonic()
        beats = 0
        while True:
            began = clock.monotonic()
            if stop_after is not None and began - start >= stop_after:
                return beats
            beat = self.beat()
            beats += 1
            if on_beat is not None:
                on_beat(beat)
            if max_beats is not None and beats >= max_beats:
                return beats
            wait = interval - (clock.monotonic() - began)
            if stop_after is not None:
                wait = min(wait, start + stop_after - clock.monotonic())
            clock.sleep(wait)

    # -- what it saw, for decisions

    def view(self, now: Optional[float] = None) -> View:
        now = clock.monotonic() if now is None else now
        return View(node=self.node, peer=self.peer, directory=self.directory, pid=os.getpid(),
                    started=self.started, updated=now, own_ok=self.own_ok, own_error=self.own_error,
                    own_written_at=self.own_written_at, peer_counter=self.tracker.counter,
                    peer_changed_at=self.tracker.changed_at, peer_error=self.peer_error,
                    peer_reachable=self.peer_reachable, peer_reached_at=self.peer_reached_at,
                    peer_groups=self.peer_groups)
