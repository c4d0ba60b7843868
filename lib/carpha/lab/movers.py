"""The bare address movers carpha's failover is compared with: keepalived
(`KeepalivedSite`) and ucarp adding the address itself (`UcarpSite`), on
the lab's topology with an HTTP server always running on both nodes."""

from __future__ import annotations

import os
import sys
import time

from .netns import DEVD_PATH, GROUP_V4, IFNAME, IP, LIB, SUBNET_PLEN, Topology, _Torn, wait_for
from .measure import _first, measure_link_death, read_probe
from .sites import VHID, ucarp_argv

class _MoverSite(_Torn):
    """The same topology with a bare address mover (keepalived or ucarp)
    moving the group address between serverA and serverB, and an HTTP
    server always running on both. `start_mover(node, record)` starts it;
    `record` is a script that appends `<monotonic> <state>` for the node."""

    name = ""

    def __init__(self, workdir: str, tag: str = ""):
        self.workdir = workdir
        self.topo = Topology(tag or f"{self.name[0]}{os.getpid() % 10000}")

    def build(self):
        self.topo.build()
        for node in ("serverA", "serverB"):
            record = os.path.join(self.workdir, f"{node}-record")
            with open(record, "w") as handle:
                # The state's time: the recorder's own start (see carpha.lab.adapter.shim()).
                handle.write(f"#!{sys.executable}\nimport time\nat = time.monotonic() - time.process_time()\n"
                             f"import sys\nopen({self.workdir + '/' + node + '.kevents'!r}, 'a')"
                             f".write('%.6f %s\\n' % (at, sys.argv[1]))\n")
            os.chmod(record, 0o755)
            run = os.path.join(self.workdir, node)
            os.makedirs(run, exist_ok=True)
            self.start_mover(node, record)
            self.topo.spawn(node, [sys.executable, "-m", "carpha.lab.harness", "serve", node, "www", "0.0.0.0"],
                            env={"PATH": DEVD_PATH, "PYTHONPATH": LIB, "CARPHA_SIM_DIR": self.workdir})

    def start_mover(self, node: str, record: str) -> None:
        raise NotImplementedError

    def events(self, node):
        try:
            with open(os.path.join(self.workdir, f"{node}.kevents")) as handle:
                return [(float(t), s) for t, s in (line.split() for line in handle if line.strip())]
        except FileNotFoundError:
            return []

    def wait_serving(self, node, seconds=30.0) -> bool:
        path = os.path.join(self.workdir, "probe-wait.txt")
        prober = self.topo.spawn("client", [sys.executable, "-m", "carpha.lab.harness", "probe", GROUP_V4, str(seconds)],
                                 env={"PATH": DEVD_PATH, "PYTHONPATH": LIB}, log=path)
        try:
            since = time.monotonic()
            return bool(wait_for(lambda: _first(read_probe(path), since, node), seconds, 0.1))
        finally:
            prober.kill()
            prober.wait(timeout=5)
            os.remove(path)

    def failover(self, run: int, seconds: float = 30.0) -> dict:
        if not self.wait_serving("serverA"):
            raise RuntimeError(f"{self.name}: serverA never served")
        result = measure_link_death(
            self.topo, self.workdir,
            lambda since: next((t for t, s in self.events("serverB") if t >= since and s == "MASTER"), None),
            seconds, f"{self.name}{run}")
        self.topo.link("serverA", True)      # preempts back (the preferred node)
        return result


class KeepalivedSite(_MoverSite):
    """keepalived (VRRP, advert 1 s) adds and removes the address itself."""

    name = "keepalived"

    def start_mover(self, node, record):
        notify = os.path.join(self.workdir, f"{node}-notify.sh")
        with open(notify, "w") as handle:
            handle.write(f"#!/bin/sh\nexec {record} \"$3\"\n")      # notify: TYPE NAME STATE
        os.chmod(notify, 0o755)
        conf = os.path.join(self.workdir, f"{node}-keepalived.conf")
        with open(conf, "w") as handle:
            handle.write(
                "global_defs {\n  script_user root\n  enable_script_security\n}\n"
                "vrrp_instance lab {\n  state BACKUP\n  interface em0\n"
                f"  virtual_router_id {VHID}\n  priority {KEEPALIVED_PRIORITY[node]}\n  advert_int 1\n"
                f"  virtual_ipaddress {{\n    {GROUP_V4}/{SUBNET_PLEN} dev em0\n  }}\n"
                f"  notify {notify}\n}}\n")
        run = os.path.join(self.workdir, node)
        self.topo.spawn(node, ["keepalived", "--dont-fork", "--log-console", "--vrrp", "-f", conf,
                               "-p", f"{run}/keepalived.pid", "-r", f"{run}/vrrp.pid"],
                        log=os.path.join(self.workdir, f"{node}-keepalived.log"))


class UcarpSite(_MoverSite):
    """ucarp with carpha's settings (advbase 1, ADVSKEW, preempt) and
    --addr the group address: its up script adds the address (ucarp sends
    the gratuitous ARP itself), its down script removes it. The bare
    address move carpha's run is compared with."""

    name = "ucarp"

    def start_mover(self, node, record):
        scripts = {}
        for state, kind, verb in (("MASTER", "up", "add"), ("BACKUP", "down", "del")):
            path = scripts[kind] = os.path.join(self.workdir, f"{node}-bare-{kind}.sh")
            with open(path, "w") as handle:
                handle.write(f"#!/bin/sh\n{IP} addr {verb} {GROUP_V4}/{SUBNET_PLEN} dev {IFNAME} 2>/dev/null\n"
                             f"exec {record} {state}\n")
            os.chmod(path, 0o755)
        self.topo.spawn(node, ucarp_argv(node, GROUP_V4, scripts["up"], scripts["down"]),
                        log=os.path.join(self.workdir, f"{node}-ucarp.log"))

KEEPALIVED_PRIORITY = {"serverA": 150, "serverB": 100}
