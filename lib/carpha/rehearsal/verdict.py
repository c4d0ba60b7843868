"""What the simulated world says, never what carpha believes it did: the
invariants checked after every command any node runs (never two nodes
serving the jails, the addresses or one copy of the mirror), each node's
state, whether the cluster converged, the acknowledged writes lost, and
the verdict a scenario returns. A part of the Rehearsal
(carpha.rehearsal.harness), which holds the state."""

from __future__ import annotations

from typing import List, Optional

from ..store import journal


def group_name(r) -> str:
    return r.group.name


class VerdictMixin:
    """The Rehearsal's methods about its invariants and its verdict."""

    # -- the invariants ------------------------------------------------------------------
    def check_invariants(self) -> None:
        if self._checking:
            return
        self._checking = True
        try:
            for name, (predicate, when) in list(self.marks.items()):
                if when is None and predicate():
                    self.marks[name] = (predicate, self.sim_clock.now())
            group = self.group
            up = [h for h in self.cluster.hosts.values() if h.up]
            jails = [h.name for h in up if any(j in h.jails for j in group.jails)]
            self.max_serving = max(self.max_serving, len(jails))
            if len(jails) > 1:
                self.violations["jails"] = True
            ips = {str(a.ip) for a in group.addresses}
            holders = [h.name for h in up if any(a.addr in ips and not a.vhid
                                                  for ifp in h.interfaces.values() for a in ifp.addrs)]
            if len(holders) > 1:
                self.violations["addresses"] = True
            devices = {fs.device for fs in group.filesystems}
            mounted = [h for h in up if any(m["device"] in devices for m in h.mounts)]
            if len(mounted) > 1 and self._copy_shared(mounted):
                self.violations["mounts"] = True
        finally:
            self._checking = False

    def _copy_shared(self, hosts) -> bool:
        """Whether two of `hosts` (each with the group's filesystem mounted)
        can write one copy of the data: a disk in both mirrors, locally or
        through a ggate connection its server still holds open (a cut link
        only delays those writes). A standby that mounted its own disk
        early, with the old master fenced off it, writes only its own copy."""
        from ..sim.gatedev import dev_by_name, server
        seen = set()
        for host in hosts:
            mirror = host.mirrors.get(self.group.storage.mirror) if self.group.storage.kind == "gmirror-ggate" else None
            if mirror is None:
                return True        # not a mirror: one device, mounted twice
            copies = set()
            for comp in mirror.components:
                dev = dev_by_name(host, comp.prov)
                if dev is None:
                    copies.add((host.name, comp.prov))
                    continue
                srv = server(host, dev)
                proc = srv.processes.get(dev.conn) if srv is not None and srv.up else None
                if proc is not None and srv.boot_id == dev.remote_boot and host.alive(dev.pid):
                    copies.add((srv.name, proc["holds"]))
            if copies & seen:
                return True
            seen |= copies
        return False

    # -- the verdict -----------------------------------------------------------------------
    def node_state(self, node: str) -> dict:
        host = self.cluster[node]
        group = self.group
        if not host.up:
            return {"up": False, "carp": {}, "addresses": [], "mounts": [], "jails": [], "mirror": {}}
        mirror = host.mirrors.get(group.storage.mirror) if group.storage.kind == "gmirror-ggate" else None
        return {
            "up": True,
            "carp": {g.name: host.carp_state(g.carp.vhid, g.carp.interface) for g in self.configs[node].groups.values()
                     if node in g.nodes and g.carp is not None},
            "addresses": sorted(a.addr for ifp in host.interfaces.values() for a in ifp.addrs
                                if not a.vhid and a.addr in {str(x.ip) for x in group.addresses}),
            "mounts": sorted(m["mountpoint"] for m in host.mounts
                             if m["device"] in {f.device for f in group.filesystems}),
            "jails": sorted(j for j in host.jails if j in group.jails),
            "mirror": {} if mirror is None else {
                "name": mirror.name, "state": mirror.status(),
                "components": {c.prov: c.state for c in mirror.components}},
        }

    def lost_writes(self) -> int:
        group = self.group
        acked = [b for b in self.cluster.acknowledged if b.split(":")[1] in group.jails]
        serving = self.serving()
        if group.storage.kind != "gmirror-ggate" or not serving:
            return 0   # nothing serves: `converged` is false and says so
        disk = self.cluster[serving[0]].disks[group.storage.providers[serving[0]]]
        return sum(1 for b in acked if b not in disk.blocks)

    def converged(self) -> bool:
        group = self.group
        states = {n: self.node_state(n) for n in self.configs}
        masters = [n for n, s in states.items() if s["up"] and s["carp"].get(group.name) == "MASTER"]
        if len(masters) != 1:
            return False
        m = states[masters[0]]
        serves = (sorted(m["jails"]) == sorted(group.jails)
                  and len(m["addresses"]) == len(group.addresses)
                  and len(m["mounts"]) == len(group.filesystems))
        others_idle = all(not s["jails"] and not s["addresses"] and not s["mounts"]
                          for n, s in states.items() if n != masters[0])
        return serves and others_idle

    def saved_state(self, node: str):
        """`node`'s saved state of the group (carpha.store.state)."""
        from ..store import state
        return state.load(self.configs[node].paths.state_dir, self.group.name)

    def mirror_complete(self, node: str) -> bool:
        """COMPLETE with both halves ACTIVE (a mirror that forgot a half
        says COMPLETE while the returning one still synchronises)."""
        mirror = self.node_state(node)["mirror"]
        halves = mirror.get("components", {})
        return (mirror.get("state") == "COMPLETE" and len(halves) == 2
                and all(state == "ACTIVE" for state in halves.values()))

    def held_because(self, node: str, words: str) -> bool:
        """Whether `node`'s worker journaled a hold whose reason says `words`."""
        return any(rec.get("result") == "held" and words in rec.get("reason", "")
                   for rec in journal.read(self.configs[node].paths.state_dir, self.group.carp.subsystem))

    def verdict(self, scenario: str, takeover: Optional[float], extra_ok: bool = True,
                expect_served: bool = True) -> dict:
        """`converged`: one node serves and the other is idle, or, when the
        scenario expects carpha to refuse (`expect_served=False`), nobody
        serves; `extra_ok` adds the scenario's own checks."""
        done = self.converged() if expect_served else self.serving() == []
        invariants = {
            "jails_on_one_node": not self.violations["jails"],
            "addresses_on_one_node": not self.violations["addresses"],
            "mirror_mounted_once": not self.violations["mounts"],
            "acknowledged_writes_lost": self.lost_writes(),
            "converged": done and extra_ok,
        }
        return {"scenario": scenario, "seed": self.seed, "group": group_name(self), "timeline": self.timeline,
                "failed_commands": list(self.failed_commands), "accepted_losses": self.accepted_losses(),
                "final": {n: self.node_state(n) for n in self.configs},
                "invariants": invariants, "takeover_seconds": takeover,
                "max_nodes_serving_at_once": self.max_serving,
                "reads_from_diverged_half": self.diverged_reads}

    def accepted_losses(self) -> List[str]:
        """Every data loss an administrator accepted, as the nodes journaled it."""
        found = []
        for node, config in self.configs.items():
            for rec in journal.read(config.paths.state_dir, self.group.carp.subsystem):
                if rec.get("kind") == "takeover" and rec.get("accepted_data_loss"):
                    found.append(f"{node}: {rec.get('reason') or 'takeover --accept-data-loss'}")
        return found
