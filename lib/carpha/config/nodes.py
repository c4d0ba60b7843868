"""The nodes, this node, the witness and the watchdog sections: which
machines there are and at which address, which one this is, how the lease
is kept and how a hardware watchdog bounds the old master.
"""

from __future__ import annotations

import ipaddress
from typing import Dict, Optional

from .limits import MAX_FENCE_STEP_SECONDS, MIN_FENCE_STEP_SECONDS, MIN_INTERVAL_SECONDS, NODE_NAME, WITNESS_KINDS
from .messages import _excerpt, _invalid, _listed, _q
from .model import IPAddress, Node, Watchdog, Witness
from .values import _Section, _default
from .yamlfile import _line


class _NodeSections:
    """The readers of nodes, node, witness and watchdog (a part of _Reader)."""

    def _read_nodes(self, top: _Section) -> Optional[Dict[str, Node]]:
        section = top.get("nodes", lambda n, p: self.section(n, p, top.key_line("nodes")), required=True)
        if section is None:
            return None
        if len(section) < 2:
            self.problem(section.line, "nodes", f"expected at least 2 nodes, got {len(section)}")
        nodes: Dict[str, Node] = {}
        for name, line, value in section.items():
            path = f"nodes.{name}"
            if not NODE_NAME.fullmatch(name):
                self.problem(line, path, _invalid(name, "node name", NODE_NAME))
            address = None
            entry = self.section(value, path, line, {"address"})
            if entry is not None:
                address = entry.get("address", self._address, required=True)
            if address is not None:
                self.ips.add(address, str(address), entry.key_line("address"), f"{path}.address")
            nodes[name] = Node(name, address)
        return nodes

    def _address(self, node, path: str) -> Optional[IPAddress]:
        value = self.text(node, path)
        if value is None:
            return None
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            self.problem(_line(node), path, f"{_q(value)} is not an IPv4 or IPv6 address")
            return None

    def _not_a_node(self, name: str, nodes) -> str:
        return f"{_excerpt(name)} is not one of the nodes ({_listed(nodes)})"

    def _read_node(self, top: _Section, nodes, override: Optional[str]) -> Optional[str]:
        written = top.get("node", self.text)
        if written is not None and nodes is not None and written not in nodes:
            self.problem(top.key_line("node"), "node", self._not_a_node(written, nodes))
        if override is not None:
            if nodes is not None and override not in nodes:
                self.problem(top.line, "node", f"{override} (given by the caller) is not one of"
                                               f" the nodes ({_listed(nodes)})")
            return override
        if "node" in top:
            return written
        import socket     # here: only without a node key or --node; a few ms at every worker start
        hostname = socket.gethostname().split(".")[0]
        if nodes is not None and hostname not in nodes:
            self.problem(top.line, "node", f"not set, and this host's name {hostname} is not one of"
                                           f" the nodes ({_listed(nodes)})")
        return hostname

    def _read_witness(self, top: _Section, nodes) -> Witness:
        if "witness" not in top:
            self.warn(top.line, "witness.kind",
                      "none: two masters are possible when the nodes cannot hear each other")
            return Witness("none")
        section = top.get("witness", lambda n, p: self.section(n, p, top.key_line("witness"), {
            "kind", "node", "path", "interval_seconds", "takeover_after_seconds", "fence_after_seconds",
            "fence_step_seconds"}))
        if section is None:
            return Witness("none")
        kind = section.get("kind", lambda n, p: self.choice(n, p, WITNESS_KINDS), default="lease")
        timing = {name: section.get(name, self.seconds, default=_default(Witness, name))
                  for name in ("takeover_after_seconds", "fence_after_seconds")}
        # Each beat writes the lease on the witness share: a beat every
        # microsecond is a typo, not a setting.
        timing["interval_seconds"] = section.get(
            "interval_seconds", lambda n, p: self.seconds(n, p, least=MIN_INTERVAL_SECONDS),
            default=_default(Witness, "interval_seconds"))
        timing["fence_step_seconds"] = section.get(
            "fence_step_seconds", lambda n, p: self.seconds(n, p, MAX_FENCE_STEP_SECONDS,
                                                            least=MIN_FENCE_STEP_SECONDS),
            default=_default(Witness, "fence_step_seconds"))
        self.witness_fence_line = section.key_line("fence_after_seconds") or section.line
        self.witness_keys = set(section.entries)
        fence, takeover = timing["fence_after_seconds"], timing["takeover_after_seconds"]
        if fence is not None and takeover is not None and not fence < takeover:
            self.problem(section.key_line("fence_after_seconds"), "witness.fence_after_seconds",
                         f"{fence} is not less than takeover_after_seconds ({takeover})")
        if kind == "none":
            self.warn(section.key_line("kind"), "witness.kind",
                      "none: two masters are possible when the nodes cannot hear each other")
            for key in ("node", "path"):
                if key in section:
                    self.problem(section.key_line(key), f"witness.{key}", "not used with kind none")
            return Witness("none", **timing)
        # kind None (already reported): check what is there, require nothing.
        node = section.get("node", self.text, required=kind is not None)
        self.witness_node_line = section.key_line("node")
        if node is not None and nodes is not None and node not in nodes:
            self.problem(section.key_line("node"), "witness.node", self._not_a_node(node, nodes))
        if kind == "ping" and "path" in section:
            self.problem(section.key_line("path"), "witness.path", "only used with kind lease")
            return Witness(kind, node, None, **timing)
        path = section.get("path", self.abspath, required=kind == "lease")
        return Witness(kind, node, path, **timing)

    def _read_watchdog(self, top: _Section, witness: Witness) -> Optional[Watchdog]:
        if "watchdog" not in top:
            return None

        def read(node, path):
            if path.endswith(".timeout_power"):
                return self.integer(node, path, 20, 40)
            if path.endswith(".calibration_port"):
                return self.integer(node, path, 1, 65535)
            if path.endswith(".device"):
                return self.abspath(node, path)
            if path.endswith(".wait_multiple"):
                value = self.seconds(node, path, 10)
                if value is not None and value < 1:
                    self.problem(_line(node), path, f"{value:g} is below 1: the standby would serve before "
                                                    "the old master's board resets it")
                    return None
                return value
            return self.seconds(node, path, 60, zero=path.endswith(".slack_seconds"))
        watchdog = self._read_fields(top, "watchdog", Watchdog, read)
        line = top.key_line("watchdog")
        if witness.kind != "lease":
            self.problem(line, "watchdog", f"needs witness.kind lease (it is {witness.kind}): the gate "
                                           "counts from the lease")
        elif "takeover_after_seconds" in self.witness_keys:
            self.problem(line, "witness.takeover_after_seconds",
                         "not used with a watchdog: the standby's wait is derived from the calibration")
        elif None not in (watchdog.evidence_seconds, witness.interval_seconds) and \
                not watchdog.evidence_seconds >= 1.5 * witness.interval_seconds:
            self.problem(line, "watchdog.evidence_seconds",
                         f"{watchdog.evidence_seconds:g} is below interval + its I/O bound "
                         f"({1.5 * witness.interval_seconds:g} s): a healthy master would stop petting")
        return watchdog
