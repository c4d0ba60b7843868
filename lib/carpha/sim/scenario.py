"""The reference two-node layout, built step by step with the simulated
commands (so building it is itself an integration test of the model).

serverA ("a", 192.0.2.1): CARP vhid 1 on em0 (advskew 0), gmirror `data` =
ada1 (local, priority 1, preferred by balance prefer) + ggate0 (b's ada1
over ggate), UFS on /data, jail `web` (em0|192.0.2.10/24) running.
serverB ("b", 192.0.2.2): CARP vhid 1 (advskew 100), ggated exporting
/dev/ada1 to a; geom_mirror not loaded (so it does not grab ada1).
Both: net.inet.carp.preempt=1, the same jail.conf.
"""

from __future__ import annotations

from .cluster import Cluster

VIP = "192.0.2.100/24"


def _ok(host, *argv):
    rc, out, err = host.execute(argv, 120, {})
    if rc != 0:
        raise RuntimeError(f"{host.name}: {' '.join(argv)}: exit {rc}: {err or out}")
    return out


def two_node_cluster(*, ggate_timeout: int = 5, disk_mib: int = 1024, start_jail: bool = True,
                     hardcoded: bool = False, cluster: Cluster = None) -> Cluster:
    cluster = cluster or Cluster()
    a = cluster.add_host("a", interfaces={"em0": {"ether": "58:9c:fc:00:00:01",
                                                   "inet": ["192.0.2.1/24"]}},
                         disks={"ada1": disk_mib})
    b = cluster.add_host("b", interfaces={"em0": {"ether": "58:9c:fc:00:00:02",
                                                   "inet": ["192.0.2.2/24"]}},
                         disks={"ada1": disk_mib})
    for host, skew in ((a, 0), (b, 100)):
        host.set_sysctl("net.inet.carp.preempt", 1)
        host.add_carp("em0", 1, advskew=skew, address=VIP)
        host.define_jail("web", path="/data/jails/web", hostname="web.example.org",
                         ip4="em0|192.0.2.10/24")
        host.set_rc("jail_enable", "YES")
    b.write_file("/etc/gg.exports", "192.0.2.1 RW /dev/ada1\n")
    _ok(b, "ggated")
    _ok(a, "kldload", "-n", "geom_mirror")
    _ok(a, "ggatec", "create", "-t", str(ggate_timeout), "-u", "0", "192.0.2.2", "/dev/ada1")
    _ok(a, "gmirror", "label", *(["-h"] if hardcoded else []), "-b", "prefer", "data",
        "ggate0", "ada1")
    a.make_filesystem("mirror/data", dirs=["jails/web"])
    _ok(a, "mount", "-t", "ufs", "/dev/mirror/data", "/data")
    cluster.advance(4)                    # a wins the CARP election
    if start_jail:
        _ok(a, "service", "jail", "start", "web")
    return cluster
