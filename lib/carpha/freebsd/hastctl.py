"""Parse `hastctl status` (columnar, current) and the older block format.

Output: [{"name": str, "role": str|None, "status": str,
"components": [localpath, remoteaddr]}]; a resource for which hastd
returned an error has role None, status "ERR<n>" and "error": n.

Formats (freebsd-src sbin/hastctl/hastctl.c):
- current control_status() (@cfcb73b7): header `Name\\tStatus\\t Role\\t\\tComponents`,
  rows `%s\\t` name, `%-9s` status ("-" when hastd sent none), `%-15s` role,
  `%s\\t` localpath, `%s\\n` remoteaddr; `%s\\tERR%d` on error. Tabs may
  arrive expanded to blanks; fields hold no blanks, so rows are split on
  runs of blanks.
- older control_status() (2012, @039ea811; `hastctl list` prints the same
  today): `NAME:` then `  role: X`, `  provname: X`, `  localpath: X`,
  `  extentsize: N (SIZE)`, `  keepdirty: N`, `  remoteaddr: X`,
  [`  sourceaddr: X`], `  replication: X`, [`  status: X`], `  dirty: N (SIZE)`,
  `  statistics:` and deeper-indented counters; `  error: N` on error.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from . import ParseError, numbered_lines

_HEADER = re.compile(r"^Name\s+Status\s+Role\s+Components$")
_ERROR = re.compile(r"^ERR(-?[0-9]+)$")
_BLOCK_START = re.compile(r"^(?P<name>\S+):$")
_BLOCK_LINE = re.compile(r"^(?P<indent>\s+)(?P<key>[a-z][a-z ]*):(?: (?P<value>.*))?$")
_BLOCK_INT = {"extentsize", "keepdirty", "dirty"}  # "%u" or "%ju (%NB)"


def parse_hastctl_status(text: str) -> List[Dict[str, Any]]:
    numbered = [(lineno, line) for lineno, line in numbered_lines(text) if line.strip()]
    if not numbered:
        return []  # no resource configured: hastctl prints nothing
    lineno, first = numbered[0]
    if _HEADER.match(first.strip()):
        return _parse_columns(numbered[1:])
    if _BLOCK_START.match(first):
        return _parse_blocks(numbered)
    raise ParseError(lineno, f"expected the 'Name Status Role Components' header or 'NAME:', got {first.strip()!r}")


def _parse_columns(numbered) -> List[Dict[str, Any]]:
    resources = []
    for lineno, line in numbered:
        fields = line.split()
        error = _ERROR.match(fields[1]) if len(fields) == 2 else None
        if error:
            resources.append({"name": fields[0], "role": None, "status": fields[1],
                              "components": [], "error": int(error.group(1))})
            continue
        if len(fields) < 4:
            raise ParseError(lineno, f"expected NAME STATUS ROLE LOCALPATH REMOTEADDR, got {line.strip()!r}")
        resources.append({"name": fields[0], "status": fields[1], "role": fields[2],
                          "components": fields[3:]})
    return resources


def _parse_blocks(numbered) -> List[Dict[str, Any]]:
    resources: List[Dict[str, Any]] = []
    current: Optional[Dict[str, Any]] = None
    in_statistics = False
    for lineno, line in numbered:
        start = _BLOCK_START.match(line)
        if start:
            current = {"name": start.group("name"), "role": None, "status": "-", "components": []}
            resources.append(current)
            in_statistics = False
            continue
        m = _BLOCK_LINE.match(line)
        if current is None or not m:
            raise ParseError(lineno, f"expected '  key: value' inside a resource block, got {line.strip()!r}")
        key, value = m.group("key"), (m.group("value") or "").strip()
        if len(m.group("indent").expandtabs()) > 2 and in_statistics:
            continue  # statistics counters: not needed for failover
        in_statistics = key == "statistics"
        if key in _BLOCK_INT:
            number = value.split()[0] if value else ""
            if not number.isascii() or not number.isdigit():
                raise ParseError(lineno, f"{key}: {value!r} is not a number")
            current[key] = int(number)
        elif key == "error":
            try:
                current["error"] = int(value)
            except ValueError:
                raise ParseError(lineno, f"error: {value!r} is not a number") from None
            current["status"] = f"ERR{current['error']}"
        elif key != "statistics":
            current[key] = value
    for resource in resources:
        # Same order as the columnar format prints them.
        resource["components"] = [resource[k] for k in ("localpath", "remoteaddr") if k in resource]
    return resources
