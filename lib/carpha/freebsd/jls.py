"""Parse `jls`, `jls -N` and `jls --libxo json` (which one is detected).

Output: [{"jid": int, "name": str|None, "ip": str|None, "hostname": str,
"path": str}] in the printed order.

Formats (freebsd-src usr.sbin/jls/jls.c):
- plain: header `   JID  IP Address      Hostname                      Path`,
  rows `%6d  %-15.15s %-29.29s %.74s` (jid, first IPv4, hostname, path);
  the IP column is `-` when the jail has no IPv4 in the pre-libxo jls.c and
  blank in the libxo one. Hostname and path may contain spaces, so rows are
  cut at the printf column widths, measured from the end of the jid (a jid
  wider than 6 digits pushes the columns right). Hostname is truncated to
  29 characters and path to 74 by jls itself.
- `-N`: header ` JID             IP Address      Hostname                      Path`,
  rows `{P: }{:name/%-15s}{P: }` then the same three columns; the name is
  padded to 15 but not truncated, so a longer name pushes the columns right.
- `--libxo json`: {"__version": "2", "jail-information": {"jail": [...]}}
  with keys jid, name (-N), ipv4 (string, "" if none), hostname, path; with
  explicit parameters (`jls --libxo json name jid path`) keys are the
  parameter names (host.hostname, ip4.addr as a list), which are read too.
If the fixed columns do not line up (whitespace altered in transit), a row
of exactly 4 (or 3 when the IP is blank) blank-free fields is still read.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Dict, List, Optional

from . import ParseError

_PLAIN_HEADER = re.compile(r"^\s*JID\s+IP Address\s+Hostname\s+Path\s*$")
_JID = re.compile(r"^ *([0-9]+)  ")
_IP_WIDTH, _HOST_WIDTH = 15, 29


def parse_jls(text: str) -> List[Dict[str, Any]]:
    if text.lstrip().startswith("{"):
        return _parse_json(text)
    lines = text.split("\n")
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        # jls always prints its header, even with no jail running.
        raise ParseError(None, "empty output: jls prints a header line even with no jails")
    header = lines[header_at].rstrip()
    if not _PLAIN_HEADER.match(header):
        raise ParseError(header_at + 1, f"expected the jls header '   JID  IP Address  Hostname  Path', got {header.strip()!r}")
    # -N prints " JID" left-aligned in the 15-wide name column; plain jls
    # right-aligns it in a 6-wide column ("   JID").
    named = header.startswith(" JID ")
    jails = []
    for index in range(header_at + 1, len(lines)):
        line = lines[index].rstrip()
        if not line.strip():
            continue
        lineno = index + 1
        row = _fixed_columns(line, named)
        if row is None:
            row = _blank_separated(lineno, line, named)
        jails.append(row)
    return jails


def _fixed_columns(line: str, named: bool) -> Optional[Dict[str, Any]]:
    if named:
        if not line.startswith(" ") or len(line) < 2 or line[1] == " ":
            return None
        # Name is %-15s: 15 wide unless longer; a longer one ends at the
        # first blank after column 16.
        end = 16 if len(line) <= 16 or line[16] == " " else line.find(" ", 16)
        if end < 0:
            return None
        name: Optional[str] = line[1:end].rstrip()
        jid = None
        start = end + 1
    else:
        m = _JID.match(line)
        if not m:
            return None
        name, jid, start = None, int(m.group(1)), m.end()
    padded = line.ljust(start + _IP_WIDTH + 1 + _HOST_WIDTH + 1)
    ip_field = padded[start:start + _IP_WIDTH]
    sep1 = padded[start + _IP_WIDTH]
    host_start = start + _IP_WIDTH + 1
    host = padded[host_start:host_start + _HOST_WIDTH]
    sep2 = padded[host_start + _HOST_WIDTH]
    path = padded[host_start + _HOST_WIDTH + 1:].rstrip()
    if sep1 != " " or sep2 != " " or ip_field.startswith(" ") and ip_field.strip():
        return None
    ip = _ip_or_none(ip_field.strip())
    if ip is False or not host.strip() or not path or host.startswith(" ") or path.startswith(" "):
        return None
    return {"jid": jid, "name": name, "ip": ip, "hostname": host.rstrip(), "path": path}


def _blank_separated(lineno: int, line: str, named: bool) -> Dict[str, Any]:
    fields = line.split()
    if len(fields) == 3:  # blank IP column
        fields.insert(1, "")
    if len(fields) != 4:
        raise ParseError(lineno, f"expected {'NAME' if named else 'JID'}, IP, hostname and path columns, got {line.strip()!r}")
    first, ip_text, host, path = fields
    ip = _ip_or_none(ip_text)
    if ip is False:
        raise ParseError(lineno, f"IP column {ip_text!r} is not an IPv4 address or '-'")
    if named:
        return {"jid": None, "name": first, "ip": ip, "hostname": host, "path": path}
    if not first.isascii() or not first.isdigit():
        raise ParseError(lineno, f"JID column {first!r} is not a number")
    return {"jid": int(first), "name": None, "ip": ip, "hostname": host, "path": path}


def _ip_or_none(text: str):
    """None for '' or '-', the address if valid IPv4, else False."""
    if text in ("", "-"):
        return None
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return False


def _parse_json(text: str) -> List[Dict[str, Any]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(e.lineno, f"jls --libxo json: {e.msg} (column {e.colno})") from None
    info = document.get("jail-information") if isinstance(document, dict) else None
    if not isinstance(info, dict):
        raise ParseError(None, "jls --libxo json: no 'jail-information' object")
    entries = info.get("jail", [])
    if not isinstance(entries, list):
        raise ParseError(None, "jls --libxo json: 'jail' is not a list")
    return [_json_jail(i, entry) for i, entry in enumerate(entries)]


def _json_jail(index: int, entry: Any) -> Dict[str, Any]:
    where = f"jls --libxo json: jail #{index + 1}"
    if not isinstance(entry, dict):
        raise ParseError(None, f"{where} is not an object")
    jid: Any = entry.get("jid")
    try:
        # Parameter mode (jls --libxo json jid ...) exports values as strings.
        jid = int(jid) if jid is not None else None
    except (TypeError, ValueError):
        raise ParseError(None, f"{where}: jid {jid!r} is not a number") from None
    ip, name = _json_ip(entry), entry.get("name")
    hostname = entry.get("hostname", entry.get("host.hostname"))
    path = entry.get("path")
    for key, value in (("name", name), ("hostname", hostname), ("path", path)):
        if value is not None and not isinstance(value, str):
            raise ParseError(None, f"{where}: {key} {value!r} is not a string")
    if ip is False:
        raise ParseError(None, f"{where}: IPv4 address {entry.get('ipv4')!r} is not valid")
    return {"jid": jid, "name": name, "ip": ip, "hostname": hostname, "path": path}


def _json_ip(entry: Dict[str, Any]):
    if "ipv4" in entry:
        value = entry["ipv4"]
    else:
        # -v uses "ipv4_addrs", parameter mode "ip4.addr": lists; first one
        # as plain jls shows only the first IPv4 address.
        listed = entry.get("ipv4_addrs", entry.get("ip4.addr"))
        value = listed[0] if isinstance(listed, list) and listed else ""
    if not isinstance(value, str):
        return False
    return _ip_or_none(value.strip())
