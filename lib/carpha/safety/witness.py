"""The witness: a lease on storage shared from a third machine, with
self-fencing (the pattern of Pacemaker's sbd and VMware HA datastore
heartbeats; not a new consensus protocol).

Contract:
- Records: `<path>/<node>.json` on the share both nodes mount from the
  witness (NFS from serverC). Written atomically (temp file in the same
  directory, fsync, rename; O_NOFOLLOW, see carpha.store.files) and read afresh
  every time (open/read/close: NFS close-to-open consistency; never cached).
  A record holds a schema version, the node, `counter` (each write is the
  previous + 1; resumed from our record on the share or, if the share lost
  it, from a local copy in the state dir), per-group status, and `written_at`
  (wall clock, for humans only: no decision ever reads it).
- Time: decisions take THIS machine's monotonic seconds. The peer is "alive"
  when its counter changes as seen by us (`PeerTracker`); the two machines'
  clocks are never compared.
- Decisions are pure functions returning (bool, reason): `may_promote`,
  `must_fence`, `may_promote_ping`; config checks `witness_timing_problems`
  and `witness_warnings` return message lists.
- Reachability of the peer means "answers ping" on both sides (may_promote
  refuses while the peer answers; must_fence needs the peer silent), so the
  two nodes judge each other by the same test.
- `Heartbeat` renews our record and watches the peer's. Share I/O runs in a
  helper thread bounded by `io_timeout`: NFS mounts are hard by default and
  a hung call would otherwise stop the loop that must decide to fence.
  mount_nfs(8): "any new or outstanding file operations on that file system
  will hang uninterruptibly until the server comes back".
- The heartbeat publishes what it saw (`View`, monotonic seconds) in
  `<run_dir>/witness-view.json`; the worker, another process on the same
  machine, decides from it (CLOCK_MONOTONIC is system-wide).

Why fence_after + interval + worst-case fencing < takeover_after keeps one
master: let T be the start of our last successful write. The peer cannot see
that counter before T, so it promotes no earlier than T + takeover_after on
its clock. We count staleness from T on ours, check once per beat (at most
`interval` late: a beat's I/O and ping are bounded by io_timeout < interval)
and finish fencing by T + fence_after + interval + F, F being the sum of the
fencing steps' timeouts. The two monotonic clocks only need the same rate
(they agree to parts per million). A kernel too wedged to run the fencing
steps needs a hardware watchdog (watchdogd(8)); that is outside this module.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import threading
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .. import clock
from ..exits import CONFIG, DATAERR, CarphaError
from ..store.files import UnsafePath, ensure_private_dir, open_nofollow, write_atomic
from ..freebsd.commands import ping as ping_argv  # noqa: F401  (re-exported for callers)

SCHEMA = 1
LOCAL_COPY = "witness-record.json"     # in the state dir: our last record
VIEW_FILE = "witness-view.json"        # in the run dir: what the heartbeat saw
MAX_RECORD_BYTES = 65536
REFUSING_HOLD = "refusing to serve"   # the demotion hold of a node that refused (worker._yield)
NONE_WARNING = "witness.kind: none: two masters are possible when the nodes cannot hear each other"


class RecordError(CarphaError):
    """A record that cannot be used (not JSON, wrong schema, wrong types)."""
    exit_code = DATAERR


# --- records ------------------------------------------------------------------


@dataclass(frozen=True)
class GroupStatus:
    serving: bool
    generation: int
    replica_in_sync: bool
    out_of_sync_since_generation: Optional[int] = None
    released: bool = False          # let go on purpose (carpha release / switchover)
    refusing: bool = False          # CARP handed it the group and it refused (demotion held)
    served_generation: Optional[int] = None      # the last generation it served (None: an older writer)
    split_brain: Optional[int] = None            # carpha.safety.splitbrain: the generation marked
    split_brain_resolved: Optional[int] = None   # the highest split brain this node resolved
    disk_cleared_for: Optional[int] = None       # the resolved split brain this node blanked its disk for


@dataclass(frozen=True)
class Record:
    node: str
    counter: int
    groups: Dict[str, GroupStatus] = field(default_factory=dict)
    written_at: float = 0.0             # wall clock, for humans only


def record_path(directory: str, node: str) -> str:
    # Node names are validated by config (no '/', no leading '.'); check
    # again because the name becomes a path on a shared directory.
    if not node or "/" in node or node.startswith("."):
        raise ValueError(f"{node!r} is not a node name")
    return os.path.join(directory, f"{node}.json")


def encode_record(record: Record) -> str:
    data = {"schema": SCHEMA, **asdict(record)}
    return json.dumps(data, sort_keys=True) + "\n"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def parse_record(text: str, source: str, node: Optional[str] = None) -> Record:
    """Validate a record's text; RecordError names `source` and what is wrong.
    Unknown keys are ignored: a newer writer may add some, and a record read
    as garbled counts as 'not advanced'."""
    def bad(why: str) -> RecordError:
        return RecordError(f"{source}: garbled record: {why}")

    try:
        data = json.loads(text)
    except ValueError as error:
        raise bad(f"not JSON ({error})") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    if data.get("schema") != SCHEMA:
        raise bad(f"schema {data.get('schema')!r} is not {SCHEMA}")
    name = data.get("node")
    if not isinstance(name, str) or (node is not None and name != node):
        raise bad(f"node {name!r} is not {node!r}")
    counter = data.get("counter")
    if not _is_int(counter) or counter < 0:
        raise bad(f"counter {counter!r} is not a non-negative integer")
    written_at = data.get("written_at")
    if not _is_number(written_at):
        raise bad(f"written_at {written_at!r} is not a number")
    groups = data.get("groups")
    if not isinstance(groups, dict):
        raise bad("groups is not an object")
    parsed: Dict[str, GroupStatus] = {}
    for group, value in groups.items():
        if not isinstance(value, dict):
            raise bad(f"groups.{group} is not an object")
        serving, generation = value.get("serving"), value.get("generation")
        in_sync, since = value.get("replica_in_sync"), value.get("out_of_sync_since_generation")
        if not isinstance(serving, bool):
            raise bad(f"groups.{group}.serving {serving!r} is not a boolean")
        if not _is_int(generation) or generation < 0:
            raise bad(f"groups.{group}.generation {generation!r} is not a non-negative integer")
        if not isinstance(in_sync, bool):
            raise bad(f"groups.{group}.replica_in_sync {in_sync!r} is not a boolean")
        if since is not None and not _is_int(since):
            raise bad(f"groups.{group}.out_of_sync_since_generation {since!r} is not an integer or null")
        flags = {}
        for key in ("released", "refusing"):             # absent: False (an older writer)
            flags[key] = value.get(key, False)
            if not isinstance(flags[key], bool):
                raise bad(f"groups.{group}.{key} {flags[key]!r} is not a boolean")
        marks = {}
        for key in ("split_brain", "split_brain_resolved", "disk_cleared_for",
                    "served_generation"):                 # absent: None (an older writer)
            mark = value.get(key)
            if mark is not None and (not _is_int(mark) or mark < 0):
                raise bad(f"groups.{group}.{key} {mark!r} is not a non-negative integer or null")
            marks[key] = mark
        parsed[group] = GroupStatus(serving, generation, in_sync, since, **flags, **marks)
    return Record(name, counter, parsed, float(written_at))


def _read_bytes(path: str) -> Optional[bytes]:
    """The file's bytes, None if it does not exist. Opened afresh (NFS
    close-to-open), never through a symlink, never a FIFO or device."""
    for attempt in (1, 2):
        try:
            fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as error:
            # A name cached on the NFS client can still point at the file
            # the writer's rename replaced; a second lookup finds the new one.
            if error.errno == errno.ESTALE and attempt == 1:
                continue
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise RecordError(f"{path}: not a regular file")
            chunks, size = [], 0
            while size <= MAX_RECORD_BYTES:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
            raise RecordError(f"{path}: garbled record: larger than {MAX_RECORD_BYTES} bytes")
        except OSError as error:
            if error.errno == errno.ESTALE and attempt == 1:
                continue
            raise
        finally:
            os.close(fd)
    return None  # not reached: the second attempt returns or raises


def read_record(directory: str, node: str) -> Optional[Record]:
    """`node`'s record, None if there is none. Raises RecordError (garbled),
    UnsafePath (a symlink) or OSError (the share failed)."""
    path = record_path(directory, node)
    data = _read_bytes(path)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path}: garbled record: not UTF-8") from None
    return parse_record(text, path, node)


def write_record(directory: str, record: Record) -> None:
    """Replace our record atomically; refuse a symlink in its place (rename
    would only replace the link, but a planted link means someone is
    tampering with the share, which we report rather than paper over)."""
    path = record_path(directory, record.node)
    if os.path.islink(path):
        raise UnsafePath(f"{path}: refusing to replace a symlink")
    write_atomic(path, encode_record(record), mode=0o644)   # the peer reads it


def local_copy_path(state_dir: str) -> str:
    return os.path.join(state_dir, LOCAL_COPY)


def read_local_counter(state_dir: str, node: str) -> int:
    """The counter of our last record kept in the state dir, 0 if none.
    A garbled copy raises RecordError."""
    record = None
    data = _read_bytes(local_copy_path(state_dir))
    if data is not None:
        record = parse_record(data.decode("utf-8", "replace"), local_copy_path(state_dir), node)
    return record.counter if record else 0


def save_local_copy(state_dir: str, record: Record) -> None:
    ensure_private_dir(state_dir)
    write_atomic(local_copy_path(state_dir), encode_record(record))


def describe_error(error: BaseException) -> str:
    """One line for a failed witness operation, without the path twice."""
    if isinstance(error, OSError) and error.errno is not None:
        return f"[Errno {error.errno}] {error.strerror}"
    if isinstance(error, CarphaError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _mount_point(path: str) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def check_mounted(directory: str, state_dir: str) -> None:
    """Refuse a witness directory that is not on a file system of its own:
    with the share unmounted, both nodes would write to their local disks,
    each see the other silent, and both promote."""
    mount = _mount_point(directory)
    local = _mount_point(state_dir) if os.path.exists(state_dir) else "/"
    if mount in ("/", local):
        raise CarphaError(f"{directory} is not a mounted share (it is on the file system mounted at {mount})")


# --- observing the peer -------------------------------------------------------


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


# --- pure decisions -----------------------------------------------------------


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


def condemned(statuses: Mapping[str, GroupStatus], view: "View", now: float,
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


def witness_timing_problems(config) -> List[str]:
    """One `witness.<key>: ...` line per timing that allows two masters
    (lease only: the other kinds do not fence). `carpha config check`
    applies the same rule (config.fencing_problems)."""
    from ..config import fencing_problems
    w = config.witness
    problems = [f"witness.fence_after_seconds: {p}" for p in fencing_problems(w, config.groups, config.node)]
    if w.kind == "lease" and not w.interval_seconds < w.fence_after_seconds:
        problems.append(
            f"witness.interval_seconds: {w.interval_seconds:g} is not below fence_after_seconds"
            f" {w.fence_after_seconds:g} (a master would go stale between two renewals)")
    return problems


def witness_warnings(config) -> List[str]:
    return [NONE_WARNING] if config.witness.kind == "none" else []


# --- ping -----------------------------------------------------------------------


def is_reachable(runner, address, timeout: float) -> bool:
    """True if `address` answers one ping within `timeout` seconds."""
    from ..host.runner import CommandError
    try:
        return runner.query(ping_argv(address, timeout), timeout=timeout, check=False).returncode == 0
    except CommandError:       # timed out or no ping: not reachable
        return False


# --- the heartbeat --------------------------------------------------------------


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
            progress = {"own_error": f"witness I/O blocked for {_s(began - self._job.started)} s"}
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


def save_view(run_dir: str, view: View) -> None:
    ensure_private_dir(run_dir)
    write_atomic(os.path.join(run_dir, VIEW_FILE), json.dumps(asdict(view), sort_keys=True) + "\n")


def load_view(run_dir: str) -> Optional[View]:
    """The heartbeat's last view, None if there is none or it is unreadable
    (either way: no evidence that we reach the witness)."""
    try:
        data = _read_bytes(os.path.join(run_dir, VIEW_FILE))
        return None if data is None else View(**json.loads(data))
    except (OSError, ValueError, TypeError, CarphaError):
        return None


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


# --- carpha heartbeat -----------------------------------------------------------


def leased_groups(config, node: str) -> list:
    """`node`'s groups the lease guards: not a local-gmirror group, which
    moves with its drives (carpha.engine.nas)."""
    return [g for g in config.groups.values() if node in g.nodes and g.storage.kind != "local-gmirror"]


def peer_of(config, node: str) -> str:
    """The one peer `node` shares its groups with (the lease records one
    peer per node)."""
    peers = sorted({other for g in leased_groups(config, node) for other in g.nodes if other != node})
    if len(peers) != 1:
        raise CarphaError(f"witness lease: {node} must share its groups with exactly one peer, "
                          f"found {', '.join(peers) or 'none'}", exit_code=CONFIG)
    return peers[0]


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
