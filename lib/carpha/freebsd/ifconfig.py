"""Parse `ifconfig`, `ifconfig IF` and `ifconfig -f inet:cidr,inet6:cidr`.

Output: {ifname: {"flags": [...], "mtu": int, "ether": str|None,
"inet": [{"address", "prefixlen", "vhid", ...}], "inet6": [...],
"carp": [{"state", "vhid", "advbase", "advskew", ...}], "status": str|None,
plus "metric", "options", "description", "media" when printed}}.

Formats (freebsd-src sbin/ifconfig):
- header, ifconfig_netlink.c status_nl(): `%s: flags=%x<BITS>[ metric %d] mtu %d`;
- block lines start with a tab; unknown ones (groups:, hwaddr, nd6 options=,
  media:, member:, ...) are skipped;
- af_inet.c in_status_nl(): `\\tinet ADDR[ --> DST]( netmask 0x%lx | /%d |
  netmask DOTTED)[ broadcast B][ vhid N]`;
- af_inet6.c in6_status_nl(): `\\tinet6 ADDR[%zone][ --> DST]( prefixlen N | /N)
  [ flag ...][ scopeid 0x%x][ pltime P vltime V][ vhid N]`;
- carp.c carp_status(): `\\tcarp: STATE vhid %d advbase %d advskew %d[ key "K"]`
  and on 14.x a second line `\\t      peer A peer6 B`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Dict, List, Optional

from . import ParseError, numbered_lines

_HEADER = re.compile(
    r"^(?P<name>[^\s:]+): flags=(?P<hex>[0-9a-fA-F]+)(?:<(?P<bits>[^>]*)>)?(?P<rest>.*)$"
)
_MTU = re.compile(r"(?:^|\s)mtu (\d+)(?:\s|$)")
_METRIC = re.compile(r"(?:^|\s)metric (\d+)(?:\s|$)")
_CARP = re.compile(
    r"^carp:\s+(?P<state>\S+)\s+vhid\s+(?P<vhid>\d+)\s+advbase\s+(?P<advbase>\d+)"
    r"\s+advskew\s+(?P<advskew>\d+)(?:\s+key\s+\"(?P<key>.*)\")?$"
)
_PEER = re.compile(r"^peer\s+(?P<peer>\S+)\s+peer6\s+(?P<peer6>\S+)$")
_OPTIONS = re.compile(r"^options=[0-9a-fA-F]+(?:<(?P<bits>[^>]*)>)?$")
# ifconfig prints ether addresses as six colon-separated hex pairs; letters
# beyond a-f are accepted so a redacted capture (xx:xx:xx:31:70:3d) still parses.
_ETHER = re.compile(r"^[0-9A-Za-z]{1,2}(?::[0-9A-Za-z]{1,2}){5}$")
_DIGITS = re.compile(r"[0-9]+")
_CARP_STATES = ("INIT", "BACKUP", "MASTER")  # CARP_STATES, sys/netinet/ip_carp.h
_INET6_KEYWORDS = ("prefixlen", "scopeid", "vhid", "pltime", "vltime", "-->")


def parse_ifconfig(text: str) -> Dict[str, Dict[str, Any]]:
    interfaces: Dict[str, Dict[str, Any]] = {}
    current: Optional[Dict[str, Any]] = None
    for lineno, line in numbered_lines(text):
        if not line.strip():
            continue
        if not line[0].isspace():
            name, iface = _parse_header(lineno, line)
            if name in interfaces:
                raise ParseError(lineno, f"interface {name} appears twice")
            interfaces[name] = current = iface
            continue
        if current is None:
            raise ParseError(lineno, "indented line before any 'IFNAME: flags=...' header")
        _parse_block_line(lineno, line.strip(), current)
    return interfaces


def _parse_header(lineno: int, line: str):
    m = _HEADER.match(line)
    if not m:
        raise ParseError(lineno, f"expected 'IFNAME: flags=HEX<...> mtu N', got {line!r}")
    rest = m.group("rest")
    mtu = _MTU.search(rest)
    if not mtu:
        raise ParseError(lineno, f"interface {m.group('name')}: no mtu in header")
    bits = m.group("bits")
    iface: Dict[str, Any] = {
        "flags": [b for b in bits.split(",") if b] if bits else [],
        "mtu": int(mtu.group(1)),
        "ether": None,
        "inet": [],
        "inet6": [],
        "carp": [],
        "status": None,
    }
    metric = _METRIC.search(rest)
    if metric:
        iface["metric"] = int(metric.group(1))
    return m.group("name"), iface


def _parse_block_line(lineno: int, line: str, iface: Dict[str, Any]) -> None:
    word = line.split(None, 1)[0]
    if word == "inet":
        iface["inet"].append(_parse_inet(lineno, line.split()))
    elif word == "inet6":
        iface["inet6"].append(_parse_inet6(lineno, line.split()))
    elif word == "carp:":
        iface["carp"].append(_parse_carp(lineno, line))
    elif word == "peer":
        # 14.x carp.c prints the peer line right after its carp line.
        m = _PEER.match(line)
        if not m:
            raise ParseError(lineno, f"expected 'peer A peer6 B', got {line!r}")
        if not iface["carp"] or "peer" in iface["carp"][-1]:
            raise ParseError(lineno, "carp peer line without a carp line before it")
        iface["carp"][-1]["peer"] = _address(lineno, m.group("peer"), 4)
        iface["carp"][-1]["peer6"] = _address(lineno, m.group("peer6"), 6)
    elif word == "ether":
        parts = line.split()
        if len(parts) != 2 or not _ETHER.match(parts[1]):
            raise ParseError(lineno, f"expected 'ether XX:XX:XX:XX:XX:XX', got {line!r}")
        iface["ether"] = parts[1]
    elif word == "status:":
        iface["status"] = line[len("status:"):].strip()
    elif word == "description:":
        iface["description"] = line[len("description:"):].strip()
    elif word == "media:":
        iface["media"] = line[len("media:"):].strip()
    elif word.startswith("options="):
        m = _OPTIONS.match(line)
        if m:
            bits = m.group("bits")
            iface["options"] = [b for b in bits.split(",") if b] if bits else []
    # Anything else (groups:, hwaddr, nd6 options=, lladdr, member:, ...) is
    # another feature's line: skipped on purpose.


def _parse_inet(lineno: int, tokens: List[str]) -> Dict[str, Any]:
    if len(tokens) < 2:
        raise ParseError(lineno, "inet line without an address")
    address, slash, cidr = tokens[1].partition("/")
    entry: Dict[str, Any] = {"address": _address(lineno, address, 4), "prefixlen": None, "vhid": None}
    if slash:
        entry["prefixlen"] = _int(lineno, cidr, "prefix length", 0, 32)
    i = 2
    while i < len(tokens):
        key = tokens[i]
        if i + 1 >= len(tokens):
            raise ParseError(lineno, f"inet {address}: {key!r} without a value (truncated line?)")
        value = tokens[i + 1]
        if key == "netmask":
            entry["prefixlen"] = _netmask_to_prefixlen(lineno, value)
        elif key == "broadcast":
            entry["broadcast"] = _address(lineno, value, 4)
        elif key == "-->":
            entry["destination"] = _address(lineno, value, 4)
        elif key == "vhid":
            entry["vhid"] = _int(lineno, value, "vhid", 1, 255)
        else:
            raise ParseError(lineno, f"inet {address}: unexpected {key!r}")
        i += 2
    if entry["prefixlen"] is None:
        raise ParseError(lineno, f"inet {address}: no netmask or /prefix")
    return entry


# Published captures hide hex digits as "x" (fe80::xxxx:xxff:fe31:703d):
# kept verbatim and marked, never used as an address (observe skips them).
_REDACTED_V6 = re.compile(r"(?=[0-9a-fA-F:x]*x)[0-9a-fA-F:x]+")


def _parse_inet6(lineno: int, tokens: List[str]) -> Dict[str, Any]:
    if len(tokens) < 2:
        raise ParseError(lineno, "inet6 line without an address")
    address, slash, cidr = tokens[1].partition("/")
    address, percent, zone = address.partition("%")
    redacted = bool(_REDACTED_V6.fullmatch(address))
    entry: Dict[str, Any] = {
        "address": address if redacted else _address(lineno, address, 6),
        "prefixlen": _int(lineno, cidr, "prefix length", 0, 128) if slash else None,
        "vhid": None,
        "flags": [],
        "scopeid": None,
        "zone": zone if percent else None,
    }
    i = 2
    while i < len(tokens):
        key = tokens[i]
        if key not in _INET6_KEYWORDS:
            # Address flags (tentative, deprecated, detached, autoconf, ...):
            # bare lower-case words, a set that grows between releases.
            if not re.fullmatch(r"[a-z_]+", key):
                raise ParseError(lineno, f"inet6 {address}: unexpected {key!r}")
            entry["flags"].append(key)
            i += 1
            continue
        if i + 1 >= len(tokens):
            raise ParseError(lineno, f"inet6 {address}: {key!r} without a value (truncated line?)")
        value = tokens[i + 1]
        i += 2
        if key == "prefixlen":
            entry["prefixlen"] = _int(lineno, value, "prefixlen", 0, 128)
        elif key == "scopeid":
            try:
                entry["scopeid"] = int(value, 16)
            except ValueError:
                raise ParseError(lineno, f"inet6 {address}: scopeid {value!r} is not 0xHEX") from None
        elif key == "vhid":
            entry["vhid"] = _int(lineno, value, "vhid", 1, 255)
        elif key == "-->":
            entry["destination"] = _address(lineno, value.partition("%")[0], 6)
        else:
            # pltime/vltime (-L): "infty" and/or seconds; af_inet6.c
            # print_lifetime() may print both words.
            lifetime = value
            if value == "infty" and i < len(tokens) and _DIGITS.fullmatch(tokens[i]):
                i += 1
            elif value != "infty" and not _DIGITS.fullmatch(value):
                raise ParseError(lineno, f"inet6 {address}: {key} {value!r} is not seconds or infty")
            entry[key] = lifetime if lifetime == "infty" else int(lifetime)
    if entry["prefixlen"] is None:
        raise ParseError(lineno, f"inet6 {address}: no prefixlen or /prefix")
    if redacted:
        entry["redacted"] = True
    return entry


def _parse_carp(lineno: int, line: str) -> Dict[str, Any]:
    m = _CARP.match(line)
    if not m:
        raise ParseError(lineno, f"expected 'carp: STATE vhid N advbase N advskew N', got {line!r}")
    if m.group("state") not in _CARP_STATES:
        raise ParseError(lineno, f"carp state {m.group('state')!r} is not one of {', '.join(_CARP_STATES)}")
    entry: Dict[str, Any] = {
        "state": m.group("state"),
        "vhid": _int(lineno, m.group("vhid"), "vhid", 1, 255),
        "advbase": int(m.group("advbase")),
        "advskew": int(m.group("advskew")),
    }
    if m.group("key") is not None:  # only with ifconfig -k
        entry["key"] = m.group("key")
    return entry


def _netmask_to_prefixlen(lineno: int, value: str) -> int:
    try:
        if value.lower().startswith("0x"):  # default: printf("netmask 0x%lx")
            mask = int(value, 16)
        else:  # -f inet:dotted
            mask = int(ipaddress.IPv4Address(value))
    except ValueError:
        raise ParseError(lineno, f"netmask {value!r} is neither 0xHEX nor dotted quad") from None
    if not 0 <= mask <= 0xFFFFFFFF:
        raise ParseError(lineno, f"netmask {value} is wider than 32 bits")
    prefixlen = bin(mask).count("1")
    if mask != (0xFFFFFFFF << (32 - prefixlen)) & 0xFFFFFFFF:
        raise ParseError(lineno, f"netmask {value} is not contiguous")
    return prefixlen


def _address(lineno: int, text: str, version: int) -> str:
    try:
        parsed = ipaddress.IPv4Address(text) if version == 4 else ipaddress.IPv6Address(text)
    except ValueError:
        raise ParseError(lineno, f"{text!r} is not an IPv{version} address") from None
    return str(parsed)


def _int(lineno: int, text: str, what: str, low: int, high: int) -> int:
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise ParseError(lineno, f"{what} {text!r} is not an integer in {low}..{high}")
    return int(text)
