"""Parse one devd notify event line, as read from /var/run/devd.seqpacket.pipe.

Output: {"system": str, "subsystem": str, "type": str, ...every other
key=value}; all values are strings (subsystem "1@em0" is not split).

Format: the kernel sends `!system=S subsystem=SS type=T[ data]`
(devctl_notify(), sys/kern/subr_bus.c). Tokens are read the way devd's own
config::chop_var() does (freebsd-src sbin/devd/devd.cc): a key of
[A-Za-z0-9_-] characters, `=`, then either a double-quoted value (newer devd
skips `\\"` inside it; the backslash is dropped here) or a value up to the
next blank. Like devd, reading stops at the first token that is not
key=value, and a repeated key keeps its last value.
A line without the leading `!` (attach `+`, detach `-`, nomatch `?`) or
without system, subsystem and type is not a notify event: ParseError.
"""

from __future__ import annotations

import re
from typing import Dict

from . import ParseError

_KEY = re.compile(r"[A-Za-z0-9_-]+=")
_QUOTED = re.compile(r'"((?:\\"|[^"])*)"')  # chop_var(): skips \" only
_BARE = re.compile(r"\S*")


def parse_devd_event(text: str) -> Dict[str, str]:
    line = text.rstrip("\n")
    if "\n" in line:
        raise ParseError(2, "one event line expected, got several")
    if not line.startswith("!"):
        raise ParseError(1, f"not a notify event (no leading '!'): {line[:60]!r}")
    event: Dict[str, str] = {}
    position = 1
    while position < len(line):
        # chop_var(): skip the blanks after each value.
        while position < len(line) and line[position].isspace():
            position += 1
        key = _KEY.match(line, position)
        if not key:
            break
        if line.startswith('"', key.end()):
            value = _QUOTED.match(line, key.end())
            if not value:
                break  # unterminated quote: chop_var() gives up too
            event[key.group()[:-1]] = value.group(1).replace('\\"', '"')
        else:
            value = _BARE.match(line, key.end())
            event[key.group()[:-1]] = value.group()
        position = value.end()
    missing = [key for key in ("system", "subsystem", "type") if key not in event]
    if missing:
        raise ParseError(1, f"notify event without {', '.join(missing)}: {line[:80]!r}")
    return event
