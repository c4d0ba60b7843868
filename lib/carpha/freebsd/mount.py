"""Parse `mount` and `mount -p` output (each line may be either form).

Output: [{"device": str, "mountpoint": str, "fstype": str,
"options": [str]}] in mount order; `mount -p` lines also carry "freq" and
"passno".

Formats (freebsd-src sbin/mount/mount.c):
- prmount(): `%s on %s (%s` + `, %s` per option [+ `, mounted by USER`] + `)`;
  the device may contain blanks (autofs `map -hosts on /net (autofs)`), so
  the line is split at the first " on " and at the last " (".
- putfsent() (-p): device, mount point, fstype, options (comma-separated,
  `rw` when none), freq and passno, separated by tabs or a blank depending
  on field widths. Blanks inside names are not escaped there, so such a
  line cannot be split and raises ParseError.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

from . import ParseError, numbered_lines

_PLAIN = re.compile(r"^(?P<device>\S.*?) on (?P<mountpoint>.+) \((?P<inside>[^()]*)\)$")


def parse_mount(text: str) -> List[Dict[str, Any]]:
    mounts = []
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        m = _PLAIN.match(line)
        if m:
            fstype, *options = [part.strip() for part in m.group("inside").split(",")]
            if not fstype or any(not option for option in options):
                raise ParseError(lineno, f"empty file system type or option in {line!r}")
            mounts.append({"device": m.group("device"), "mountpoint": m.group("mountpoint"),
                           "fstype": fstype, "options": options})
            continue
        fields = line.split()
        if len(fields) == 6 and fields[4].isascii() and fields[4].isdigit() \
                and fields[5].isascii() and fields[5].isdigit():
            device, mountpoint, fstype, options, freq, passno = fields
            mounts.append({"device": device, "mountpoint": mountpoint, "fstype": fstype,
                           "options": [o for o in options.split(",") if o],
                           "freq": int(freq), "passno": int(passno)})
            continue
        raise ParseError(lineno, f"expected 'DEV on MOUNTPOINT (FSTYPE, ...)' or a mount -p line, got {line.strip()!r}")
    return mounts
