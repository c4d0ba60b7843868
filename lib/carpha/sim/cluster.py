"""A cluster of simulated FreeBSD hosts on one LAN, and its event loop.

Every pending event lives in the model as a time stamp (next CARP advert,
master-down deadline, gmirror launch timeout, resync completion, mirror
idle, ggate request timeout, ggatec reconnect), so the whole cluster
saves to JSON and resumes in another process. `advance()` (or sleeping on
the cluster's SimClock) runs the due events in time order.

Failure injection: `crash(name)` stops a host instantly (no adverts, its
processes and ggate connections die, jails and mounts are gone, disks keep
their data and metadata - a filesystem mounted read-write stays dirty);
`boot(name)` brings it back as rc would; `cut(a, b)` / `heal(a, b)` break
and restore the link between two hosts (CARP adverts and ggate traffic).
"""

from __future__ import annotations

import hashlib
import os

from ..store import files
from . import gatedev, geom, ggate, net, state
from .clock import SimClock
from .host import Host

STATE_FILE = "cluster.json"
DEFAULT_INTERFACES = {"em0": {"ether": "58:9c:fc:00:00:01", "inet": ["192.0.2.1/24"]}}
DEFAULT_DISKS = {"ada1": 4096}


@state.model
class Cluster:
    def __init__(self, clock: SimClock = None, *, seed: int = 1):
        self.hosts = {}
        self.cut_links = set()
        # Bytes per simulated second a resync copies (gmirror syncs at
        # roughly disk/network speed; tests shorten it by raising this).
        self.resync_rate = 100 * 1024 * 1024
        self.seed = seed
        self.counter = 0
        self.write_seq = 0
        self.acknowledged = []
        self.unacknowledged = []
        # Writes whose requests still wait in a ggate queue: id -> who
        # issued it and how many requests it waits for.
        self.pending_writes = {}
        self._init_transient()
        self._clock = clock or SimClock()
        self._clock.attach(self)

    def _init_transient(self) -> None:
        self._running = False

    @property
    def clock(self) -> SimClock:
        return self._clock

    # -- hosts and links ------------------------------------------------------------
    def add_host(self, name: str, *, interfaces: dict = None, disks: dict = None,
                 hostname: str = None, root_device: str = "ada0p2", loader=("carp",)) -> Host:
        if interfaces is None:
            index = len(self.hosts) + 1
            interfaces = {"em0": {"ether": f"58:9c:fc:00:00:{index:02x}",
                                  "inet": [f"192.0.2.{index}/24"]}}
        host = Host(self, name, interfaces=interfaces,
                    disks=DEFAULT_DISKS if disks is None else disks,
                    hostname=hostname, root_device=root_device, loader=loader)
        self.hosts[name] = host
        return host

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    @staticmethod
    def _link(a: str, b: str) -> str:
        return "|".join(sorted((a, b)))

    def link_ok(self, a: str, b: str) -> bool:
        return a == b or self._link(a, b) not in self.cut_links

    def cut(self, a: str, b: str) -> None:
        self.checkpoint()
        self.cut_links.add(self._link(a, b))
        self.refresh()

    def heal(self, a: str, b: str) -> None:
        self.checkpoint()
        self.cut_links.discard(self._link(a, b))
        self.refresh()

    def free_disk_name(self, name: str) -> str:
        """A name for a drive plugged into `name`: the lowest adaN (N >= 1;
        ada0, the system disk, is not modelled) no disk there has. Which
        unit CAM gives a hot-plugged drive is [unverified]; carpha does not
        depend on it (gmirror tastes the metadata, whatever the name)."""
        return next(f"ada{n}" for n in range(1, len(self.hosts[name].disks) + 2)
                    if f"ada{n}" not in self.hosts[name].disks)

    def move_disk(self, src: str, dst: str, disk: str, as_name: str) -> None:
        """A drive pulled from `src`'s bay and plugged into `dst`'s, where it
        is `as_name`: data and gmirror metadata go with it. On a running
        host the provider withers (a mirror loses that component) or
        appears, with its /dev node's events, and geom_mirror, if loaded,
        tastes it (g_mirror.c g_mirror_taste(), 13.x: whatever the name,
        unless the metadata hardcodes another)."""
        source, target = self.hosts[src], self.hosts[dst]
        if as_name in target.disks:         # one drive a bay: the name is taken by another disk
            raise ValueError(f"move_disk: {dst} already has a disk {as_name}")
        self.checkpoint()
        moved = source.disks.pop(disk)
        if source.up:
            geom.provider_gone(source, disk)
            source.provider_events(disk, "DESTROY")
        moved.name = as_name
        target.disks[as_name] = moved
        if target.up:
            target.provider_events(as_name, "CREATE")
            geom.taste(target, as_name)
        self.refresh()

    def crash(self, name: str) -> None:
        self.checkpoint()
        host = self.hosts[name]
        host.up = False
        host.processes = {}
        host.jails = {}
        host.mounts = []
        host.mirrors = {}
        host.ggate = {}
        host.modules = set()
        host.services = {k: {"pid": None} for k in host.services}
        for ifp in host.interfaces.values():
            for vh in ifp.vhids.values():
                vh.state, vh.next_ad, vh.md_at = net.INIT, None, None
        host.files = {p: t for p, t in host.files.items() if not p.startswith("/var/run/")}
        for wid, pending in list(self.pending_writes.items()):
            if pending["host"] == name:          # the writer died with its host
                del self.pending_writes[wid]
                self.unacknowledged.append(pending["block"])
        self.refresh()

    def boot(self, name: str) -> None:
        self.checkpoint()
        host = self.hosts[name]
        if host.up:
            raise RuntimeError(f"{name} is already up")
        host.up = True
        host.boot_id += 1
        host.booted_at = host.now()
        host.next_jid = 1
        host.kenv = {}
        host.modules = set(host.loader)
        host._reset_sysctls()
        host._boot_mounts()
        for ifp in host.interfaces.values():
            host._apply_interface_config(ifp)
        geom.taste_all(host)
        for ifp in host.interfaces.values():
            for vh in ifp.vhids.values():
                net.setrun(host, ifp, vh)
        self.refresh()

    # -- helpers used by the model ------------------------------------------------------
    def random32(self) -> int:
        self.counter += 1
        digest = hashlib.sha256(f"{self.seed}:{self.counter}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def carp_changed(self, host) -> None:
        """Demotion changed: the next advert carries the new skew."""

    def checkpoint(self) -> None:
        """Account resync progress up to now before anything changes."""
        for host in self.hosts.values():
            if not host.up:
                continue
            for m in host.mirrors.values():
                for comp in m.components:
                    if comp.state == "SYNCHRONIZING":
                        geom.sync_progress(host, m, comp)

    def refresh(self) -> None:
        """Let connections notice what changed (RST, FIN, delivery)."""
        for host in self.hosts.values():
            if host.up:
                for dev in list(host.ggate.values()):
                    ggate.refresh_client(host, dev)
        for host in self.hosts.values():
            ggate.refresh_server(host)
        for host in self.hosts.values():
            if not host.up:
                continue
            for m in list(host.mirrors.values()):
                for comp in m.components:
                    if comp.state != "SYNCHRONIZING":
                        continue
                    dev = gatedev.dev_by_name(host, comp.prov)
                    if dev is not None and not gatedev.working(host, dev) and not dev.pending:
                        # The resync's I/O now waits on the dead peer too.
                        dev.pending.append({"t": host.now(), "op": None})

    # -- the event loop -----------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def _events(self):
        for hname in sorted(self.hosts):
            host = self.hosts[hname]
            if not host.up:
                continue
            for ifname in sorted(host.interfaces):
                ifp = host.interfaces[ifname]
                for v in sorted(ifp.vhids):
                    vh = ifp.vhids[v]
                    if vh.state == net.MASTER and vh.next_ad is not None:
                        yield vh.next_ad, (0, hname, ifname, v), (self._advert, host, ifp, vh)
                    elif vh.state == net.BACKUP and vh.md_at is not None:
                        yield vh.md_at, (1, hname, ifname, v), (self._master_down, host, ifp, vh)
            for mname in sorted(host.mirrors):
                m = host.mirrors[mname]
                if m.state == "STARTING":
                    yield m.launch_deadline, (2, hname, mname), (geom.launch, host, m, True)
                    continue
                for comp in m.components:
                    if comp.state == "SYNCHRONIZING":
                        at = geom.sync_done_at(host, m, comp)
                        if at is not None:
                            yield at, (3, hname, mname, comp.prov), (self._sync_done, host, m, comp)
                if m.dirty and m.last_write is not None:
                    idle = float(host.sysctl.get("kern.geom.mirror.idletime", 5))
                    yield m.last_write + idle, (4, hname, mname), (geom.idle, host, m)
            for unit in sorted(host.ggate):
                dev = host.ggate[unit]
                at = gatedev.next_sweep(host, dev)
                if at is not None:
                    yield at, (5, hname, unit), (ggate.sweep, host, dev)
                if dev.lost and dev.next_retry is not None and host.alive(dev.pid):
                    yield dev.next_retry, (6, hname, unit), (ggate.retry, host, dev)

    def run_until(self, target: float) -> None:
        if self._running:          # a command running inside an event
            self.clock.t = max(self.clock.t, target)
            return
        self._running = True
        try:
            # Model time stamps are wall-clock readings (clock.now()).
            limit = self.clock.epoch + target
            for _ in range(1_000_000):
                due = [e for e in self._events() if e[0] <= limit]
                if not due:
                    break
                at, _, action = min(due, key=lambda e: (e[0], e[1]))
                self.clock.t = max(self.clock.t, at - self.clock.epoch)
                self.checkpoint()
                action[0](*action[1:])
                self.refresh()
            else:
                raise RuntimeError("simulation does not settle")
            self.clock.t = max(self.clock.t, target)
        finally:
            self._running = False

    def _advert(self, host, ifp, vh) -> None:
        if not net.can_run(host, ifp, vh) or vh.state != net.MASTER:
            vh.next_ad = None
            return
        interval = net.advert_interval(host, vh)
        vh.next_ad = host.now() + interval
        for other in self.hosts.values():
            if other is host or not other.up or not self.link_ok(host.name, other.name):
                continue
            for ifp2 in other.interfaces.values():
                vh2 = ifp2.vhids.get(vh.vhid)
                if vh2 is not None and net.advert_reaches(ifp, vh, ifp2) and net.can_run(other, ifp2, vh2):
                    net.receive_advert(other, ifp2, vh2, interval)

    @staticmethod
    def _master_down(host, ifp, vh) -> None:
        net.set_state(host, ifp, vh, net.MASTER, "master timed out")

    @staticmethod
    def _sync_done(host, m, comp) -> None:
        # Due exactly when the copy reaches the end (rounding aside).
        comp.sync_offset = m.mediasize
        geom.sync_finish(host, m, comp)

    # -- application writes ---------------------------------------------------------------
    def write(self, host_name: str, jail_name: str) -> bool:
        """A running jail writes one block to the filesystem its path lives
        on (synchronously, as a database commits). True when acknowledged
        at once: on every ACTIVE component. A request waiting in a ggate
        queue (a dead peer) keeps its writer asleep in the kernel; the write
        is acknowledged when the last request completes (delivered, or
        failed and its component kicked), if the writer is still alive then,
        and never if it was killed meanwhile (see request_done)."""
        host = self.hosts[host_name]
        if not host.up or jail_name not in host.jails:
            raise ValueError(f"{host_name}: jail {jail_name} is not running")
        jail = host.jails[jail_name]
        self.write_seq += 1
        block = f"{host_name}:{jail_name}:{self.write_seq}"
        mnt = next((m for m in host.mounts if jail.get("mount") is not None
                    and m.get("id") == jail["mount"]), None)
        if mnt is None and jail.get("mount") is None:
            self.acknowledged.append(block)
            return True              # the root filesystem: not simulated
        if mnt is None or mnt.get("orphaned") or jail.get("killed"):
            # Forcibly unmounted or its mirror destroyed under it: EIO.
            self.unacknowledged.append(block)
            return False
        self.checkpoint()
        wid = str(self.write_seq)
        try:
            waiting = geom.write(host, mnt["prov"], {"op": "block", "id": block}, wid)
        except OSError:
            self.unacknowledged.append(block)
            return False
        if waiting:
            self.pending_writes[wid] = {"host": host_name, "boot": host.boot_id, "jail": jail_name,
                                        "jid": jail.get("jid"), "block": block, "prov": mnt["prov"],
                                        "waiting": waiting}
            return False
        return self._finish(host, mnt["prov"], block)

    def pending_blocks(self) -> list:
        """Blocks whose writers still sleep on a ggate request."""
        return [p["block"] for p in self.pending_writes.values()]

    def request_done(self, wid: str) -> None:
        """A ggate request of pending write `wid` completed (delivered,
        failed or canceled)."""
        pending = self.pending_writes.get(wid)
        if pending is None:
            return
        pending["waiting"] -= 1
        if pending["waiting"] > 0:
            return
        del self.pending_writes[wid]
        host = self.hosts[pending["host"]]
        jail = host.jails.get(pending["jail"]) if host.up else None
        alive = (jail is not None and host.boot_id == pending["boot"] and jail.get("jid") == pending["jid"]
                 and not jail.get("killed"))
        if not alive:
            # Killed while asleep on the request (pkill -KILL, jail removal,
            # crash): it never returns to user space to tell its client.
            self.unacknowledged.append(pending["block"])
            return
        self._finish(host, pending["prov"], pending["block"])

    def _finish(self, host, prov: str, block: str) -> bool:
        acked = self._on_all_active(host, prov, block)
        (self.acknowledged if acked else self.unacknowledged).append(block)
        return acked

    def read(self, host_name: str, jail_name: str):
        """A read through the jail's filesystem: the Disk that served it
        (the balance algorithm picks the component), or None."""
        host = self.hosts[host_name]
        jail = host.jails.get(jail_name)
        mnt = next((m for m in host.mounts if jail is not None and m.get("id") == jail.get("mount")), None)
        if mnt is None or mnt.get("orphaned"):
            return None
        m = geom.mirror_of_provider(host, mnt["prov"])
        if m is None:
            return geom.backing_disk(host, mnt["prov"])
        comp = geom.read_source(host, m)
        return None if comp is None else geom.backing_disk(host, comp.prov)

    @staticmethod
    def _still_running(host, name: str, jail: dict) -> bool:
        return host.up and host.jails.get(name) is jail

    @staticmethod
    def _on_all_active(host, prov: str, block: str) -> bool:
        m = geom.mirror_of_provider(host, prov)
        if m is None:
            content = geom.read_content(host, prov)
            return content is not None and block in content["blocks"]
        if not m.active():
            return False
        for comp in m.active():
            disk = geom.backing_disk(host, comp.prov)
            if disk is None or block not in disk.blocks:
                return False
        return True

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: str) -> None:
        files.write_atomic(os.path.join(directory, STATE_FILE), self.dumps())   # temp, fsync, rename

    def dumps(self) -> str:
        return state.dumps({"clock": self.clock.to_state(), "cluster": self})

    @classmethod
    def load(cls, directory: str) -> "Cluster":
        text = files.read_text(os.path.join(directory, STATE_FILE))
        if text is None:
            raise FileNotFoundError(os.path.join(directory, STATE_FILE))
        return cls.loads(text)

    @classmethod
    def loads(cls, text: str) -> "Cluster":
        data = state.loads(text)
        cluster = data["cluster"]
        cluster._clock = SimClock.from_state(data["clock"])
        cluster._clock.attach(cluster)
        for host in cluster.hosts.values():
            host._cluster = cluster
        return cluster
