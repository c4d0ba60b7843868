"""Building a rehearsal's simulated nodes from a config: one simulated
FreeBSD host per node of the config's groups, configured as rc.conf,
jail.conf and installation would leave it, with the mirror and its
filesystem on the preferred node's disk (the lab and the tests build
their hosts here too)."""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional

from .. import exits
from ..config import loads
from ..exits import CarphaError

NAS_DRIVES = ("ada1", "ada2")       # a NAS owner's drives (local-gmirror)
DISK_MIB = 256


def group_nodes(text: str) -> List[str]:
    """The nodes that serve a group (the witness is not simulated yet)."""
    import yaml
    data = yaml.safe_load(text) or {}
    nodes: List[str] = []
    for group in (data.get("groups") or {}).values():
        nodes += [n for n in group.get("nodes", []) if n not in nodes]
    return nodes


def group_nodes_of(path: str) -> List[str]:
    with open(path) as f:
        return group_nodes(f.read())


def first_group(configs, name: Optional[str] = None):
    groups = next(iter(configs.values())).groups
    return groups[name] if name else next(iter(groups.values()))


def build_nodes(text: str, source: str, workdir: str, cluster, *, on_host=None) -> Dict[str, object]:
    """One simulated host per group node, configured as rc.conf, jail.conf
    and installation would leave it: em0 with the node's address, the CARP
    vhid (the preferred node with the lower advskew, preempt on), the jails
    and services defined, and the mirror labelled on the preferred node's
    disk with a fresh UFS holding the jails. Each node's carpha config gets
    its own state and run directories under `workdir`. `on_host(node, host,
    config)` runs before CARP starts (e.g. to listen to devd)."""
    configs = {}
    for index, node in enumerate(group_nodes(text), start=1):
        config = loads(text, source, node=node)
        home = os.path.join(workdir, node)
        paths = dataclasses.replace(config.paths, state_dir=os.path.join(home, "db"),
                                    run_dir=os.path.join(home, "run"))
        config = configs[node] = dataclasses.replace(config, paths=paths)
        mine = [g for g in config.groups.values() if node in g.nodes]
        interfaces, disks = {}, {}
        for group in mine:
            for binding in group.bindings:
                if binding.address is None:
                    raise CarphaError(f"simulate: group {group.name} needs carp.address (the vhid's address)",
                                      exits.CONFIG)
                if binding.interface in interfaces:
                    continue
                # The node's address on the first interface; on another (a
                # multi-vhid group's DMZ), host `index` of the vhid's subnet,
                # on a segment of its own.
                other = len(interfaces)
                own = config.nodes[node].address if not other else binding.address.network[index]
                interfaces[binding.interface] = {
                    "ether": f"58:9c:fc:00:{other:02x}:{index:02x}",
                    "inet": [f"{own}/{binding.address.network.prefixlen}"],
                    **({"segment": binding.interface} if other else {})}
            if group.storage.kind == "gmirror-ggate":
                disks[group.storage.providers[node]] = DISK_MIB
        nas_owner = [g for g in mine if g.storage.kind == "local-gmirror" and g.preferred_node == node]
        for drive in NAS_DRIVES if nas_owner else ():
            disks[drive] = DISK_MIB
        if not interfaces:      # a NAS owner in no CARP group: its LAN address only
            interfaces["em0"] = {"ether": f"58:9c:fc:00:00:{index:02x}",
                                 "inet": [f"{config.nodes[node].address}/24"]}
        # The NAS owner loads geom_mirror at boot (loader.conf): the kernel
        # assembles its mirror; the other nodes load it on `carpha takeover`.
        loader = ("carp", "geom_mirror") if nas_owner and not any(
            g.storage.kind == "gmirror-ggate" for g in mine) else ("carp",)
        host = cluster.add_host(node, interfaces=interfaces, disks=disks, loader=loader)
        if on_host is not None:
            on_host(node, host, config)
        host.set_sysctl("net.inet.carp.preempt", 1)
        for group in mine:
            for binding in group.bindings:
                host.add_carp(binding.interface, binding.vhid,
                              advskew=100 if node == group.preferred_node else 200,
                              address=str(binding.address))
            root = group.filesystems[0].mountpoint if group.filesystems else "/"
            for jail in group.jails:
                host.define_jail(jail, path=f"{root.rstrip('/')}/jails/{jail}", hostname=f"{jail}.example.org")
            for service in group.services:
                host.define_service(service)
    for group in {g.name: g for c in configs.values() for g in c.groups.values()}.values():
        _seed_storage(cluster, group)
    return configs


def _seed_storage(cluster, group) -> None:
    """The preferred node's disk holds the mirror and its filesystem, as
    after `gmirror label` and `newfs -j` during installation. A NAS
    owner's two drives hold its mirror, running (assembled at boot)."""
    if group.storage.kind == "local-gmirror":
        host = cluster[group.preferred_node]
        host.kldload("geom_mirror")
        host.label_mirror(group.storage.mirror, list(NAS_DRIVES))
        for fs in group.filesystems:
            host.make_filesystem(fs.device)
        return
    if group.storage.kind != "gmirror-ggate":
        return
    host = cluster[group.preferred_node]
    host.kldload("geom_mirror")
    host.label_mirror(group.storage.mirror, [group.storage.providers[host.name]])
    for fs in group.filesystems:
        host.make_filesystem(fs.device, dirs=[f"jails/{j}" for j in group.jails])
    host.run("gmirror", "stop", group.storage.mirror)
    host.run("kldunload", "geom_mirror")
