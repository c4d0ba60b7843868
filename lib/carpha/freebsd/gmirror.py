"""Parse `gmirror status [-gs]` and `gmirror list [name]`.

`parse_gmirror_status` -> {"mirrors": [{"name": geom name (no "mirror/"),
"status": str, "components": [{"name", "state": str|None,
"progress": int|None}]}]}.
Format (freebsd-src sbin/geom/core/geom.c std_status/status_one_geom):
optional header `%*s  %*s  %s` ("Name", "Status", "Components"), then
rows `%*s  %*s  %s` (name and status right-aligned); without -s the name and
status of a geom's 2nd..nth component are blank; with -s (script) every row
repeats them. A component is status_one_consumer(): `prov`, `prov (STATE)`,
`prov (STATE, NN%)` or `prov (NN%)`; a geom without consumers prints `N/A`.
No mirror at all prints nothing (not even the header).

`parse_gmirror_list` -> {"mirrors": [{"name", "state", "genid", "syncid",
"balance", "components": [{"name", "state", "priority", "genid", "syncid",
"flags": [...]}], ...extras}]}.
Format (geom.c list_one_geom): `Geom name: X`, geom config `Key: value`,
`Providers:` / `Consumers:` with `N. Name: X` (or `N. [no provider]`) and
`   Key: value` lines, a blank line after each geom. Keys are the
g_mirror.c g_mirror_dumpconf() tags; older kernels print fewer of them
(no GenID/State), which then come back as None.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from . import ParseError, numbered_lines

_COMPONENT = r"(?P<prov>[^\s(]\S*)(?:\s+\((?P<detail>[^()]*)\))?"
_CONTINUATION = re.compile(r"^\s*" + _COMPONENT + r"\s*$")
_ROW = re.compile(r"^\s*(?P<name>[^\s(]\S*)\s+(?P<status>[^\s(]\S*)\s+" + _COMPONENT + r"\s*$")
_PERCENT = re.compile(r"^([0-9]{1,3})%$")
_STATE = re.compile(r"^[A-Z][A-Z_]*$")


def _geom_name(name: str) -> str:
    # Without -g the provider name is printed (mirror/gm0); callers address
    # mirrors by geom name (gmirror(8) `name` argument).
    return name[len("mirror/"):] if name.startswith("mirror/") else name


def _component(lineno: int, prov: str, detail: Optional[str]) -> Dict[str, Any]:
    state = progress = None
    if detail is not None:
        parts = [p.strip() for p in detail.split(",")]
        for part in parts:
            pm = _PERCENT.match(part)
            if pm and progress is None:
                progress = int(pm.group(1))
            elif _STATE.match(part) and state is None:
                state = part
            else:
                raise ParseError(lineno, f"component {prov}: cannot read {detail!r} as '(STATE[, NN%])'")
    return {"name": prov, "state": state, "progress": progress}


def parse_gmirror_status(text: str) -> Dict[str, List[Dict[str, Any]]]:
    mirrors: List[Dict[str, Any]] = []
    current: Optional[Dict[str, Any]] = None
    seen_data = False
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        first = not seen_data
        seen_data = True
        m = _CONTINUATION.match(line)
        if m:
            if current is None:
                raise ParseError(lineno, f"component line {line.strip()!r} before any mirror")
            current["components"].append(_component(lineno, m.group("prov"), m.group("detail")))
            continue
        m = _ROW.match(line)
        if not m:
            raise ParseError(lineno, f"expected 'NAME  STATUS  COMPONENT', got {line.strip()!r}")
        if first and (m.group("name"), m.group("status"), m.group("prov")) == ("Name", "Status", "Components"):
            continue  # header (absent with -s)
        name = _geom_name(m.group("name"))
        if current is None or current["name"] != name:
            # -s repeats name and status on every row: consecutive rows with
            # one name are one mirror.
            if any(mirror["name"] == name for mirror in mirrors):
                raise ParseError(lineno, f"mirror {name} appears twice, not on consecutive lines")
            current = {"name": name, "status": m.group("status"), "components": []}
            mirrors.append(current)
        if m.group("prov") == "N/A" and m.group("detail") is None:
            continue  # geom without any consumer
        current["components"].append(_component(lineno, m.group("prov"), m.group("detail")))
    return {"mirrors": mirrors}


# gmirror list: config keys whose values are integers (g_mirror_dumpconf).
_INT_KEYS = {"components", "id", "genid", "syncid", "priority", "slice", "sectorsize", "stripesize",
             "stripeoffset", "bytessynced"}
_ENTRY_START = re.compile(r"^(?P<n>[0-9]+)\.\s+(?:Name:\s*(?P<name>\S.*)|(?P<noprov>\[no provider\]))$")


def _list_value(lineno: int, key: str, value: str) -> Any:
    lkey = key.lower()
    try:
        if lkey in _INT_KEYS:
            return int(value)
        if lkey == "mediasize":  # "%jd (%s)": bytes, then humanized
            return int(value.split()[0]) if value else None
        if lkey == "synchronized":  # "NN%"
            return int(value.rstrip("%"))
    except ValueError:
        raise ParseError(lineno, f"{key}: {value!r} is not a number") from None
    if lkey == "flags":  # "NONE" or "DIRTY, SYNCHRONIZING"
        return [] if value == "NONE" else [f.strip() for f in value.split(",") if f.strip()]
    return value


def parse_gmirror_list(text: str) -> Dict[str, List[Dict[str, Any]]]:
    mirrors: List[Dict[str, Any]] = []
    geom: Optional[Dict[str, Any]] = None
    section = None          # None (geom config), "providers", "consumers"
    entry: Optional[Dict[str, Any]] = None
    for lineno, line in numbered_lines(text):
        stripped = line.strip()
        if not stripped:
            geom, section, entry = None, None, None
            continue
        if stripped.startswith("Geom class:"):
            continue  # printed by `geom -P provider`, not by gmirror list
        if stripped.startswith("Geom name:"):
            name = stripped[len("Geom name:"):].strip()
            if not name:
                raise ParseError(lineno, "empty 'Geom name:'")
            geom = {"name": name, "state": None, "genid": None, "syncid": None,
                    "balance": None, "components": [], "providers": []}
            mirrors.append(geom)
            section, entry = None, None
            continue
        if geom is None:
            raise ParseError(lineno, f"expected 'Geom name: NAME', got {stripped!r}")
        if stripped in ("Providers:", "Consumers:") and not line[0].isspace():
            section = stripped[:-1].lower()
            entry = None
            continue
        start = _ENTRY_START.match(stripped)
        if start and not line[0].isspace():
            if section is None:
                raise ParseError(lineno, f"{stripped!r} outside a Providers:/Consumers: block")
            entry = {"name": start.group("name").strip() if start.group("name") else None}
            geom["providers" if section == "providers" else "components"].append(entry)
            continue
        key, colon, value = stripped.partition(":")
        if not colon or not key or " " in key.strip():
            raise ParseError(lineno, f"expected 'Key: value', got {stripped!r}")
        key, value = key.strip(), value.strip()
        if line[0].isspace():
            if entry is None:
                raise ParseError(lineno, f"indented {key!r} line outside a provider or consumer")
            entry[key.lower()] = _list_value(lineno, key, value)
        else:
            if section is not None:
                raise ParseError(lineno, f"unindented {key!r} inside the {section} block")
            lkey = key.lower()
            # "Components: N" is the configured count; "components" holds the list.
            geom["component_count" if lkey == "components" else lkey] = _list_value(lineno, key, value)
    for mirror in mirrors:
        for component in mirror["components"]:
            for key in ("state", "priority", "genid", "syncid"):
                component.setdefault(key, None)
            component.setdefault("flags", [])
        mirror.setdefault("flags", [])
    return {"mirrors": mirrors}
