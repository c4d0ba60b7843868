"""The groups section: each group's nodes, preferred node, CARP vhids,
service addresses, jails and services, each unique across the groups (its
storage and filesystems: carpha.config.storage).
"""

from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Tuple

from yaml.nodes import SequenceNode

from .limits import BY_HAND, GROUP_NAME, INTERFACE_NAME, JAIL_NAME, MAX_VHIDS, SERVICE_NAME
from .messages import _excerpt, _invalid, _listed, _q
from .model import Alias, CarpBinding, Group, IPInterface, Storage
from .values import _Section, _Unique
from .yamlfile import _line


def _address_problem(address: IPInterface) -> Optional[str]:
    """Why `address` (with its prefix) cannot be a CARP service address, or
    None. Network and broadcast addresses: RFC 919/922 (IPv4; /31 and /32
    have none, RFC 3021); the all-zeros IPv6 interface id is the
    subnet-router anycast address (RFC 4291 2.6.1; /127 and /128 have none,
    RFC 6164)."""
    ip, net = address.ip, address.network
    if net.prefixlen == 0:
        return f"{address}: a /0 prefix claims every address; give the subnet's prefix (/24, /64...)"
    for test, what in (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
                       ("is_multicast", "a multicast address"),
                       ("is_link_local", "link-local (169.254.0.0/16, fe80::/10): not reachable beyond the"
                                         " link, and fe80:: addresses need a scope")):
        if getattr(ip, test):
            return f"{ip} is {what}; a service address must be a unicast address of the subnet"
    if ip.version == 4 and net.prefixlen <= 30:
        if ip == net.network_address:
            return f"{ip} is the network address of {net}, not a host address"
        if ip == net.broadcast_address:
            return f"{ip} is the broadcast address of {net}, not a host address"
    if ip.version == 6 and net.prefixlen <= 126 and ip == net.network_address:
        return f"{ip} is the subnet-router anycast address of {net} (RFC 4291), not a host address"
    return None


class _GroupSections:
    """The readers of groups, carp and addresses (a part of _Reader)."""

    def _read_groups(self, top: _Section, nodes) -> Dict[str, Group]:
        section = top.get("groups", lambda n, p: self.section(n, p, top.key_line("groups")), required=True)
        if section is None:
            return {}
        if len(section) < 1:
            self.problem(section.line, "groups", "expected at least 1 group, got none")
        seen = {kind: _Unique(self) for kind in (
            "carp", "mountpoint", "jail", "service", "port", "unit", "mirror")}
        seen["ip"] = self.ips
        groups: Dict[str, Group] = {}
        for name, line, value in section.items():
            path = f"groups.{name}"
            if not GROUP_NAME.fullmatch(name):
                self.problem(line, path, _invalid(name, "group name", GROUP_NAME))
            groups[name] = self._read_group(name, line, value, nodes, seen)
        return groups

    def _read_group(self, name: str, line: int, value, nodes, seen) -> Group:
        path = f"groups.{name}"
        section = self.section(value, path, line, {
            "nodes", "preferred_node", "carp", "addresses", "storage", "filesystems", "jails", "services"})
        if section is None:
            return Group(name, (), None, None, (), Storage("none"))

        members = section.get("nodes", lambda n, p: self._group_nodes(n, p, nodes), required=True)
        preferred = section.get("preferred_node", self.text, required=True)
        if preferred is not None and members is not None and preferred not in members:
            self.problem(section.key_line("preferred_node"), f"{path}.preferred_node",
                         f"{_excerpt(preferred)} is not one of the group's nodes ({_listed(members)})")

        bindings = section.get("carp", lambda n, p: self._carps(n, p, section.key_line("carp")))
        carp, more_carp = (bindings[0], tuple(bindings[1:])) if bindings else (None, ())
        for index, binding in enumerate(bindings or ()):
            where = f"{path}.carp" + (f"[{index}]" if len(bindings) > 1 else "")
            seen["carp"].add(binding.subsystem, binding.subsystem, section.key_line("carp"), where)

        addresses = section.get("addresses", lambda n, p: self._aliases(n, p, seen["ip"]), required=True)
        if len(bindings or ()) > 1:
            interfaces = {b.interface for b in bindings}
            for index, alias in enumerate(addresses or ()):
                if alias.interface not in interfaces:
                    # which vhid it follows would be anybody's guess
                    self.problem(section.key_line("addresses"), f"{path}.addresses[{index}]",
                                 f"{alias.interface} is not the interface of any of the group's vhids "
                                 f"({_listed(sorted(interfaces))})")
        for at, binding in enumerate(bindings or ()):
            if binding.address is None:
                continue
            own = f"{path}.carp" + (f"[{at}]" if len(bindings) > 1 else "") + ".address"
            for index, alias in enumerate(addresses or ()):
                if alias.ip == binding.address.ip:
                    # claim/release add and remove every listed address.
                    self.problem(section.key_line("addresses"), f"{path}.addresses[{index}]",
                                 f"{alias.ip} is the vhid's own address ({own}), which rc.conf"
                                 f" configures; list only the service aliases carpha adds and removes")
        storage = section.get("storage", lambda n, p: self._storage(
            n, p, section.key_line("storage"), members, nodes, seen), default=Storage("none"))
        if storage.kind == BY_HAND and "carp" in section:
            self.problem(section.key_line("carp"), f"{path}.carp",
                         "a local-gmirror group moves with its drives, not with CARP: no carp")
            bindings, carp, more_carp = None, None, ()
        elif storage.kind != BY_HAND and "carp" not in section:
            self.problem(section.line, f"{path}.carp", "required key is missing")
        filesystems = section.get("filesystems", lambda n, p: self._filesystems(n, p, seen["mountpoint"]),
                                  default=())
        jails = section.get("jails", lambda n, p: self._names(n, p, JAIL_NAME, "jail name", seen["jail"]),
                            default=())
        services = section.get("services", lambda n, p: self._names(
            n, p, SERVICE_NAME, "service name", seen["service"]), default=())
        return Group(name, members or (), preferred, carp, addresses or (), storage,
                     filesystems or (), jails or (), services or (), more_carp)

    def _group_nodes(self, node, path: str, nodes) -> Optional[Tuple[str, ...]]:
        items = self.sequence(node, path)
        if items is None:
            return None
        members: List[str] = []
        for item_path, item in items:
            member = self.text(item, item_path)
            if member is None:
                continue
            if nodes is not None and member not in nodes:
                self.problem(_line(item), item_path, self._not_a_node(member, nodes))
            elif member in members:
                self.problem(_line(item), item_path, f"{member} is listed twice")
                continue
            members.append(member)
        if len(items) < 2:
            self.problem(_line(node), path, f"expected at least 2 nodes, got {len(items)}")
        return tuple(members)

    def _carps(self, node, path: str, line: int) -> Optional[Tuple[CarpBinding, ...]]:
        """`carp:` one vhid (a mapping) or several that move as one (a list
        of 1 to MAX_VHIDS mappings)."""
        if not isinstance(node, SequenceNode):
            binding = self._carp(node, path, line)
            return None if binding is None else (binding,)
        items = self.sequence(node, path)
        if items is None:
            return None
        if not 1 <= len(items) <= MAX_VHIDS:
            self.problem(_line(node), path, f"expected 1 to {MAX_VHIDS} vhids, got {len(items)}")
        bindings = tuple(b for b in (self._carp(item, item_path, _line(item)) for item_path, item in items)
                         if b is not None)
        return bindings if len(bindings) == len(items) else None

    def _carp(self, node, path: str, line: int) -> Optional[CarpBinding]:
        section = self.section(node, path, line, {"interface", "vhid", "address"})
        if section is None:
            return None
        interface = section.get("interface", lambda n, p: self.name(n, p, INTERFACE_NAME, "interface name"),
                                required=True)
        vhid = section.get("vhid", lambda n, p: self.integer(n, p, 1, 255), required=True)
        address = section.get("address", self._carp_address)
        if interface is None or vhid is None:
            return None
        return CarpBinding(interface, vhid, address)

    def _carp_address(self, node, path: str) -> Optional[IPInterface]:
        value = self.text(node, path)
        if value is None:
            return None
        if "/" not in value:
            self.problem(_line(node), path, f"{_q(value)} has no /prefix")
            return None
        try:
            address = ipaddress.ip_interface(value)
        except ValueError:
            self.problem(_line(node), path, f"{_q(value)} is not an IP address with a prefix")
            return None
        why = _address_problem(address)
        if why:
            self.problem(_line(node), path, why)
            return None
        return address

    def _aliases(self, node, path: str, seen_ip: _Unique) -> Optional[Tuple[Alias, ...]]:
        items = self.sequence(node, path)
        if items is None:
            return None
        if not items:
            self.problem(_line(node), path, "expected at least one address, got an empty list")
        aliases = []
        for item_path, item in items:
            alias = self._alias(item, item_path)
            if alias is not None:
                seen_ip.add(alias.ip, str(alias.ip), _line(item), item_path)
                aliases.append(alias)
        return tuple(aliases)

    def _alias(self, node, path: str) -> Optional[Alias]:
        value = self.text(node, path)
        if value is None:
            return None
        parts = value.split()
        if len(parts) != 2:
            self.problem(_line(node), path, f"expected 'INTERFACE ADDRESS/PREFIX', got {_q(value)}")
            return None
        interface, address = parts
        if not INTERFACE_NAME.fullmatch(interface):
            self.problem(_line(node), path, _invalid(interface, "interface name", INTERFACE_NAME))
            return None
        if "/" not in address:
            self.problem(_line(node), path, f"{_q(address)} has no /prefix")
            return None
        try:
            alias = Alias(interface, ipaddress.ip_interface(address))
        except ValueError:
            self.problem(_line(node), path, f"{_q(address)} is not an IPv4 or IPv6 address with a prefix")
            return None
        why = _address_problem(alias.interface_address)
        if why:
            self.problem(_line(node), path, why)
            return None
        return alias
