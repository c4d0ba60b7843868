"""`carpha log [GROUP] [--since TIME]`: the journal as a human timeline.

One entry per record, oldest first, every generation kept
(journal.history): the CARP event devd reported; each worker pass with what
it observed, what it decided, the commands it ran, its outcome and
duration; takeovers, fences and split-brain marks. Quiet passes (cron found
nothing to do) are folded into one line per run of them, so a month of
cron shows as what happened. Read-only."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import List

from .. import exits
from ..exits import CarphaError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """2026-12-01, 2026-12-01T10:00[:SS][Z] (UTC), or an age: 90s, 30m, 4h, 2d."""
    if text and text[-1] in _UNITS and text[:-1].isdigit():
        return now - int(text[:-1]) * _UNITS[text[-1]]
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M",
                   "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise CarphaError(f"--since {text!r}: not a time (2026-12-01, 2026-12-01T10:00Z) or an age (90s, 30m, "
                      f"4h, 2d)", exits.USAGE)


def quiet(record: dict) -> bool:
    """A pass that handled no event, did nothing and succeeded."""
    return (record.get("kind") == "run" and record.get("result") == "ok" and not record.get("did")
            and not (record.get("observed") or {}).get("events"))


def stamp(t) -> str:
    try:
        return datetime.fromtimestamp(float(t), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "????-??-?? ??:??:??"


def describe(record: dict) -> List[str]:
    """The record as a headline and detail lines."""
    kind = record.get("kind")
    if kind == "event":
        return [f"event     CARP {record.get('type')} on {record.get('subsystem')} ({record.get('source', '?')})"]
    if kind == "run":
        observed = record.get("observed") or {}
        events = observed.get("events") or []
        seen = f"CARP {observed.get('carp') or 'absent'}" + (f", events {' '.join(events)}" if events else "")
        outcome = record.get("result", "?")
        took = f" in {record['duration']:.2f} s" if isinstance(record.get("duration"), (int, float)) else ""
        head = f"decision  {record.get('decided')} ({seen}): {outcome}{took}"
        lines = [head]
        if record.get("reason"):
            lines.append(f"          why: {record['reason']}")
        if record.get("error"):
            lines.append(f"          error: {record['error']}")
        lines += [f"          ran: {step}" for step in record.get("did") or []]
        return lines
    if kind == "takeover":
        loss = " accepting data loss" if record.get("accepted_data_loss") else ""
        return [f"takeover  by hand on {record.get('node')}{loss}" +
                (f": {record['reason']}" if record.get("reason") else "")]
    if kind == "fence":
        lines = [f"fence     {record.get('node')}: {record.get('reason')} ({record.get('seconds', '?')} s)"]
        return lines + [f"          ran: {step}" for step in record.get("ran") or []]
    rest = {k: v for k, v in record.items() if k not in ("seq", "time", "kind")}
    return [f"{kind or 'record':<9} {json.dumps(rest, sort_keys=True)}"]


def timeline(records: List[dict], group: str) -> List[str]:
    lines, folded = [], []

    def flush():
        if folded:
            span = f"{stamp(folded[0].get('time'))} .. {stamp(folded[-1].get('time'))[11:]}"
            lines.append(f"{span}  {group}  {len(folded)} quiet pass(es): nothing to do")
            folded.clear()

    for record in records:
        if quiet(record):
            folded.append(record)
            continue
        flush()
        head, *rest = describe(record)
        lines.append(f"{stamp(record.get('time'))}  {group}  {head}")
        lines += [f"{'':19}  {' ' * len(group)}  {line}" for line in rest]
    flush()
    return lines


def record_time(record) -> float:
    value = record.get("time")
    return float(value) if isinstance(value, (int, float)) else 0.0
