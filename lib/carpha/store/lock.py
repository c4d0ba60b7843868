"""Lock files: one per group (every action on a group runs under it) and one
for the worker.

`fcntl.flock` on a file in the run dir: the kernel drops the lock when the
holder dies, so a crash never leaves the group locked. The holder writes its
pid and start time inside the file so a waiter can say who holds it and for
how long; a recorded pid that is no longer alive is reported as a stale
record (its holder died, the lock itself is free). The descriptor is
close-on-exec so programs we start (ggatec, jails) never inherit the lock."""

from __future__ import annotations

import fcntl
import os

from .. import clock
from ..exits import TEMPFAIL, CarphaError
from .files import ensure_private_dir, open_nofollow

GROUP_LOCK_WAIT = 60.0   # a hook run by hand may hold the group briefly


class LockBusy(CarphaError):
    exit_code = TEMPFAIL

    def __init__(self, path: str, holder: "Holder | None", waited: float):
        self.path = path
        self.holder = holder
        who = holder.describe() if holder else "an unknown holder"
        super().__init__(f"{path}: busy, held by {who} (waited {waited:.1f} s)")


class Holder:
    """Who holds a lock: pid, wall-clock start time, what for. (A plain
    class: dataclasses would pull `inspect` into the devd hook's imports.)"""

    __slots__ = ("pid", "started", "purpose")

    def __init__(self, pid: int, started: float, purpose: str = ""):
        self.pid, self.started, self.purpose = pid, started, purpose

    def __eq__(self, other) -> bool:
        return isinstance(other, Holder) and \
            (self.pid, self.started, self.purpose) == (other.pid, other.started, other.purpose)

    def __repr__(self) -> str:
        return f"Holder(pid={self.pid}, started={self.started}, purpose={self.purpose!r})"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def held_for(self) -> float:
        return max(0.0, clock.now() - self.started)

    def describe(self) -> str:
        what = f"pid {self.pid}" + (f" ({self.purpose})" if self.purpose else "")
        if not self.alive():
            return f"{what}, which is dead (stale record)"
        return f"{what} for {self.held_for():.0f} s"


def read_holder(path: str) -> Holder | None:
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        text = f.read()
    # "PID STARTED PURPOSE..." on one line (not JSON: the devd hook takes
    # locks, and the json module's import would double its start-up).
    fields = text.strip().split(" ", 2)
    try:
        return Holder(int(fields[0]), float(fields[1]), fields[2] if len(fields) > 2 else "")
    except (ValueError, IndexError):
        return None


class Lock:
    """An exclusive lock on `run_dir/name.lock`. Use as a context manager or
    call acquire()/release()."""

    def __init__(self, run_dir: str, name: str, *, purpose: str = ""):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, f"{name}.lock")
        self.purpose = purpose
        self.fd: int | None = None
        self.stale: Holder | None = None   # a dead previous holder we replaced

    def acquire(self, timeout: float = 0.0, poll: float = 0.05) -> "Lock":
        ensure_private_dir(self.run_dir)
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = clock.monotonic() + timeout
        started_waiting = clock.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(self.path, read_holder(self.path),
                                   clock.monotonic() - started_waiting) from None
                clock.sleep(poll)
        previous = read_holder(self.path)
        if previous is not None and previous.pid != os.getpid() and not previous.alive():
            self.stale = previous
        purpose = " ".join(self.purpose.split())       # one line, whatever it said
        record = f"{os.getpid()} {clock.now()!r} {purpose}".rstrip()
        os.ftruncate(fd, 0)
        os.pwrite(fd, (record + "\n").encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        # Leave the file (unlinking it races with a waiter that opened it);
        # empty it so no stale record survives a clean release.
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> "Lock":
        if self.fd is None:
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_held(run_dir: str, name: str) -> bool:
    """Whether someone holds the lock now (probe without keeping it)."""
    lock = Lock(run_dir, name)
    try:
        lock.acquire(timeout=0)
    except LockBusy:
        return True
    lock.release()
    return False
