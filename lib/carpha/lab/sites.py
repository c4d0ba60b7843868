"""A whole site: serverA and serverB running carpha over the host adapter,
ucarp standing in for CARP (`Site`), and the same with the lease witness
and `carpha heartbeat` (`WitnessSite`); the config they run
(`site_config`) and the hooks staged as install.sh installs them."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys

from .netns import ADDRESSES, DEVD_PATH, GROUP_V4, IFNAME, LIB, PREFIX, ROOT, SWITCH, Topology, _Torn, wait_for
from .adapter import SOCKET, VHID, install_shims, read_calls, write_devd_script
from .measure import SAMPLE_PERIOD, Sampling, measure_link_death

ADVSKEW = {"serverA": 100, "serverB": 200}     # as build_nodes() (the preferred node lower)


def site_config(witness: str = "none") -> str:
    """examples/three-servers.yaml for the lab, one jail (www) that serves
    HTTP. Witness `none`: also no settle time (the timing runs measure the
    path, not the deliberate waits). Witness `lease`: the example's timings
    unchanged (the partition runs test them)."""
    text = open(os.path.join(ROOT, "examples", "three-servers.yaml"), encoding="utf-8").read()
    if witness == "none":
        text = text.replace(
            "witness:                                # absent: kind none (two masters are possible)\n"
            "  kind: lease ", "witness:\n  kind: none\n  # kind: lease").replace(
            "  node: serverC                         # required unless kind none; not in any group\n", "").replace(
            "  path: /mnt/carpha-witness             # lease only, required: the share mounted from serverC\n", "")
    text = text.replace("    jails: [www, db]", "    jails: [www]")
    return text + "damping:\n  settle_seconds: 0\n" if witness == "none" else text

class Site(_Torn):
    """serverA and serverB run carpha over the adapter, ucarp standing in
    for CARP; serverC and the client are plain machines. Storage and jails
    are simulated (state in workdir/sim). `close()` tears everything down."""

    witness = "none"

    def __init__(self, workdir: str, *, garp: bool = True, tag: str = ""):
        self.workdir = workdir
        self.garp = garp
        self.topo = Topology(tag)
        self.sim_dir = os.path.join(workdir, "sim")
        self.bin_dir = os.path.join(workdir, "bin")
        self.configs = {}
        self.files = {}

    def build(self, libexec: str = "") -> None:
        from .. import clock
        from ..sim.clock import SimClock
        from ..sim.cluster import Cluster
        from ..rehearsal.nodes import build_nodes
        self.topo.build()
        os.makedirs(self.sim_dir, exist_ok=True)
        install_shims(self.bin_dir, self.garp)
        self.libexec = libexec or stage_hooks(os.path.join(self.workdir, "stage"))
        text = site_config(self.witness)
        previous = clock.use(None)
        cluster = Cluster(SimClock())
        clock.use(cluster.clock)
        try:
            self.configs = build_nodes(text, "carpha.yaml", self.workdir, cluster)
            cluster.advance(5)
            assert cluster["serverA"].run("kldload", "-n", "geom_mirror")[0] == 0   # loaded at boot
            cluster.advance(5)
            cluster.save(self.sim_dir)
        finally:
            clock.use(previous)
        for node, config in self.configs.items():
            body = text.replace("# paths:", "paths:").replace(
                "#   state_dir: /var/db/carpha", f"  state_dir: {config.paths.state_dir}").replace(
                "#   run_dir: /var/run/carpha", f"  run_dir: {config.paths.run_dir}").replace(
                "#   command_path: /sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin",
                f"  command_path: {self.bin_dir}")
            if self.witness == "lease":
                body = body.replace("  path: /mnt/carpha-witness ", f"  path: {self.witness_access(node)} ")
            path = os.path.join(self.workdir, f"{node}.yaml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(f"node: {node}\n" + body)
            os.chmod(path, 0o600)
            self.files[node] = path
        with open(os.path.join(self.sim_dir, "lab.json"), "w") as handle:
            json.dump({"libexec": self.libexec, "jail": "www", "serve": [GROUP_V4],
                       "namespaces": self.topo.ns}, handle)
        # The adapter's server, in the switch namespace: torn down with it.
        self.topo.spawn(SWITCH, [sys.executable, "-m", "carpha.lab.harness", "adapter", self.sim_dir],
                        env={"PATH": DEVD_PATH, "PYTHONPATH": LIB},
                        log=os.path.join(self.workdir, "adapter.log"))
        if not wait_for(lambda: os.path.exists(os.path.join(self.sim_dir, SOCKET)), 20, 0.05):
            raise RuntimeError(f"the adapter's server did not start: see {self.workdir}/adapter.log")

    def env(self, node: str) -> dict:
        config = self.configs[node]
        return {"PATH": DEVD_PATH, "HOME": "/", "PYTHONPATH": LIB, "CARPHA_CONFIG": self.files[node],
                "CARPHA_SIM_DIR": self.sim_dir, "CARPHA_SIM_HOST": node, "CARPHA_NO_SYSLOG": "1",
                "CARPHA_STATE_DIR": config.paths.state_dir, "CARPHA_RUN_DIR": config.paths.run_dir}

    def start_ucarp(self, node: str) -> None:
        scripts = {}
        for state, kind in (("MASTER", "up"), ("BACKUP", "down")):
            # ucarp runs its scripts with its own environment: the node's is
            # baked into a sh wrapper (ucarp passes `IFNAME VIP` as arguments).
            path = os.path.join(self.workdir, f"{node}-{kind}")
            write_devd_script(path + ".py", state, self.libexec)
            exports = "".join(f"export {k}='{v}'\n" for k, v in self.env(node).items())
            with open(path + ".sh", "w") as handle:
                handle.write(f"#!/bin/sh\n{exports}exec {path}.py\n")
            os.chmod(path + ".sh", 0o755)
            scripts[kind] = path + ".sh"
        # --addr: ucarp's own gratuitous ARP goes for an address nobody uses;
        # carpha announces the group's.
        argv = ucarp_argv(node, "192.0.2.9", scripts["up"], scripts["down"])
        self.topo.spawn(node, argv, log=os.path.join(self.workdir, f"{node}-ucarp.log"))

    def events(self, node: str):
        try:
            with open(os.path.join(self.sim_dir, f"{node}.events")) as handle:
                return [(float(t), s) for t, s in (line.split() for line in handle if line.strip())]
        except FileNotFoundError:
            return []

    def answering(self) -> str:
        """Who answers the client on the group address now (or '')."""
        out = self.topo.run("client", [sys.executable, "-c",
                                       "import sys; sys.path.insert(0, sys.argv[1]); from carpha.lab.service import _answers;"
                                       " print(_answers(sys.argv[2], 0.5) or '')", LIB, GROUP_V4],
                            timeout=10).stdout.strip()
        return out

    def serving(self, node: str) -> bool:
        """Whether `node` answers on the group address from its own namespace."""
        out = self.topo.run(node, [sys.executable, "-c",
                                   "import sys; sys.path.insert(0, sys.argv[1]); from carpha.lab.service import _answers;"
                                   " print(_answers(sys.argv[2], 0.3) or '')", LIB, GROUP_V4],
                            timeout=10).stdout.strip()
        return out == node

    def start(self, seconds: float = 40.0) -> None:
        """serverA first (it becomes MASTER and promotes), then serverB."""
        self.start_ucarp("serverA")
        if not wait_for(lambda: self.answering() == "serverA", seconds, 0.2):
            raise RuntimeError(f"serverA never served on {GROUP_V4}: {self.diagnose()}")
        self.start_ucarp("serverB")
        if not wait_for(lambda: any(s == "BACKUP" for _, s in self.events("serverB")), 10, 0.1):
            raise RuntimeError("serverB's ucarp never reported BACKUP")
        # As cron's `carpha reconcile` would: serverA attaches serverB's
        # exported disk and the mirror syncs (simulated time runs ahead).
        for _ in range(10):
            self.topo.run("serverA", [sys.executable, "-m", "carpha", "reconcile"], env=self.env("serverA"),
                          timeout=60)
            if self.mirror_complete("serverA"):
                return
        raise RuntimeError(f"serverA's mirror never became complete: {self.diagnose()}")

    def mirror_complete(self, node: str) -> bool:
        self.topo.run(node, [os.path.join(self.bin_dir, "gmirror"), "status", "-s"], env=self.env(node))
        from ..sim.cluster import Cluster
        mirror = Cluster.load(self.sim_dir).hosts[node].mirrors.get("data")
        return bool(mirror) and len(mirror.components) == 2 and \
            all(c.state == "ACTIVE" for c in mirror.components)

    def split(self, node: str, since: float, until: float) -> dict:
        """Where [since, until] went on `node`: "devd" (the lab's devd
        stand-in, up to its /bin/sh -c), "adapter" (the FreeBSD commands
        through the adapter, each from its process's start), their count,
        and "carpha" (the rest: carp-event, the worker, carpha-garp)."""
        spent = {"devd": 0.0, "adapter": 0.0, "carpha_programs": 0.0}
        commands = 0
        for started, ended, _, kind in read_calls(self.sim_dir, node):
            inside = min(ended, until) - max(started, since)
            if inside > 0:
                spent["devd" if kind == "devd" else "adapter" if kind == "adapter" else "carpha_programs"] += inside
                commands += kind == "adapter"
        return {"devd": spent["devd"], "adapter": spent["adapter"], "commands": commands,
                "carpha": until - since - spent["devd"] - spent["adapter"]}

    def sim_cut(self, node: str) -> None:
        """The simulated storage network follows the real fault."""
        self._sim(lambda cluster: [cluster.cut(node, other) for other in cluster.hosts if other != node])

    def _sim(self, change) -> None:
        """`change(cluster)` on the simulated world, under the adapter's lock."""
        from ..sim.cluster import Cluster
        lock_fd = os.open(os.path.join(self.sim_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            cluster = Cluster.load(self.sim_dir)
            change(cluster)
            cluster.save(self.sim_dir)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    def failover(self, seconds: float = 30.0) -> dict:
        result = measure_link_death(
            self.topo, self.workdir, on_fault=lambda: self.sim_cut("serverA"), new_events=
            lambda since: next((t for t, s in self.events("serverB") if t >= since and s == "MASTER"), None),
            seconds=seconds, tag="carpha")
        if result["after_detection"] is not None:
            result.update(self.split("serverB", result["_elected"], result["_served"]))
        return result

    def diagnose(self) -> str:
        parts = []
        for node in ("serverA", "serverB"):
            parts.append(f"{node} events {self.events(node)}")
            journal_dir = os.path.join(self.configs[node].paths.state_dir)
            for root, _, names in os.walk(journal_dir):
                for name in names:
                    if "journal" in name or name.endswith(".jsonl"):
                        try:
                            tail = open(os.path.join(root, name)).read().splitlines()[-3:]
                        except OSError:
                            continue
                        parts.append(f"{node} {name}: {tail}")
        return "; ".join(parts)

class WitnessSite(Site):
    """A Site with the lease witness of the example config, its timings
    unchanged, and `carpha heartbeat` running in serverA and serverB.
    serverC exports the share: here a tmpfs mounted at workdir/witness-share
    (the heartbeat refuses a witness directory that is not a mount of its
    own). Each node reaches it through workdir/<node>/mnt-witness, a symlink
    as in `carpha simulate`: the lab points it at a missing directory when
    that node loses serverC, so every share operation fails (on NFS it would
    time out: the heartbeat bounds its share I/O by io_timeout either way)."""

    witness = "lease"

    def __init__(self, workdir: str, *, tag: str = ""):
        super().__init__(workdir, tag=tag)
        self.share = os.path.join(workdir, "witness-share")
        self.mounted = False

    def witness_access(self, node: str) -> str:
        return os.path.join(self.workdir, node, "mnt-witness")

    def build(self, libexec: str = "") -> None:
        os.makedirs(self.share, mode=0o755)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", f"{PREFIX}-witness", self.share],
                       check=True, capture_output=True, timeout=10)
        self.mounted = True
        super().build(libexec)
        for node in ("serverA", "serverB"):
            self.reach_witness(node, True)

    def close(self):
        super().close()          # processes first: nothing writes to the share any more
        if self.mounted:
            subprocess.run(["umount", "-l", self.share], capture_output=True, timeout=10)
            self.mounted = False

    def reach_witness(self, node: str, reachable: bool) -> None:
        access = self.witness_access(node)
        os.makedirs(os.path.dirname(access), exist_ok=True)
        if os.path.lexists(access):
            os.remove(access)
        os.symlink(self.share if reachable else os.path.join(self.workdir, "no-such-share"), access)

    def start(self, seconds: float = 60.0) -> None:
        """The heartbeats first (as rc starts them before CARP elects), each
        until it has seen the other's record, then Site.start."""
        for node in ("serverA", "serverB"):
            self.topo.spawn(node, [sys.executable, "-m", "carpha", "heartbeat"], env=self.env(node),
                            log=os.path.join(self.workdir, f"{node}-heartbeat.log"))
        if not wait_for(lambda: all(self.sees_peer(n) for n in ("serverA", "serverB")), 20, 0.2):
            raise RuntimeError(f"the heartbeats never saw each other: {self.diagnose()}")
        super().start(seconds)
        # Steady state only once serverB has read a record of serverA's that
        # calls its replica in sync: until then serverB rightly refuses to
        # promote (a fault injected in those few seconds tested that race).
        if not wait_for(lambda: self.peer_says_in_sync("serverB", "web"), 20, 0.2):
            raise RuntimeError(f"serverA's record never called serverB's replica in sync: {self.diagnose()}")

    def peer_says_in_sync(self, node: str, group: str) -> bool:
        from ..safety import witness_view
        view = witness_view.load_view(self.configs[node].paths.run_dir)
        status = view.peer_status(group) if view is not None else None
        return bool(status) and status.get("replica_in_sync") is True

    def sees_peer(self, node: str) -> bool:
        from ..safety import witness_view
        view = witness_view.load_view(self.configs[node].paths.run_dir)
        return view is not None and view.own_ok and view.peer_groups is not None

    # -- faults (the simulated storage network follows each real one)
    def cut_link(self, a: str, b: str) -> None:
        """Only the a-b link fails: both still reach serverC and the client."""
        self.topo.isolate_ports((a, b), True)
        self._sim(lambda cluster: cluster.cut(a, b))

    def isolate(self, node: str) -> None:
        """`node`'s cable is pulled: it reaches nobody, serverC's share included."""
        self.topo.link(node, False)
        self.reach_witness(node, False)
        self.sim_cut(node)

    def witness_down(self) -> None:
        """serverC stops: its share and its address are gone for both nodes."""
        self.topo.link("serverC", False)
        for node in ("serverA", "serverB"):
            self.reach_witness(node, False)

    def sampling(self, seconds: float, period: float = SAMPLE_PERIOD) -> "Sampling":
        return Sampling(self.topo, self.workdir, ("serverA", "serverB"), seconds, period)

def ucarp_argv(node: str, address: str, up: str, down: str):
    return ["ucarp", f"--interface={IFNAME}", f"--srcip={ADDRESSES[node]}", f"--vhid={VHID}",
            "--pass=carphalab", f"--addr={address}", "--advbase=1", f"--advskew={ADVSKEW[node]}",
            "--preempt", f"--upscript={up}", f"--downscript={down}"]


def stage_hooks(stage: str) -> str:
    """The hooks as install.sh installs them (as carpha simulate does)."""
    subprocess.run(["sh", os.path.join(ROOT, "install.sh")],
                   env={"PATH": "/usr/bin:/bin", "DESTDIR": stage, "PYTHON": sys.executable,
                        "CARPHA_SKIP_PIP": "1"}, check=True, capture_output=True, timeout=60)
    return os.path.join(stage, "usr", "local", "libexec", "carpha")
