"""Parse `gmirror dump PROV ...`: the on-disk metadata of providers.

Format (freebsd-src lib/geom/mirror/geom_mirror.c mirror_dump(): per
provider `Metadata on %s:\\n`, then mirror_metadata_dump() from
sys/geom/mirror/g_mirror.h: right-aligned `%10s: value` lines — magic,
version, name, mid, did, all, genid, syncid, priority, slice, balance,
mediasize, sectorsize, syncoffset, mflags, dflags, hcprovider, provsize,
MD5 hash — then a blank line). A provider without metadata prints
`Can't read metadata from %s: %s.` on stderr instead.

Output: [{"provider": str, "name": str, "genid": int, "syncid": int,
"priority": int, "dflags": [str], "hcprovider": str, ...}]."""

from __future__ import annotations

import re
from typing import Any, Dict, List

from . import ParseError, numbered_lines

_HEADER = re.compile(r"^Metadata on (\S+):$")
_FIELD = re.compile(r"^\s*([A-Za-z0-9 ]+?):\s?(.*)$")
_INTS = {"version", "mid", "did", "all", "genid", "syncid", "priority", "slice", "mediasize",
         "sectorsize", "syncoffset", "provsize"}
_FLAGS = {"mflags", "dflags"}
_REQUIRED = ("name", "genid", "syncid")


def parse_gmirror_dump(text: str) -> List[Dict[str, Any]]:
    dumps: List[Dict[str, Any]] = []
    current = None
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        header = _HEADER.match(line.strip())
        if header:
            current = {"provider": header.group(1)}
            dumps.append(current)
            continue
        field = _FIELD.match(line)
        if field is None or current is None:
            raise ParseError(lineno, "expected 'Metadata on PROV:' or a 'key: value' line")
        key, value = field.group(1).strip(), field.group(2).strip()
        if key in _INTS:
            if not value.isdigit():
                raise ParseError(lineno, f"{key}: {value!r} is not a number")
            current[key] = int(value)
        elif key in _FLAGS:
            current[key] = [] if value in ("", "NONE") else value.split()
        else:
            current[key.replace(" ", "_").lower()] = value
    for dump in dumps:
        missing = [k for k in _REQUIRED if k not in dump]
        if missing:
            raise ParseError(None, f"metadata of {dump['provider']} lacks {', '.join(missing)}")
    return dumps
