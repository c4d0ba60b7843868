"""Parse `ggatec list` and `ggatec list -v`.

Output: [{"unit": int|None, "device": str}] in the printed order; with -v
also info, access, timeout, queue_count, queue_size, references,
mediasize, sectorsize, mode.

Format (freebsd-src sbin/ggate/shared/ggate.c show_config()): without -v one
provider name per line (`ggate0`); with -v a block per provider of
right-aligned `KEY: value` lines starting with `       NAME: ggate0` and
ending with a blank line. Nothing at all when the gate class is not
loaded. Every GEOM Gate provider is listed, including ones not made by
ggatec (HAST's `hast/NAME`, nbd-client): their unit is None.
The `ggatec create` output (just the new name) has the same shape.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from . import ParseError, numbered_lines

_NAME = re.compile(r"^[A-Za-z0-9_./-]+$")
_UNIT = re.compile(r"^ggate([0-9]+)$")  # G_GATE_PROVIDER_NAME "ggate" + unit
_VERBOSE_LINE = re.compile(r"^\s*(?P<key>[a-z_]+|NAME):\s?(?P<value>.*)$")
_VERBOSE_INT = {"timeout", "queue_count", "queue_size", "references", "sectorsize"}


def _device(lineno: int, name: str) -> Dict[str, Any]:
    if not _NAME.match(name):
        raise ParseError(lineno, f"{name!r} is not a GEOM provider name")
    unit = _UNIT.match(name)
    return {"unit": int(unit.group(1)) if unit else None, "device": name}


def parse_ggatec_list(text: str) -> List[Dict[str, Any]]:
    devices: List[Dict[str, Any]] = []
    current: Optional[Dict[str, Any]] = None
    for lineno, line in numbered_lines(text):
        if not line.strip():
            current = None
            continue
        m = _VERBOSE_LINE.match(line)
        if m is None:
            if current is not None:
                raise ParseError(lineno, f"expected 'key: value' inside the -v block of {current['device']}")
            devices.append(_device(lineno, line.strip()))
            continue
        key, value = m.group("key"), m.group("value").strip()
        if key == "NAME":
            current = _device(lineno, value)
            devices.append(current)
            continue
        if current is None:
            raise ParseError(lineno, f"{key!r} line before any 'NAME:' line")
        if key in _VERBOSE_INT or key == "mediasize":
            # mediasize is "%jd (%s)": bytes, then the humanized size.
            number = value.split()[0] if value else ""
            if not number.isascii() or not number.isdigit():
                raise ParseError(lineno, f"{key}: {value!r} is not a number")
            current[key] = int(number)
        else:
            current[key] = value
    return devices
