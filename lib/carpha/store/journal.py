"""The per-group journal: JSON lines with sequence numbers.

One journal per CARP binding (`<vhid>@<ifname>`), because the devd hook knows
only the binding, not the group (it must not load the YAML config). The hook
appends `event` records; the worker appends `run` records saying what it
observed, decided and did, so an administrator can see why something
happened. Appends are serialised by a flock on a sibling lock file.

Retention: past MAX_BYTES the journal is rotated to `.1`; the `.1` it
replaces is gzipped to `.2.gz`, older ones shift up to `.{GENERATIONS}.gz`
and the oldest is dropped. read() (the worker, every pass) reads the live
file and `.1` only; history() (`carpha log`) reads every generation. A busy
group (a cron pass a minute) keeps well over 30 days within
MAX_BYTES * 2 plus GENERATIONS compressed files (bench/bench_journal.py)."""

from __future__ import annotations

import fcntl
import os

from .. import clock
from .files import ensure_private_dir, open_nofollow

MAX_BYTES = 1 << 20
GENERATIONS = 16          # `.2.gz` .. `.16.gz`: older generations are dropped
# Plain character sets, not `re`: importing re (and enum with it) would
# double the devd hook's start-up cost.
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_IFNAME_CHARS = _LETTERS | frozenset("0123456789_.")


def valid_binding(binding: str) -> bool:
    """VHID@IFNAME as devd reports CARP subsystems: vhid 1..255 without
    leading zeros (the kernel prints %d), an interface name of at most 15
    characters (IFNAMSIZ 16) starting with a letter."""
    vhid, at, ifname = binding.partition("@")
    return (bool(at) and vhid.isascii() and vhid.isdigit() and len(vhid) <= 3
            and not vhid.startswith("0") and 1 <= int(vhid) <= 255
            and 1 <= len(ifname) <= 15 and ifname[0] in _LETTERS
            and all(c in _IFNAME_CHARS for c in ifname))


def journal_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "journal")


# The journal of device events (geom-event): not a CARP binding, so never
# listed by bindings().
DEVICES = "devices"


def path_for(state_dir: str, binding: str) -> str:
    if binding != DEVICES and not valid_binding(binding):
        raise ValueError(f"not a CARP binding: {binding!r}")
    return os.path.join(journal_dir(state_dir), f"{binding}.jsonl")


_SEQ_PREFIX = b'{"seq": '
_SHORT_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n",
                  "\r": "\\r", "\t": "\\t"}


def _last_seq(fd: int) -> int:
    """The seq of the last complete record, read from the file's tail without
    the json module (it imports re: the devd hook's start-up would double).
    encode() always writes `{"seq": N, ` first."""
    size = os.fstat(fd).st_size
    window = 8192
    while size:
        tail = os.pread(fd, min(size, window), max(0, size - window))
        lines = tail.split(b"\n")
        # lines[-1] is empty or a torn write; lines[0] may be cut unless we read it all
        complete = lines[:-1] if window >= size else lines[1:-1]
        for line in reversed(complete):
            if line.startswith(_SEQ_PREFIX) and line.endswith(b"}"):
                digits = line[len(_SEQ_PREFIX):].split(b",", 1)[0].split(b"}", 1)[0]
                if digits.isdigit():
                    return int(digits)
        if window >= size:
            break
        window *= 8                               # a record longer than the tail: look further back
    return 0


def encode(record: dict) -> str:
    """One JSON object on one line: "seq" first (the tail reader relies on
    it), then the other keys sorted. Flat records of strings and numbers (the
    hook's) are written without importing json; nested ones go through it."""
    keys = sorted(record, key=lambda k: (k != "seq", k))
    parts = []
    for key in keys:
        value = record[key]
        if isinstance(value, bool) or value is None:
            text = {True: "true", False: "false", None: "null"}[value]
        elif isinstance(value, (int, float)):
            text = repr(value)
        elif isinstance(value, str):
            text = _quote(value)
        else:
            import json
            return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(record[k], sort_keys=True)}"
                                   for k in keys) + "}"
        parts.append(f"{_quote(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


def _quote(text: str) -> str:
    """As json.dumps(ensure_ascii=True) quotes a string."""
    out = []
    for c in text:
        if c in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[c])
        elif c < " " or c > "~":
            code = ord(c)
            if code < 0x10000:
                out.append("\\u%04x" % code)
            else:
                code -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


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
                _shift_generations(path)
                os.rename(path, path + ".1")
                os.close(fd)
                fd = open_nofollow(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
            full = {"seq": seq + 1, "time": round(clock.now(), 6), **record}
            end = os.fstat(fd).st_size
            torn = end > 0 and os.pread(fd, 1, end - 1) != b"\n"   # a writer killed mid-line
            os.write(fd, (("\n" if torn else "") + encode(full) + "\n").encode())
            return full
        finally:
            os.close(fd)
    finally:
        os.close(lock_fd)


def _shift_generations(path: str) -> None:
    """Make room for a new `.1`: the old one is compressed into `.2.gz`,
    each older `.N.gz` moves to `.N+1.gz`, the last is dropped. Under the
    append lock, so the hook that crosses MAX_BYTES pays for it (rarely:
    once per MAX_BYTES of records)."""
    if not os.path.exists(path + ".1"):
        return
    import gzip      # only here: the hook's usual path never imports it
    for n in range(GENERATIONS - 1, 1, -1):
        older = f"{path}.{n}.gz"
        if os.path.exists(older):
            os.replace(older, f"{path}.{n + 1}.gz")
    fd = open_nofollow(path + ".1", os.O_RDONLY)
    with os.fdopen(fd, "rb") as source:
        data = source.read()
    tmp = f"{path}.2.gz.tmp"
    out_fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(out_fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        packed.write(data)
    os.replace(tmp, f"{path}.2.gz")


def history(state_dir: str, binding: str) -> list:
    """Every record kept, oldest first, compressed generations included."""
    path = path_for(state_dir, binding)
    records = []
    for n in range(GENERATIONS, 1, -1):
        records += list(_records(f"{path}.{n}.gz"))
    return records + list(_records(path + ".1")) + list(_records(path))


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
    import io
    import json
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    raw = os.fdopen(fd, "rb")
    if path.endswith(".gz"):
        import gzip
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    with io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as f:
        try:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn last line of a writer killed mid-append
                if isinstance(record, dict) and isinstance(record.get("seq"), int):
                    yield record
        except (OSError, EOFError):
            return        # a damaged compressed generation: what it held up to there


def bindings(state_dir: str) -> list:
    """Every binding that has a journal (events may name unconfigured vhids)."""
    try:
        names = os.listdir(journal_dir(state_dir))
    except FileNotFoundError:
        return []
    return sorted(n[:-len(".jsonl")] for n in names
                  if n.endswith(".jsonl") and valid_binding(n[:-len(".jsonl")]))
