"""The lab's topology: one Linux network namespace per machine on one bridge
(`Topology`), the bounded waits every lab module uses, and the cleanup of
what an interrupted lab left behind (`cleanup_leftovers`). Also the lab's
ground shared by its other modules: the checkout it runs from (ROOT, LIB)
and its documentation addresses (192.0.2.0/24). The overview is
carpha.lab.harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

PREFIX = "carphalab"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LIB = os.path.join(ROOT, "lib")
DEVD_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"
IFNAME = "em0"
SUBNET_PLEN = 24
ADDRESSES = {"serverA": "192.0.2.1", "serverB": "192.0.2.2", "serverC": "192.0.2.3",
             "client": "192.0.2.100"}
SWITCH = "switch"                        # Topology.spawn's name for the switch namespace
GROUP_V4 = "192.0.2.10"                  # the group's address (carpha.lab.sites)
# Every wait in the lab is bounded in count and in time.
POLL = 0.02
MAX_POLLS = 100000


def _tool(name: str) -> str:
    """Absolute path: carpha runs the adapter with its own PATH (the shims only)."""
    for directory in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        if os.access(os.path.join(directory, name), os.X_OK):
            return os.path.join(directory, name)
    return name


IP, BRIDGE, PING = _tool("ip"), _tool("bridge"), _tool("ping")

# --- small helpers -------------------------------------------------------------

def ip(*args, check=True, timeout=5.0):
    result = subprocess.run([IP, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


def wait_for(predicate, seconds: float, poll: float = POLL):
    """predicate()'s first truthy value within `seconds`, else None."""
    deadline = time.monotonic() + seconds
    for _ in range(MAX_POLLS):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)
    return None


def netns_pids(ns: str):
    out = ip("netns", "pids", ns, check=False).stdout.split()
    return [int(p) for p in out if p.isdigit()]


def kill_namespace_processes(ns: str) -> None:
    """SIGTERM, then SIGKILL, every process running in `ns` (all of them
    started by the lab: nothing else runs in its namespaces)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [p for p in netns_pids(ns) if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        wait_for(lambda: not netns_pids(ns), 2.0)


def lab_namespaces():
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0].startswith(PREFIX)]


def lab_mounts():
    """Mount points of the lab's witness shares still mounted (source PREFIX-witness)."""
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        return [line.split()[1] for line in handle if line.split()[0] == f"{PREFIX}-witness"]


def cleanup_leftovers() -> list:
    """Remove whatever an earlier, interrupted lab left behind (PREFIX only)."""
    gone = []
    for mount in lab_mounts():
        subprocess.run(["umount", "-l", mount], capture_output=True, timeout=10)
        gone.append(mount)
    for ns in lab_namespaces():
        kill_namespace_processes(ns)
        ip("netns", "del", ns, check=False)
        gone.append(ns)
    return gone


def usable() -> str:
    """'' when the lab can run here, else why not (a skip reason)."""
    if not sys.platform.startswith("linux"):
        return "the lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the lab needs root (ip netns, AF_PACKET, ucarp)"
    for tool, package in PACKAGES.items():
        if tool != "keepalived" and not has_tool(tool):
            return f"the lab needs {tool} (Debian package {package}; make lab installs it)"
    return _can_build()


def _can_build() -> str:
    """'' if this kernel lets us create a namespace with a veth in it (a
    container may not), else ip's error."""
    probe = f"{PREFIX}probe{os.getpid()}"
    try:
        for args in (("netns", "add", probe), ("-n", probe, "link", "add", "v0", "type", "veth", "peer", "v1")):
            result = ip(*args, check=False)
            if result.returncode:
                return f"the lab cannot build its network here: ip {' '.join(args)}: {result.stderr.strip()}"
        return ""
    finally:
        ip("netns", "del", probe, check=False)


# The lab's tools and their Debian packages (bench/lab-packages.sh installs them).
PACKAGES = {"ip": "iproute2", "bridge": "iproute2", "ucarp": "ucarp", "ping": "iputils-ping",
            "mount": "mount", "keepalived": "keepalived"}


def has_tool(name: str) -> bool:
    return any(os.access(os.path.join(d, name), os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"))

# --- the topology -----------------------------------------------------------------

class _Torn:
    """Built on entry (`build`), torn down on exit (`close`: a site's
    topology by default), also when building fails."""

    def __enter__(self):
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.topo.close()


class Topology(_Torn):
    """Namespaces on one bridge; `close()` removes all of it, processes first."""

    MACHINES = ("serverA", "serverB", "serverC", "client")

    def __init__(self, tag: str = ""):
        self.tag = tag or f"{os.getpid() % 100000}"
        self.switch = f"{PREFIX}{self.tag}-sw"
        self.ns = {m: f"{PREFIX}{self.tag}-{m}" for m in self.MACHINES}
        self.port = {m: f"p{m[-1] if m != 'client' else 'K'}" for m in self.MACHINES}
        self.created = []

    def build(self) -> None:
        for ns in (self.switch, *self.ns.values()):
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "addrgenmode", "none")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for machine, ns in self.ns.items():
            port = self.port[machine]
            ip("link", "add", IFNAME, "netns", ns, "type", "veth", "peer", "name", port, "netns", self.switch)
            # No IPv6 link-local addresses: no DAD, no router solicitations.
            ip("-n", self.switch, "link", "set", port, "addrgenmode", "none")
            ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "link", "set", IFNAME, "addrgenmode", "none")
            ip("-n", ns, "addr", "add", f"{ADDRESSES[machine]}/{SUBNET_PLEN}", "dev", IFNAME)
            ip("-n", ns, "link", "set", IFNAME, "up")

    def close(self) -> None:
        for ns in reversed(self.created):
            kill_namespace_processes(ns)
        for ns in reversed(self.created):
            ip("netns", "del", ns, check=False)
        self.created = []

    # -- faults
    def link(self, machine: str, up: bool) -> None:
        """The machine's cable: its switch port down (em0 loses carrier) or up."""
        ip("-n", self.switch, "link", "set", self.port[machine], "up" if up else "down")

    def isolate_ports(self, machines, on: bool) -> None:
        """Bridge port isolation: isolated ports cannot reach each other,
        only the others (cuts exactly the link between these machines)."""
        for machine in machines:
            subprocess.run([IP, "netns", "exec", self.switch, BRIDGE, "link", "set", "dev",
                            self.port[machine], "isolated", "on" if on else "off"],
                           check=True, capture_output=True, timeout=5)

    def mac(self, machine: str) -> str:
        return json.loads(ip("-n", self.ns[machine], "-j", "link", "show", "dev", IFNAME).stdout)[0]["address"]

    def spawn(self, machine: str, argv, env=None, log=None) -> subprocess.Popen:
        """`argv` in the machine's namespace (SWITCH: the switch's, for the lab's own servers)."""
        out = open(log, "ab") if log else subprocess.DEVNULL
        ns = self.switch if machine == SWITCH else self.ns[machine]
        try:
            return subprocess.Popen([IP, "netns", "exec", ns, *argv], env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        finally:
            if log:
                out.close()

    def run(self, machine: str, argv, env=None, timeout=30.0) -> subprocess.CompletedProcess:
        return subprocess.run([IP, "netns", "exec", self.ns[machine], *argv], env=env, capture_output=True,
                              text=True, timeout=timeout)
