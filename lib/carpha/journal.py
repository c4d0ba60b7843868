"""The per-group journal: JSON lines with sequence numbers.

One journal per CARP binding (`<vhid>@<ifname>`), because the devd hook knows
only the binding, not the group (it must not load the YAML config). The hook
appends `event` records; the worker appends `run` records saying what it
observed, decided and did, so an administrator can see why something
happened. Appends are serialised by a flock on a sibling lock file; the
journal is rotated to `.1` past MAX_BYTES (readers read both)."""

from __future__ import annotations

import fcntl
import json
import os
import re

from . import clock
from .files import ensure_private_dir, open_nofollow

MAX_BYTES = 1 << 20
BINDING_RE = re.compile(r"^([0-9]{1,3})@([A-Za-z][A-Za-z0-9_.]{0,14})$")


def journal_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "journal")


def path_for(state_dir: str, binding: str) -> str:
    if not BINDING_RE.match(binding):
        raise ValueError(f"not a CARP binding: {binding!r}")
    return os.path.join(journal_dir(state_dir), f"{binding}.jsonl")


def _last_seq(fd: int) -> int:
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    tail = os.pread(fd, min(size, 8192), max(0, size - 8192))
    for line in reversed(tail.splitlines()):
        try:
            return int(json.loads(line)["seq"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def append(state_dir: str, binding: str, record: dict) -> dict:
    """Append `record` with the next sequence number and the time; return it."""
    directory = journal_dir(state_dir)
    ensure_private_dir(state_dir)
    ensure_private_dir(directory)
    path = path_for(state_dir, binding)
    lock_fd = open_nofollow(path + ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        fd = open_nofollow(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            seq = _last_seq(fd)
            if seq == 0:  # a fresh file after rotation continues the numbering
                seq = _last_seq_of(path + ".1")
            if os.fstat(fd).st_size > MAX_BYTES:
                os.rename(path, path + ".1")
                os.close(fd)
                fd = open_nofollow(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
            full = {"seq": seq + 1, "time": round(clock.now(), 6), **record}
            os.write(fd, (json.dumps(full, sort_keys=True) + "\n").encode())
            return full
        finally:
            os.close(fd)
    finally:
        os.close(lock_fd)


def _last_seq_of(path: str) -> int:
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        return _last_seq(fd)
    finally:
        os.close(fd)


def read(state_dir: str, binding: str, after_seq: int = 0) -> list:
    """Records with seq > after_seq, oldest first; unreadable lines skipped."""
    path = path_for(state_dir, binding)
    return [r for r in _records(path + ".1") if r["seq"] > after_seq] + \
           [r for r in _records(path) if r["seq"] > after_seq]


def _records(path: str):
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line of a writer killed mid-append
            if isinstance(record, dict) and isinstance(record.get("seq"), int):
                yield record


def bindings(state_dir: str) -> list:
    """Every binding that has a journal (events may name unconfigured vhids)."""
    try:
        names = os.listdir(journal_dir(state_dir))
    except FileNotFoundError:
        return []
    return sorted(n[:-len(".jsonl")] for n in names
                  if n.endswith(".jsonl") and BINDING_RE.match(n[:-len(".jsonl")]))
