"""Read-only probes of a node's reality, through the runner and carpha's own
parsers. Each returns plain data; none changes anything (they run in a dry
run too). Output we cannot parse raises ParseError: carpha never acts on
output it does not understand."""

from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Sequence, Set, Tuple

from ..freebsd import commands as cmd
from ..freebsd import parse_text

# `gmirror list` when geom_mirror is not loaded: "Command 'list' not
# available; try 'load' first." exit 1 (reference 4.4).
_NOT_LOADED = "not available"


def get_interfaces(ctx) -> Dict[str, dict]:
    return parse_text("ifconfig", ctx.query(cmd.ifconfig_all()).stdout)


def _vhid(interfaces: Dict[str, dict], binding) -> Optional[dict]:
    iface = interfaces.get(binding.interface)
    if iface is None:
        return None
    return next((c for c in iface.get("carp", []) if c["vhid"] == binding.vhid), None)


def get_carp(ctx, interfaces: Optional[Dict[str, dict]] = None) -> Optional[dict]:
    """The group's vhid as parse_ifconfig reads it ({"state", "vhid",
    "advbase", "advskew"} plus "peer"/"peer6" on 14.x), or None when the
    vhid (or its interface) does not exist on this node."""
    if ctx.group.carp is None:          # a NAS group (local-gmirror): no vhid
        return None
    return _vhid(interfaces if interfaces is not None else get_interfaces(ctx), ctx.group.carp)


def get_carps(ctx, interfaces: Optional[Dict[str, dict]] = None) -> List[Tuple[object, Optional[dict]]]:
    """(binding, vhid as get_carp reads it) for each of the group's vhids."""
    interfaces = interfaces if interfaces is not None else get_interfaces(ctx)
    return [(binding, _vhid(interfaces, binding)) for binding in ctx.group.bindings]


SPLIT = "SPLIT"       # MASTER of some of the group's vhids only: serve nothing (carpha.safety.vhids)


def combined(states: Sequence[Optional[str]]) -> Optional[str]:
    """The group's CARP state from each vhid's (the first is the group's
    own `carp`): MASTER only when every vhid is MASTER here; SPLIT when some
    are; otherwise the first vhid's state (BACKUP, INIT or None)."""
    masters = sum(1 for s in states if s == "MASTER")
    if states and masters == len(states):
        return "MASTER"
    if masters:
        return SPLIT
    return states[0] if states else None


def get_carp_state(ctx, interfaces: Optional[Dict[str, dict]] = None) -> Optional[str]:
    """MASTER/BACKUP/INIT for the group's vhid, or None when the vhid (or
    its interface) does not exist on this node; for a multi-vhid group,
    MASTER only when every vhid is, SPLIT when some are (carpha.safety.vhids)."""
    return combined([None if c is None else c["state"] for _, c in get_carps(ctx, interfaces)])


def find_address(interfaces: Dict[str, dict], ip) -> List[dict]:
    """Every place `ip` is configured: [{"interface", "prefixlen", "vhid"}]."""
    family = "inet" if ip.version == 4 else "inet6"
    found = []
    for name, iface in interfaces.items():
        for entry in iface.get(family, []):
            if not entry.get("redacted") and ipaddress.ip_address(entry["address"]) == ip:
                found.append({"interface": name, "prefixlen": entry["prefixlen"], "vhid": entry.get("vhid")})
    return found


def get_mirrors(ctx) -> Optional[Dict[str, dict]]:
    """Running mirrors by geom name, or None when geom_mirror is not loaded."""
    result = ctx.query(cmd.gmirror_list(), timeout="storage", check=False)
    if result.returncode != 0:
        if _NOT_LOADED in result.stderr:
            return None
        from .runner import CommandFailed
        raise CommandFailed(result.argv, result.returncode, result.stdout, result.stderr)
    return {m["name"]: m for m in parse_text("gmirror-list", result.stdout)["mirrors"]}




def get_ggate_devices(ctx) -> List[dict]:
    return parse_text("ggatec-list", ctx.query(cmd.ggatec_list(), timeout="storage").stdout)


def is_running(ctx, argv) -> bool:
    """Whether any process runs with exactly this argument list (pgrep:
    0 matched, 1 none, 2-3 errors; only 0 means running)."""
    return ctx.query(cmd.pgrep_argv(argv), check=False).returncode == 0


def get_mounts(ctx) -> List[dict]:
    return parse_text("mount", ctx.query(cmd.mount_list()).stdout)


def get_running_jails(ctx) -> Set[str]:
    return {j["name"] for j in parse_text("jls", ctx.query(cmd.jls_names()).stdout) if j.get("name")}


def is_service_running(ctx, name: str) -> bool:
    # rc.subr's status (libexec/rc/rc.subr run_rc_command): "NAME is running
    # as pid N." exit 0, or "NAME is not running." exit 1.
    return ctx.query(cmd.service_status(name), timeout="service", check=False).returncode == 0
