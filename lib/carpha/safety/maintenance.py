"""Node-wide maintenance mode: while it is on, the worker takes no automatic
action and keeps this node's CARP demotion raised so the peer stays master.

Contract:
- The mode lives in `<state_dir>/maintenance.json` (under /var/db, so it
  survives a reboot), JSON with a schema version, written atomically under an
  flock so `carpha maintenance` and the worker never lose each other's writes.
- A mode always ends: `enable()` takes a duration (at most MAX_SECONDS), so a
  forgotten mode cannot disable failover for ever. An expired mode stays in
  the file and is reported as expired (`status()`), but blocks nothing.
- Decisions are pure functions of `now`; the times are stored in the file.
- Demotion: writing N to `net.inet.carp.demotion` ADDS N to a counter other
  software (and the kernel: ifdown/senderr demotion) shares (reference 2.6),
  so carpha never writes an absolute value: it records how much it added, and
  in which boot, and later removes exactly that. The kernel counter restarts
  at 0 on every boot, so an amount recorded in another boot counts as 0.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Optional, Tuple

from .. import clock
# The bound is config's (a layer below), which checks maintenance.default_seconds against it.
from ..config import MAX_MAINTENANCE_SECONDS as MAX_SECONDS
from ..exits import DATAERR, CarphaError
from ..store.files import ensure_private_dir, open_nofollow, read_text, write_atomic
from ..freebsd import commands as cmd

SCHEMA = 1
FILENAME = "maintenance.json"
LOCKNAME = ".maintenance.lock"
MAX_REASON = 200
# DEMOTE_ADVSKEW clamps advskew + demotion to 0..240 (reference 2.5): adding
# 240 advertises the slowest possible skew whatever advskew rc.conf set.
DEMOTION = 240

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]+)([smhd]?)", re.ASCII)
# Line breaks as str.splitlines() knows them, plus controls, format
# characters (bidi overrides that disguise a log line) and lone surrogates
# (undecodable argv bytes).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_LINE_BREAKS = set("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


class MaintenanceError(CarphaError):
    """The maintenance file cannot be read."""
    exit_code = DATAERR


@dataclass(frozen=True)
class Mode:
    reason: str
    since: float
    until: float
    by: str = ""

    def expired(self, now: float) -> bool:
        return now >= self.until

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.until - now)


@dataclass(frozen=True)
class Record:
    """Everything the file holds: the mode (None once turned off), the
    demotion carpha added (0 when none) in the boot `boot`, and `hold`: why
    this node keeps its demotion raised although maintenance is off (it
    fenced itself, or booted, and its replica is not known to be in sync)."""
    mode: Optional[Mode] = None
    demotion: int = 0
    boot: Optional[str] = None
    hold: Optional[str] = None


# --- input --------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """`90s`, `30m`, `4h`, `2d` or plain seconds -> seconds (1..MAX_SECONDS)."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: expected a whole number of seconds or a whole"
                         " number with a unit s, m, h or d (90s, 30m, 4h, 2d)")
    seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration: it must be more than 0")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than {MAX_SECONDS // 86400} days, the most maintenance mode"
                         " can last")
    return seconds


def check_reason(reason: str) -> str:
    """The reason as stored (surrounding spaces dropped); ValueError unless it
    is one non-empty line of at most MAX_REASON printable characters."""
    if reason is None or not reason.strip():
        raise ValueError("a reason is required: say why, e.g. --reason 'replacing ada1 on serverB'")
    for position, char in enumerate(reason, 1):
        if char in _LINE_BREAKS:
            raise ValueError(f"the reason must be one line (line break at character {position})")
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ValueError(f"the reason must not contain control characters"
                             f" (U+{ord(char):04X} at character {position})")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is {len(reason)} characters long; at most {MAX_REASON}")
    return reason


def _check_seconds(seconds) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"{seconds!r} seconds is not in (0, {MAX_SECONDS}]")
    return seconds


# --- the file -----------------------------------------------------------------


def path_for(state_dir: str) -> str:
    return os.path.join(state_dir, FILENAME)


@contextmanager
def locked(state_dir: str):
    """Serialise read-modify-write of the file (the CLI and the worker)."""
    ensure_private_dir(state_dir)
    fd = open_nofollow(os.path.join(state_dir, LOCKNAME), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read(state_dir: str) -> Record:
    """The file's content; an empty Record when there is none."""
    path = path_for(state_dir)
    text = read_text(path)
    if text is None:
        return Record()
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            schema = data.get("schema") if isinstance(data, dict) else None
            raise MaintenanceError(f"{path}: schema {schema!r} is not {SCHEMA}")
        mode = data.get("mode")
        if mode is not None:
            mode = Mode(str(mode["reason"]), float(mode["since"]), float(mode["until"]), str(mode.get("by", "")))
        demotion = data.get("demotion", 0)
        if isinstance(demotion, bool) or not isinstance(demotion, int):
            raise ValueError(f"demotion {demotion!r} is not an integer")
        boot, hold = data.get("boot"), data.get("hold")
        if hold is not None and not isinstance(hold, str):
            raise ValueError(f"hold {hold!r} is not a string")
        return Record(mode, demotion, None if boot is None else str(boot), hold)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise MaintenanceError(f"{path}: unreadable maintenance record: {error}") from None


def read_or_empty(state_dir: str) -> Record:
    """The record, or an empty one when it is unreadable (for writers that
    replace it under the lock)."""
    try:
        return read(state_dir)
    except MaintenanceError:
        return Record()


def write_record(state_dir: str, record: Record) -> None:
    """Replace the file; call it under locked()."""
    path = path_for(state_dir)
    if record.mode is None and record.demotion == 0 and record.hold is None:
        # Nothing to remember: no file is the plain "off".
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    mode = None if record.mode is None else {
        "reason": record.mode.reason, "since": record.mode.since, "until": record.mode.until,
        "by": record.mode.by}
    data = {"schema": SCHEMA, "mode": mode, "demotion": record.demotion, "boot": record.boot,
            "hold": record.hold}
    write_atomic(path, json.dumps(data, sort_keys=True) + "\n")


# --- the mode -------------------------------------------------------------------


def enable(state_dir: str, reason: str, seconds: float, now: Optional[float] = None, by: str = "") -> Mode:
    """Turn maintenance on for `seconds` from `now` (replacing a mode already
    on); ValueError for a bad reason or duration."""
    reason = check_reason(reason)
    seconds = _check_seconds(seconds)
    now = clock.now() if now is None else now
    mode = Mode(reason, now, now + seconds, by)
    with locked(state_dir):
        try:
            record = read(state_dir)
        except MaintenanceError:
            record = Record()       # replaced by the operator's explicit choice
        write_record(state_dir, replace(record, mode=mode))
    return mode


def disable(state_dir: str) -> Optional[Mode]:
    """Turn maintenance off; returns the mode that was recorded (on or
    expired), None if there was none. The demotion record stays until the
    worker has removed that demotion."""
    with locked(state_dir):
        try:
            record = read(state_dir)
        except MaintenanceError:
            # Unreadable: what carpha added cannot be known any more; the
            # operator asked for off, so off it is.
            write_record(state_dir, Record())
            return None
        write_record(state_dir, replace(record, mode=None))
    return record.mode


def recorded(state_dir: str) -> Optional[Mode]:
    """The recorded mode, expired or not."""
    return read(state_dir).mode


def current(state_dir: str, now: Optional[float] = None) -> Optional[Mode]:
    """The mode in force at `now`: None when there is none or it has expired."""
    now = clock.now() if now is None else now
    mode = recorded(state_dir)
    return None if mode is None or mode.expired(now) else mode


def format_time(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_seconds(seconds: float) -> str:
    """3h 59m, 2d 4h, 45s: the two largest units."""
    seconds = int(seconds + 0.5)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def describe(mode: Mode, now: float) -> str:
    """One line for logs and `carpha maintenance status`."""
    who = f" by {mode.by}" if mode.by else ""
    if mode.expired(now):
        return (f"maintenance: expired at {format_time(mode.until)} (on since {format_time(mode.since)}{who}:"
                f" {mode.reason}); automatic failover is active")
    return (f"maintenance: on since {format_time(mode.since)}{who} until {format_time(mode.until)}"
            f" ({format_seconds(mode.seconds_left(now))} left): {mode.reason}")


def status(state_dir: str, now: Optional[float] = None) -> str:
    now = clock.now() if now is None else now
    record = read(state_dir)
    line = "maintenance: off" if record.mode is None else describe(record.mode, now)
    return line if record.hold is None else f"{line}\nCARP demotion held: {record.hold}"


def report(state_dir: str, now: Optional[float] = None) -> dict:
    """status() as data, for --json."""
    now = clock.now() if now is None else now
    record = read(state_dir)
    mode = record.mode
    result = {"state": "off", "demotion_recorded": record.demotion, "hold": record.hold}
    if mode is not None:
        result.update({
            "state": "expired" if mode.expired(now) else "on",
            "reason": mode.reason, "by": mode.by,
            "since": _iso(mode.since), "until": _iso(mode.until),
            "seconds_left": int(mode.seconds_left(now) + 0.5)})
    return result


def blocks_automatic_action(state_dir: str, now: float) -> Optional[str]:
    """The reason to log when maintenance forbids automatic action, else None.
    An unreadable record blocks too: someone meant something by it, and
    `carpha maintenance off` clears it."""
    try:
        mode = current(state_dir, now)
    except MaintenanceError as error:
        return f"{error}; taking no automatic action until `carpha maintenance off`"
    if mode is None:
        return None
    return describe(mode, now) + "; taking no automatic action"


# --- CARP demotion ------------------------------------------------------------


def demotion_delta(wanted: bool, currently_applied: int) -> int:
    """What to add to net.inet.carp.demotion so carpha's share is DEMOTION
    when `wanted`, 0 otherwise. 0 means nothing to write (writing 0 adds 0)."""
    return (DEMOTION if wanted else 0) - currently_applied


def applied_demotion(record: Record, boot: str) -> int:
    """How much carpha added in this boot (`boot` identifies it:
    carpha.safety.boot.boot_id()): the counter restarts at 0 on every boot."""
    return record.demotion if record.boot == boot else 0


@dataclass(frozen=True)
class DemotionStep:
    argv: Tuple[str, ...]
    reason: str
    applied: int        # carpha's share once the step has run: pass to record_demotion()


def demotion_step(wanted: bool, currently_applied: int, why: str = "maintenance mode") -> Optional[DemotionStep]:
    """The one sysctl to run, or None when carpha's share is already right."""
    delta = demotion_delta(wanted, currently_applied)
    if delta == 0:
        return None
    why = (f"{why}: raise CARP demotion so the peer stays master" if wanted
           else "no maintenance or hold any more: remove the CARP demotion carpha added")
    return DemotionStep(cmd.sysctl_add_demotion(delta), why, currently_applied + delta)


def plan_demotion(state_dir: str, boot: str, now: float) -> Optional[DemotionStep]:
    """What the worker runs each pass: raise the demotion while the mode is
    on or a hold stands, remove it after. None when nothing is to change,
    and when the file is unreadable (blocks_automatic_action() reports that;
    guessing could leave a demotion nobody removes)."""
    try:
        record = read(state_dir)
    except MaintenanceError:
        return None
    in_mode = record.mode is not None and not record.mode.expired(now)
    return demotion_step(in_mode or record.hold is not None, applied_demotion(record, boot),
                         "maintenance mode" if in_mode else f"hold ({record.hold})")


def record_demotion(state_dir: str, applied: int, boot: str) -> None:
    """Remember that carpha's share of the counter is now `applied`. Call it
    right after the sysctl succeeded: a crash in between leaves the node
    demoted too much (safe), never too little."""
    with locked(state_dir):
        write_record(state_dir, replace(read(state_dir), demotion=applied, boot=boot if applied else None))


def raise_and_hold(state_dir: str, boot: str, hold: str, add) -> int:
    """Bring carpha's share of the demotion to DEMOTION in this boot and
    hold it for `hold` (a fence, a boot). `add(delta)` runs the sysctl and
    says whether it succeeded; a failed one is not recorded as applied, and
    the hold makes the worker's next pass try again. Returns the share."""
    with locked(state_dir):
        record = read_or_empty(state_dir)
        applied = applied_demotion(record, boot)
        if applied < DEMOTION and add(DEMOTION - applied):
            applied = DEMOTION
        write_record(state_dir, replace(record, demotion=applied, boot=boot if applied else None, hold=hold))
    return applied


def set_hold(state_dir: str, reason: Optional[str]) -> None:
    """Keep (reason) or stop keeping (None) the demotion raised outside
    maintenance mode; the worker's next pass applies it."""
    with locked(state_dir):
        record = read_or_empty(state_dir)
        if record.hold != reason:
            write_record(state_dir, replace(record, hold=reason))
