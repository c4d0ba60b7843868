"""One simulated FreeBSD host: kernel state, configuration files, processes.

The split that matters for failover tests is what survives a crash:
- persistent: disks (data, filesystems, gmirror metadata), rc.conf,
  /etc/sysctl.conf, loader.conf modules, jail.conf, rc.d services,
  interface configuration from rc.conf (addresses, CARP vhids), files
  under /etc;
- runtime (gone on crash): loaded modules, sysctl values, runtime
  addresses and CARP states, mirrors, ggate devices, mounts, jails,
  processes, files under /var/run.
Setup helpers (`add_carp`, `set_sysctl`, `define_jail`, ...) write the
persistent configuration and apply it to the running host, as an admin
editing rc.conf and running the matching command would.

`release` (13 or 14, default 13) picks the FreeBSD behaviour where the two
differ: 14.x ifconfig knows `peer`/`peer6` (unicast CARP), prints a peer
line per vhid and resets the peer to multicast on every `vhid N` command
that does not repeat it (reference 2.2, 2.3). The default stays 13 because
the captured ifconfig samples the format tests compare with have no peer
line.
"""

from __future__ import annotations

import hashlib
import time

from . import net
from .kernel import CARP_SYSCTLS, MIRROR_SYSCTLS
from .net import Address, Interface, Vhid
from .state import model
from .storage import Disk


@model
class Host:
    def __init__(self, cluster, name: str, *, interfaces: dict, disks: dict,
                 hostname: str = None, root_device: str = "ada0p2", loader=("carp",),
                 release: int = 13):
        self._cluster = cluster
        self.name = name
        self.release = release
        self.hostname = hostname or name
        self.root_device = root_device
        self.up = True
        self.boot_id = 1
        self.booted_at = cluster.clock.now()   # time_uptime counts from here
        self.has_boot_id = True          # see without_boot_id()
        self.clock_offset = 0.0          # wall clock minus the cluster's (see step_clock())
        self.boottime = 0.0
        self.loader = set(loader)
        self.modules = set(loader)
        self.sysctl_conf = {}
        self.kenv = {}                   # kenv(1) settings since boot
        self.sysctl = {}
        self.rc_conf = {}
        self.interfaces = {}
        self.disks = {}
        self.ggate = {}
        self.mirrors = {}
        self.mounts = []
        self.root_dirs = {"data"}
        self.jail_conf_path = "/etc/jail.conf"
        self.jail_conf = {}
        self.jails = {}
        self.next_jid = 1
        self.services = {}
        self.processes = {}
        self.next_pid = 1000
        self.files = {}
        self.syslog = []
        self.devd_events = []
        self.geom_load_is_noop = False   # newest geom.c: `load` when loaded is a NOP
        for index, (ifname, spec) in enumerate(interfaces.items(), start=1):
            self._add_interface(ifname, spec, index)
        for dname, size in disks.items():
            # An int is MiB; {"bytes": N} gives an exact media size.
            nbytes = size["bytes"] if isinstance(size, dict) else int(size) * 1024 * 1024
            self.disks[dname] = Disk(dname, nbytes)
        self._reset_sysctls()
        self._boot_mounts()
        self._init_transient()

    def _boot_mounts(self) -> None:
        # What /etc/fstab mounts at boot: the root filesystem and devfs.
        self.mounts = [
            {"device": f"/dev/{self.root_device}", "prov": None, "mountpoint": "/",
             "fstype": "ufs", "opts": [], "journal": True},
            {"device": "devfs", "prov": None, "mountpoint": "/dev", "fstype": "devfs",
             "opts": []},
        ]

    def mkdir(self, path: str) -> None:
        """A directory on the root filesystem (e.g. a mount point)."""
        self.root_dirs.add(path.strip("/"))

    def _init_transient(self) -> None:
        self._devd_callbacks = []

    # -- small services --------------------------------------------------------
    @property
    def cluster(self):
        return self._cluster

    def now(self) -> float:
        """Model time: what the kernel's timers run on (uptime-based, so a
        clock step does not move them)."""
        return self._cluster.clock.now()

    def wall_now(self) -> float:
        """This host's wall clock (time(3)): model time plus any step."""
        return self.now() + getattr(self, "clock_offset", 0.0)

    def step_clock(self, seconds: float) -> None:
        """Step the wall clock (ntpd/ntpdate, date(1), a resume). sys/kern/
        kern_tc.c tc_setclock() (14.x-era revision, with timerfd_jumped(),
        as reference 10 reads it) stores the new time minus the uptime as
        th_boottime, so kern.boottime moves by the step; the uptime and
        the timers do not."""
        self.clock_offset = getattr(self, "clock_offset", 0.0) + seconds
        self._set_boottime(self.boottime + seconds)

    def log(self, tag: str, message: str, pri: str = "daemon.notice") -> None:
        if tag == "kernel":
            pri = "kern.notice"
        self.syslog.append([self.wall_now(), tag, message, pri])   # syslogd stamps wall time

    def messages(self) -> list:
        """Syslog lines as /var/log/messages shows them (sample syslog_carp)."""
        lines = []
        for stamp, tag, message, _ in self.syslog:
            tm = time.gmtime(stamp)
            lines.append(f"{time.strftime('%b', tm)} {tm.tm_mday:2d} "
                         f"{time.strftime('%H:%M:%S', tm)} {self.hostname} {tag}: {message}")
        return lines

    def devd(self, line: str) -> None:
        self.devd_events.append(line)
        for callback in list(self._devd_callbacks):
            callback(line)

    def provider_events(self, name: str, kind: str) -> None:
        """A GEOM provider's /dev node appears (CREATE) or goes (DESTROY):
        DEVFS first, then GEOM DEV, the same cdev (freebsd-src 13.x era:
        geom_dev.c g_dev_taste() calls make_dev_s(), whose make_dev_sv()
        sends DEVFS CREATE (kern_conf.c notify_create()), then GEOM DEV
        CREATE; g_dev_orphan() -> delist_dev() sends DEVFS DESTROY at once,
        g_dev_destroy() GEOM DEV DESTROY once the I/O has drained, here
        at once)."""
        self.devd(f"!system=DEVFS subsystem=CDEV type={kind} cdev={name}")
        self.devd(f"!system=GEOM subsystem=DEV type={kind} cdev={name}")

    def on_devd_event(self, callback) -> None:
        self._devd_callbacks.append(callback)

    def spawn(self, name: str, **fields) -> int:
        pid = self.next_pid
        self.next_pid += 1
        self.processes[pid] = dict(fields, name=name)
        return pid

    def alive(self, pid) -> bool:
        return self.up and pid is not None and pid in self.processes

    # -- interfaces ----------------------------------------------------------------
    def _add_interface(self, ifname: str, spec: dict, index: int) -> None:
        ifp = Interface(ifname, spec.get("index", index), spec.get("ether", "58:9c:fc:00:00:01"),
                        mtu=spec.get("mtu", 1500),
                        options=spec.get("options", net.DEFAULT_OPTIONS),
                        media=spec.get("media", net.DEFAULT_MEDIA),
                        segment=spec.get("segment", "lan"))
        for cidr in spec.get("inet", []):
            addr, _, plen = cidr.partition("/")
            ifp.config_addrs.append(Address("inet", net.canonical("inet", addr),
                                            int(plen or net.classful_plen(addr))))
        for cidr in spec.get("inet6", []):
            addr, _, plen = cidr.partition("/")
            ifp.config_addrs.append(Address("inet6", net.canonical("inet6", addr), int(plen or 64)))
        ifp.config_linklocal = bool(spec.get("linklocal", False))
        self.interfaces[ifname] = ifp
        self._apply_interface_config(ifp)

    def _apply_interface_config(self, ifp: Interface) -> None:
        ifp.up = True
        ifp.vhids = {v: vh.copy_config() for v, vh in ifp.config_vhids.items()}
        ifp.addrs = []
        if ifp.config_linklocal:
            ifp.addrs.append(Address("inet6", net.linklocal_from_mac(ifp.ether), 64,
                                     scopeid=ifp.index))
        ifp.addrs.extend(a.copy() for a in ifp.config_addrs)

    def interface(self, name: str) -> Interface:
        return self.interfaces.get(name)

    def all_addresses(self, af: str = None):
        for ifp in self.interfaces.values():
            for a in ifp.addrs:
                if af is None or a.af == af:
                    yield ifp, a

    def carp_states(self) -> dict:
        """{(ifname, vhid): state} - handy in tests."""
        return {(ifp.name, v): vh.state for ifp in self.interfaces.values()
                for v, vh in ifp.vhids.items()}

    def carp_state(self, vhid: int, ifname: str = None) -> str:
        for ifp in self.interfaces.values():
            if (ifname is None or ifp.name == ifname) and vhid in ifp.vhids:
                return ifp.vhids[vhid].state
        raise KeyError(f"{self.name}: no vhid {vhid}")

    # -- sysctl ------------------------------------------------------------------------
    def _reset_sysctls(self) -> None:
        self.sysctl = dict(CARP_SYSCTLS)
        self.sysctl["kern.hostname"] = self.hostname
        # Set at every (re)boot: the wall clock now, minus an uptime of 0.
        self._set_boottime(float(int(self.wall_now())) if getattr(self, "_cluster", None) else 0.0)
        # sys/kern/kern_mib.c sysctl_bootid() (14.x-era revision: SPDX
        # BSD-3-Clause, no $FreeBSD$): 16 bytes from arc4random_buf() on the
        # first read, fixed until the next boot (made at boot here: the same
        # value to every reader); ENXIO before is_random_seeded() (None here,
        # not modelled at boot). A hex string, so the state saves as JSON.
        if getattr(self, "has_boot_id", True):
            seed = f"{self._cluster.seed}:{self.name}:{self.boot_id}:kern.boot_id"
            self.sysctl["kern.boot_id"] = hashlib.sha256(seed.encode()).hexdigest()[:32]
        if "geom_mirror" in self.modules:
            self.sysctl.update(MIRROR_SYSCTLS)
        for name, value in self.sysctl_conf.items():
            self.write_sysctl(name, value)

    def _set_boottime(self, boottime: float) -> None:
        # sbin/sysctl/sysctl.c S_timeval(): "{ sec = %jd, usec = %ld } " +
        # ctime(3) without its newline (the sim's local time is UTC).
        self.boottime = boottime
        sec = int(boottime // 1)
        usec = int(round((boottime - sec) * 1e6))
        self.sysctl["kern.boottime"] = f"{{ sec = {sec}, usec = {usec} }} {time.asctime(time.gmtime(sec))}"

    def without_boot_id(self) -> None:
        """A release whose kernel has no kern.boot_id (the 12.x-era
        kern_mib.c read lacks it; the first release with it is not
        established, reference 11.9)."""
        self.has_boot_id = False
        self.sysctl.pop("kern.boot_id", None)

    def write_sysctl(self, name: str, value) -> None:
        """A write as the kernel handles it: net.inet.carp.demotion adds."""
        if name == "net.inet.carp.demotion":
            self.sysctl[name] = int(self.sysctl[name]) + int(value)
            self._cluster.carp_changed(self)
        elif name == "net.inet.carp.allow":
            changed = int(value) != int(self.sysctl[name])
            self.sysctl[name] = int(value)
            for ifp in self.interfaces.values():
                for vh in ifp.vhids.values():
                    if changed:
                        net.link_changed(self, ifp, vh)
        elif name == "kern.hostname":
            self.sysctl[name] = str(value)
            self.hostname = str(value)
        else:
            self.sysctl[name] = int(value)

    def set_sysctl(self, name: str, value) -> None:
        """/etc/sysctl.conf entry, applied now and at every boot."""
        self.sysctl_conf[name] = value
        self.write_sysctl(name, value)

    # -- kernel modules ------------------------------------------------------------------
    def kldload(self, name: str) -> None:
        self.modules.add(name)
        if name == "geom_mirror":
            for key, value in MIRROR_SYSCTLS.items():
                # CTLFLAG_RWTUN (g_mirror.c, 12.x-era id 2236677085): the
                # kernel environment's value is fetched when the OID registers.
                tunable = getattr(self, "kenv", {}).get(key)
                self.sysctl.setdefault(key, int(tunable) if tunable is not None and tunable.isdigit() else value)
            from . import geom
            geom.taste_all(self)
        if name == "carp":
            for ifp in self.interfaces.values():
                for vh in ifp.vhids.values():
                    net.setrun(self, ifp, vh)

    # -- configuration helpers ---------------------------------------------------------------
    def set_rc(self, name: str, value: str) -> None:
        self.rc_conf[name] = value

    def add_carp(self, ifname: str, vhid: int, *, advbase: int = 1, advskew: int = 0,
                 address: str = "192.0.2.100/24", key: str = "", peer: str = None,
                 peer6: str = None) -> None:
        """rc.conf `ifconfig_<if>_aliasN="inet <addr> vhid N advskew S
        [peer A] [peer6 B] alias"` (peer/peer6 on a 14.x host only)."""
        ifp = self.interfaces[ifname]
        af = "inet6" if ":" in address else "inet"
        addr, _, plen = address.partition("/")
        plen = int(plen or (32 if af == "inet" else 128))
        peer, peer6 = self._carp_peers(peer, peer6)
        ifp.config_vhids[vhid] = Vhid(vhid, advbase, advskew, key, peer, peer6)
        ifp.config_addrs.append(Address(af, net.canonical(af, addr), plen, vhid))
        vh = ifp.vhids.setdefault(vhid, Vhid(vhid, advbase, advskew, key))
        vh.advbase, vh.advskew, vh.key, vh.peer, vh.peer6 = advbase, advskew, key, peer, peer6
        existing = ifp.find(af, net.canonical(af, addr))
        if existing is not None:
            ifp.addrs.remove(existing)
        ifp.addrs.append(Address(af, net.canonical(af, addr), plen, vhid))
        # carp_attach() -> carp_sc_state(): INIT, then BACKUP (reference 2.4).
        net.sc_state(self, ifp, vh)

    def set_carp_peer(self, ifname: str, vhid: int, *, peer: str = None, peer6: str = None) -> None:
        """14.x: add `peer A [peer6 B]` to the vhid's rc.conf line and run
        `ifconfig IF vhid N advskew S peer A [peer6 B]` (no address changes,
        so no state change; omitted ones go back to multicast, as there)."""
        ifp = self.interfaces[ifname]
        peer, peer6 = self._carp_peers(peer, peer6)
        for vh in (ifp.config_vhids[vhid], ifp.vhids[vhid]):
            vh.peer, vh.peer6 = peer, peer6

    def _carp_peers(self, peer, peer6):
        if (peer or peer6) and self.release < 14:
            raise ValueError(f"{self.name}: FreeBSD {self.release}.x ifconfig has no peer/peer6")
        return (net.canonical("inet", peer) if peer else net.CARP_MCAST,
                net.canonical("inet6", peer6) if peer6 else net.CARP_MCAST6)

    def define_jail(self, name: str, *, path: str, hostname: str, ip4=None) -> None:
        """A jail.conf entry; ip4 "192.0.2.10" or "em0|192.0.2.10/24" (jail(8)
        adds and removes the alias itself with the iface| form)."""
        if ip4 is None:
            ips = []
        elif isinstance(ip4, str):
            ips = [ip4]
        else:
            ips = list(ip4)
        self.jail_conf[name] = {"path": path, "hostname": hostname, "ip4": ips}

    def define_service(self, name: str, *, enabled: bool = False) -> None:
        """An rc.d script with rcvar <name>_enable and pidfile /var/run/<name>.pid."""
        self.services[name] = {"pid": None}
        if enabled:
            self.rc_conf[f"{name}_enable"] = "YES"

    def write_file(self, path: str, text: str) -> None:
        self.files[path] = text

    def read_file(self, path: str):
        """A file's text: one the simulation wrote, else the real file
        (carpha writes its own, e.g. ggated's exports, into a real
        directory); None if neither exists."""
        if path in self.files:
            return self.files[path]
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return None

    def label_mirror(self, name: str, providers, *, balance: str = "load",
                     hardcoded: bool = False) -> None:
        from . import geom
        error = geom.label(self, name, list(providers), balance=balance, hardcoded=hardcoded)
        if error:
            raise RuntimeError(f"{self.name}: gmirror label {name}: {error}")

    def make_filesystem(self, device: str, *, journal: bool = True, dirs=(),
                        free=None) -> None:
        """newfs [-j] on a provider ("mirror/data", "ada1"): a clean UFS whose
        root directory holds `dirs` (e.g. "jails/web"); `free` = (free
        fragments, free blocks) as fsck reports them, if a test needs exact
        figures."""
        from . import geom, ufs
        prov = device[5:] if device.startswith("/dev/") else device
        if not geom.provider_exists(self, prov):
            raise RuntimeError(f"{self.name}: newfs: /dev/{prov}: No such file or directory")
        fs = ufs.new_fs(journal=journal, dirs=dirs, size=geom.mediasize(self, prov))
        if free is not None:
            fs["free"] = list(free)
        wait = geom.write(self, prov, {"op": "newfs", "fs": fs})
        if wait:
            raise RuntimeError(f"{self.name}: newfs on {prov} blocked")

    # -- running commands ----------------------------------------------------------------------
    def execute(self, argv, timeout, env=None):
        """carpha.host.runner.Executor: (returncode, stdout, stderr)."""
        from . import commands  # noqa: F401  (registers them with the executor)
        from .executor import execute
        return execute(self, list(argv), timeout, env or {})

    def runner(self, dry_run: bool = False, **options):
        """A carpha.host.runner.Runner whose commands run on this host; `options`
        go to Runner (e.g. echo=print to see dry-run lines)."""
        from ..host.runner import Runner
        options.setdefault("echo", lambda line: None)
        return Runner(executor=self.execute, dry_run=dry_run, **options)

    def run(self, *argv, timeout: float = 60):
        """Test convenience: run one command, return (rc, stdout, stderr)."""
        return self.execute(argv, timeout, {})
