"""Parse `sysctl NAME...` output such as `sysctl net.inet.carp`.

Output: {"net.inet.carp.allow": 1, ...}; values that are whole decimal
numbers become int, anything else stays a string.

Format (freebsd-src sbin/sysctl/sysctl.c show_var()): `name: value` per OID
(`name=value` with -e). Multi-line values (e.g. kern.geom.conftxt) are not
this format and raise ParseError.
"""

from __future__ import annotations

import re
from typing import Dict, Union

from . import ParseError, numbered_lines

_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_%.-]+)(?::(?: (?P<value>.*))?|=(?P<evalue>.*))$")
_INT = re.compile(r"^-?[0-9]+$")


def parse_sysctl(text: str) -> Dict[str, Union[int, str]]:
    values: Dict[str, Union[int, str]] = {}
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            raise ParseError(lineno, f"expected 'name: value', got {line.strip()!r}")
        value = m.group("value") if m.group("evalue") is None else m.group("evalue")
        value = (value or "").strip()
        values[m.group("name")] = int(value) if _INT.match(value) else value
    return values
