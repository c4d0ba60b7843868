"""The real-kernel lab for the network half of a failover (Linux, root).

Not used by carpha on FreeBSD; `tests/lab/` and `bench/lab.py` drive it.

Topology (`Topology`): one network namespace per machine - serverA,
serverB, serverC (the witness) and a client - each with an `em0` veth whose
peer is a port of bridge `br0` in a switch namespace of its own, so nothing
is created in the caller's namespace. Documentation addresses only
(192.0.2.0/24). Every name starts with PREFIX; `cleanup_leftovers()` kills
the processes still running in such namespaces (by pid, from `ip netns
pids`) and deletes them, and `Topology.close()` does the same for its own.

The host adapter (`python -m carpha.lab.harness shim NAME ARGS...`): the FreeBSD
commands carpha runs, as executables first on its PATH. Each one takes the
simulator's lock, loads the simulated host (carpha.sim, state in
$CARPHA_SIM_DIR), copies the real kernel's view into it (em0's addresses,
MAC and carrier; the vhid's state as ucarp last reported it, INIT without
carrier as carp_sc_state() does on FreeBSD), runs the simulator's own
command - so `ifconfig` keeps FreeBSD's strict syntax, error texts and exit
codes (lib/carpha/sim/commands/network.py) - and then applies what the
command changed back to the real world:
- addresses added or removed on em0 -> `ip addr add|del` in the namespace
  (IPv6 with `nodad`: DAD is not part of what the lab measures);
- a jail that started or stopped -> a real HTTP server process on the
  group's addresses (`serve`), which acknowledges a POST only once the
  simulated mirror has the write (Cluster.write).
`carpha-garp` runs the real carpha.host.garp (AF_PACKET on Linux); `ping`
translates FreeBSD's `-t timeout` to Linux's `-w` and Linux's exit 1 (no
reply) to FreeBSD's 2 (sbin/ping/ping.8). gmirror, ggate, mount, jail and
the rest stay simulated.

devd (`python -m carpha.lab.harness event STATE`): ucarp's up/down script. It
records the state for the adapter, then runs the action of the shipped
devd/carpha.conf rule that devd would select for
`system=CARP subsystem=<vhid>@em0 type=<STATE>`, expanded as devd does,
through `/bin/sh -c`, with devd's PATH. The raw expansion of the older
devd is used: Debian's /bin/sh (dash 0.5.12) has no `$'...'` quoting,
which the newer devd's shell_quote() relies on (FreeBSD's sh has it).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

PREFIX = "carphalab"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LIB = os.path.join(ROOT, "lib")
DEVD_CONF = os.path.join(ROOT, "devd", "carpha.conf")
DEVD_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"
IFNAME = "em0"
SUBNET_PLEN = 24
ADDRESSES = {"serverA": "192.0.2.1", "serverB": "192.0.2.2", "serverC": "192.0.2.3",
             "client": "192.0.2.100"}
PORT = 80
# Every wait in the lab is bounded in count and in time.
POLL = 0.02
MAX_POLLS = 100000
SHIMMED = ("ifconfig", "carpha-garp", "ping")
# More than kern.geom.mirror.timeout (4 s, reference 4): a mirror waiting
# for a missing component launches before the next command.
INSTANT_SECONDS = 5.0


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
    return ""


# The lab's tools and their Debian packages (bench/lab-packages.sh installs them).
PACKAGES = {"ip": "iproute2", "bridge": "iproute2", "ucarp": "ucarp", "ping": "iputils-ping",
            "mount": "mount", "keepalived": "keepalived"}


def has_tool(name: str) -> bool:
    return any(os.access(os.path.join(d, name), os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"))


# --- the topology -----------------------------------------------------------------

class Topology:
    """Namespaces on one bridge; `close()` removes all of it, processes first."""

    MACHINES = ("serverA", "serverB", "serverC", "client")

    def __init__(self, tag: str = ""):
        self.tag = tag or f"{os.getpid() % 100000}"
        self.switch = f"{PREFIX}{self.tag}-sw"
        self.ns = {m: f"{PREFIX}{self.tag}-{m}" for m in self.MACHINES}
        self.port = {m: f"p{m[-1] if m != 'client' else 'K'}" for m in self.MACHINES}
        self.created = []

    def __enter__(self):
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

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
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            return subprocess.Popen([IP, "netns", "exec", self.ns[machine], *argv], env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        finally:
            if log:
                out.close()

    def run(self, machine: str, argv, env=None, timeout=30.0) -> subprocess.CompletedProcess:
        return subprocess.run([IP, "netns", "exec", self.ns[machine], *argv], env=env, capture_output=True,
                              text=True, timeout=timeout)


# --- the host adapter (runs inside a node's namespace) --------------------------------

def _settings() -> dict:
    with open(os.path.join(os.environ["CARPHA_SIM_DIR"], "lab.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _kernel_view():
    link = json.loads(ip("-j", "addr", "show", "dev", IFNAME).stdout)[0]
    addrs = [(("inet" if a["family"] == "inet" else "inet6"), a["local"], a["prefixlen"])
             for a in link.get("addr_info", []) if a.get("scope") == "global"]
    carrier = "LOWER_UP" in link.get("flags", [])
    return link["address"], carrier, addrs


def carp_state_file(sim_dir: str, host: str) -> str:
    return os.path.join(sim_dir, f"{host}.carp")


def _sync_in(host, sim_dir):
    from ..sim.net import Address
    ifp = host.interfaces[IFNAME]
    ether, carrier, addrs = _kernel_view()
    ifp.ether = ether
    ifp.up = carrier
    ifp.addrs = [a for a in ifp.addrs if a.vhid] + [Address(af, a, plen) for af, a, plen in addrs]
    try:
        with open(carp_state_file(sim_dir, host.name), encoding="ascii") as handle:
            reported = handle.read().strip()
    except FileNotFoundError:
        reported = "INIT"
    for vh in ifp.vhids.values():
        vh.state = reported if carrier else "INIT"
        vh.next_ad = vh.md_at = None          # the simulator holds no election here: ucarp does
    return {(a.af, a.addr, a.plen) for a in ifp.addrs if not a.vhid}


def _apply_addresses(before, after) -> str:
    for af, addr, plen in sorted(before - after):
        result = ip("addr", "del", f"{addr}/{plen}", "dev", IFNAME, check=False)
        if result.returncode:
            return f"ioctl (SIOCDIFADDR): {result.stderr.strip()}"     # [unverified] text
    for af, addr, plen in sorted(after - before):
        extra = ["nodad"] if af == "inet6" else []
        result = ip("addr", "add", f"{addr}/{plen}", "dev", IFNAME, *extra, check=False)
        if result.returncode:
            return f"ioctl (SIOCAIFADDR): {result.stderr.strip()}"     # [unverified] text
    return ""


def _pidfile(sim_dir, host, jail):
    return os.path.join(sim_dir, f"{host}.{jail}.pid")


def _apply_jails(host, before, after, settings) -> None:
    sim_dir = os.environ["CARPHA_SIM_DIR"]
    for jail in sorted(before - after):
        try:
            with open(_pidfile(sim_dir, host.name, jail)) as handle:
                pid = int(handle.read())
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass
        try:
            os.remove(_pidfile(sim_dir, host.name, jail))
        except FileNotFoundError:
            pass
    for jail in sorted(after - before):
        if jail != settings["jail"]:
            continue
        proc = subprocess.Popen([sys.executable, "-m", "carpha.lab.harness", "serve", host.name, jail, *settings["serve"]],
                                env={**os.environ, "PYTHONPATH": LIB}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        with open(_pidfile(sim_dir, host.name, jail), "w") as handle:
            handle.write(str(proc.pid))
        # The jail is started once it listens (rc's jail start returns then).
        wait_for(lambda: _answers(settings["serve"][0], 0.2) is not None or proc.poll() is not None, 3.0, 0.005)


def shim(name, args, started=None) -> int:
    """One FreeBSD command through the adapter. `started`: the process's
    start, estimated by the shim script (its first line, less the CPU time
    the process had used by then: interpreter start-up is CPU-bound)."""
    settings = _settings()
    sim_dir, host_name = os.environ["CARPHA_SIM_DIR"], os.environ["CARPHA_SIM_HOST"]
    started = time.monotonic() if started is None else started
    kind = "carpha" if name == "carpha-garp" else "adapter"    # carpha-garp is carpha's own program
    try:
        if name == "carpha-garp":
            if not settings.get("garp", True):
                return 0            # the lab's "GARP off": the step runs, nothing is sent
            from ..host import garp
            return garp.main(args)
        if name == "ping":
            return _ping(args)
        return _shim_simulated(name, args, settings, sim_dir, host_name)
    finally:
        log_call(sim_dir, host_name, started, time.monotonic(), name, kind, args)


def log_call(sim_dir, host, started, ended, name, kind, args=()) -> None:
    """One line per command: start, end, name, kind, then its arguments (for reading only)."""
    with open(os.path.join(sim_dir, f"{host}.calls"), "a") as handle:
        handle.write(f"{started:.6f} {ended:.6f} {name} {kind} {' '.join(args)}".rstrip() + "\n")


def read_calls(sim_dir, host):
    """[(started, ended, name, kind)] of the commands and devd runs on `host`."""
    try:
        with open(os.path.join(sim_dir, f"{host}.calls")) as handle:
            rows = [line.split() for line in handle]
    except FileNotFoundError:
        return []
    return [(float(r[0]), float(r[1]), r[2], r[3]) for r in rows if len(r) >= 4]


def _shim_simulated(name, args, settings, sim_dir, host_name) -> int:
    from ..sim import commands, executor  # noqa: F401  (the command package fills executor's table)
    from ..sim.cluster import Cluster
    lock_fd = os.open(os.path.join(sim_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        cluster = Cluster.load(sim_dir)
        host = cluster.hosts[host_name]
        before = _sync_in(host, sim_dir)
        # Simulated time runs ahead by INSTANT_SECONDS per command: whatever
        # the simulated storage was doing (gmirror's launch timeout, a
        # resync) is done before the next command, i.e. storage is instant.
        cluster.advance(INSTANT_SECONDS)
        before = _sync_in(host, sim_dir)
        jails_before = set(host.jails)
        try:
            rc, out, err = executor.run(host, [name, *args], float("inf"), dict(os.environ))
        except executor.Hang:
            rc, out, err = 1, "", f"carpha.lab: {name} would block\n"
        after = {(a.af, a.addr, a.plen) for a in host.interfaces[IFNAME].addrs if not a.vhid}
        problem = _apply_addresses(before, after) if rc == 0 else ""
        if problem:
            rc, err = 1, err + f"ifconfig: {problem}\n"
        else:
            _apply_jails(host, jails_before, set(host.jails), settings)
            cluster.save(sim_dir)
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


def _ping(args) -> int:
    import getopt
    try:
        opts, rest = getopt.getopt(args, "nqc:t:")
    except getopt.GetoptError:
        sys.stderr.write("usage: ping [-n] [-c count] [-t timeout] host\n")
        return 64
    values = dict(opts)
    if len(rest) != 1:
        sys.stderr.write("usage: ping [-n] [-c count] [-t timeout] host\n")
        return 64
    argv = [PING, "-n", "-q", "-c", values.get("-c", "1"), "-w", values.get("-t", "1"), rest[0]]
    rc = subprocess.run(argv, capture_output=True, timeout=float(values.get("-t", "1")) + 2).returncode
    return 2 if rc == 1 else rc


def install_shims(bin_dir: str) -> None:
    """The simulator's commands, each wrapped by the adapter."""
    from ..sim import commands, executor  # noqa: F401  (the command package fills executor's table)
    os.makedirs(bin_dir, exist_ok=True)
    for name in sorted(set(executor.COMMANDS) | set(SHIMMED)):
        path = os.path.join(bin_dir, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"#!{sys.executable}\nimport time\nstarted = time.monotonic() - time.process_time()\n"
                         "import sys\n"
                         f"sys.path.insert(0, {LIB!r})\nfrom carpha.lab.harness import shim\n"
                         f"rc = shim({name!r}, sys.argv[1:], started)\n"
                         # No interpreter teardown (the simulator's modules): a
                         # FreeBSD command is done when it has written its output.
                         "sys.stdout.flush()\nsys.stderr.flush()\nimport os\nos._exit(rc)\n")
        os.chmod(path, 0o755)


# --- devd, played by ucarp's up/down script ------------------------------------------

def event(state: str) -> int:
    from ..sim import devdconf
    stamp = time.monotonic() - time.process_time()      # ucarp ran the script (see shim())
    sim_dir, host = os.environ["CARPHA_SIM_DIR"], os.environ["CARPHA_SIM_HOST"]
    with open(carp_state_file(sim_dir, host) + ".tmp", "w") as handle:
        handle.write(state + "\n")
    os.replace(carp_state_file(sim_dir, host) + ".tmp", carp_state_file(sim_dir, host))
    with open(os.path.join(sim_dir, f"{host}.events"), "a") as handle:
        handle.write(f"{stamp:.6f} {state}\n")
    settings = _settings()
    fields = {"system": "CARP", "subsystem": f"{settings['vhid']}@{IFNAME}", "type": state}
    rule = devdconf.select(devdconf.parse(open(DEVD_CONF).read()), fields)
    if rule is None or not rule.action:
        return 0
    command = devdconf.expand(rule.action, fields, quote=False)
    command = command.replace("/usr/local/libexec/carpha/", settings["libexec"] + "/")
    # devd's environment, plus PYTHONPATH naming the staged library: on
    # FreeBSD it is Python's own site-packages, which the worker carp-event
    # starts (`python -m carpha`) finds without it; here the venv's would
    # be found instead (another checkout's code).
    env = {"PATH": DEVD_PATH, "HOME": "/", "PYTHONPATH": staged_library(settings["libexec"]),
           **{k: v for k, v in os.environ.items() if k.startswith("CARPHA_")}}
    log_call(sim_dir, host, stamp, time.monotonic(), "devd", "devd")   # devd's part, played here
    subprocess.run(["/bin/sh", "-c", command], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=30, cwd="/")
    return 0


# --- the jail's service and the probes --------------------------------------------------

def serve(node: str, jail: str, *addresses) -> int:
    """HTTP on each address:PORT; GET answers the node's name, POST is
    acknowledged only once the simulated mirror has the write."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self._reply(200, f"{node} {jail}\n")

        def do_POST(self):
            from ..sim.cluster import Cluster
            sim_dir = os.environ["CARPHA_SIM_DIR"]
            lock_fd = os.open(os.path.join(sim_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                cluster = Cluster.load(sim_dir)
                try:
                    ok = cluster.write(node, jail)
                except ValueError:
                    ok = False
                cluster.save(sim_dir)
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
                os.close(lock_fd)
            self._reply(200 if ok else 503, "acknowledged\n" if ok else "not on the mirror\n")

        def _reply(self, code, text):
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    servers = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        cls = type("Server", (http.server.ThreadingHTTPServer,), {"address_family": family})
        servers.append(cls((address, PORT), Handler))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()
    return 0


def _answers(address: str, timeout: float):
    """The node name the group address answers with, or None."""
    try:
        with socket.create_connection((address, PORT), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            # Until the server closes (HTTP/1.0): the headers and the body
            # may come in separate segments.
            chunks = []
            for _ in range(8):
                chunk = sock.recv(512)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks).decode("ascii", "replace")
    except OSError:
        return None
    body = data.split("\r\n\r\n", 1)[-1].split()
    return body[0] if data.startswith("HTTP/1.0 200") and body else None


def probe(address: str, seconds: str, every: str = "0.02", timeout: str = "0.2") -> int:
    """The client: a new TCP connection and GET every `every` s for
    `seconds`, each in a thread of its own, so an attempt stuck in its
    `timeout` (a SYN sent to the old master's MAC) does not delay the next;
    prints `<monotonic start> <node or ->` per attempt as each ends (not
    in order: readers take the earliest)."""
    import threading
    deadline = time.monotonic() + float(seconds)
    lock, threads = threading.Lock(), []

    def attempt(started):
        who = _answers(address, float(timeout))
        with lock:
            print(f"{started:.6f} {who or '-'}", flush=True)

    for _ in range(MAX_POLLS):
        started = time.monotonic()
        if started >= deadline:
            break
        threads.append(threading.Thread(target=attempt, args=(started,), daemon=True))
        threads[-1].start()
        threads = [t for t in threads if t.is_alive()]
        time.sleep(max(0.0, float(every) - (time.monotonic() - started)))
    for thread in threads:
        thread.join(float(timeout) + 1)
    return 0


# --- a whole site: topology, simulated storage, ucarp or keepalived ---------------------

GROUP_V4 = "192.0.2.10"
SAMPLE_PERIOD = 0.1     # the partition runs ask both nodes 10 times a second
SAMPLE_TIMEOUT = 1.0    # an answer within this long counts for its instant
VHID = 1
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


class _Torn:
    """Built on entry, its topology torn down on exit, also when building fails."""

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
        install_shims(self.bin_dir)
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
            json.dump({"vhid": VHID, "libexec": self.libexec, "jail": "www", "serve": [GROUP_V4],
                       "garp": self.garp}, handle)

    def env(self, node: str) -> dict:
        config = self.configs[node]
        return {"PATH": DEVD_PATH, "HOME": "/", "PYTHONPATH": LIB, "CARPHA_CONFIG": self.files[node],
                "CARPHA_SIM_DIR": self.sim_dir, "CARPHA_SIM_HOST": node, "CARPHA_NO_SYSLOG": "1",
                "CARPHA_STATE_DIR": config.paths.state_dir, "CARPHA_RUN_DIR": config.paths.run_dir}

    def start_ucarp(self, node: str) -> None:
        scripts = {}
        for state, kind in (("MASTER", "up"), ("BACKUP", "down")):
            path = os.path.join(self.workdir, f"{node}-{kind}.sh")
            exports = "".join(f"export {k}='{v}'\n" for k, v in self.env(node).items())
            with open(path, "w") as handle:
                handle.write(f"#!/bin/sh\n{exports}exec {sys.executable} -m carpha.lab.harness event {state}\n")
            os.chmod(path, 0o755)
            scripts[kind] = path
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
                                       "import sys; sys.path.insert(0, sys.argv[1]); from carpha.lab.harness import _answers;"
                                       " print(_answers(sys.argv[2], 0.5) or '')", LIB, GROUP_V4],
                            timeout=10).stdout.strip()
        return out

    def serving(self, node: str) -> bool:
        """Whether `node` answers on the group address from its own namespace."""
        out = self.topo.run(node, [sys.executable, "-c",
                                   "import sys; sys.path.insert(0, sys.argv[1]); from carpha.lab.harness import _answers;"
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

    def sees_peer(self, node: str) -> bool:
        from ..safety import witness
        view = witness.load_view(self.configs[node].paths.run_dir)
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



class Sampling:
    """Who answers on the group address, each node asked from its own
    namespace (an answer naming itself: its jail serves the address there)
    at the instants start + k * period, k < count, the same instants for
    every node. `both` counts the instants at which two nodes answered.
    A context manager: the samplers run while the block injects a fault,
    and are stopped (by pid) when it ends, also on failure."""

    def __init__(self, topo, workdir, nodes, seconds: float, period: float):
        self.topo, self.nodes, self.period = topo, nodes, period
        self.count = max(1, int(seconds / period))
        self.paths = {n: os.path.join(workdir, f"samples-{n}.txt") for n in nodes}
        self.procs = []

    def __enter__(self):
        start = time.monotonic() + 1.0            # every sampler running by then
        env = {"PATH": DEVD_PATH, "PYTHONPATH": LIB}
        for node in self.nodes:
            self.procs.append(self.topo.spawn(node, [
                sys.executable, "-m", "carpha.lab.harness", "sample", GROUP_V4, f"{start:.6f}", str(self.period),
                str(self.count)], env=env, log=self.paths[node]))
        wait_for(lambda: time.monotonic() >= start, 2.0)
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            try:
                proc.wait(timeout=0 if exc[0] else self.count * self.period + 10)
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)

    def answered(self, node: str) -> set:
        try:
            with open(self.paths[node]) as handle:
                rows = [line.split() for line in handle]
        except FileNotFoundError:
            return set()
        return {int(r[0]) for r in rows if len(r) == 2 and r[0].isdigit() and r[1] == node}

    def sampled(self, node: str) -> int:
        try:
            with open(self.paths[node]) as handle:
                return sum(1 for line in handle if len(line.split()) == 2 and line.split()[0].isdigit())
        except FileNotFoundError:
            return 0

    def result(self) -> dict:
        answers = {n: self.answered(n) for n in self.nodes}
        both = set.intersection(*answers.values())
        return {"instants": self.count, "sampled": min(self.sampled(n) for n in self.nodes),
                **{n: len(a) for n, a in answers.items()}, "both": len(both)}


def sample(address: str, start: str, period: str, count: str) -> int:
    """`<k> <node or ->` for each instant start + k * period (k < count).
    Each instant's request runs in a thread of its own (SAMPLE_TIMEOUT), so
    a slow answer under load neither shifts the next instants nor goes
    uncounted; an instant the sampler itself missed is skipped."""
    import threading
    start_at, every = float(start), float(period)
    lock, threads = threading.Lock(), []

    def ask(k):
        who = _answers(address, SAMPLE_TIMEOUT) or "-"
        with lock:
            print(f"{k} {who}", flush=True)

    for k in range(int(count)):
        at = start_at + k * every
        now = time.monotonic()
        if now > at + every / 2:
            continue
        if at > now:
            time.sleep(at - now)
        threads.append(threading.Thread(target=ask, args=(k,), daemon=True))
        threads[-1].start()
    for thread in threads:
        thread.join(SAMPLE_TIMEOUT + 1)
    return 0

def _first(lines, since, who):
    """The earliest attempt from `since` on that `who` answered, or None."""
    return min((t for t, w in lines if t >= since and w == who), default=None)


def read_probe(path):
    try:
        with open(path) as handle:
            return [(float(t), w) for t, w in (line.split() for line in handle if len(line.split()) == 2)]
    except FileNotFoundError:
        return []


def measure_link_death(topo, workdir, new_events, seconds: float, tag: str, on_fault=None) -> dict:
    """The client probes the group address; serverA's link dies; returns
    {"detection", "outage", "after_detection"} in seconds (None: no
    takeover within `seconds`). `new_events(since)` gives the monotonic
    time the new master's election fired."""
    path = os.path.join(workdir, f"probe-{tag}.txt")
    prober = topo.spawn("client", [sys.executable, "-m", "carpha.lab.harness", "probe", GROUP_V4, str(seconds + 5)],
                        env={"PATH": DEVD_PATH, "PYTHONPATH": LIB}, log=path)
    try:
        if not wait_for(lambda: _first(read_probe(path), 0, "serverA"), 10, 0.05):
            raise RuntimeError("the client never reached serverA before the fault")
        time.sleep(0.5)
        fault = time.monotonic()
        topo.link("serverA", False)
        if on_fault is not None:
            on_fault()
        served = wait_for(lambda: _first(read_probe(path), fault, "serverB"), seconds, 0.05)
        # The election's record may land after the address moved (keepalived
        # adds it before running its notify script).
        elected = wait_for(lambda: new_events(fault), 3.0, 0.05) if served else new_events(fault)
    finally:
        prober.kill()
        prober.wait(timeout=5)
    result = {"detection": None if elected is None else elected - fault,
              "outage": None if served is None else served - fault}
    result["after_detection"] = (None if None in (elected, served) else served - elected)
    result["_elected"], result["_served"] = elected, served      # monotonic instants, for split()
    return result


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
                # The state's time: the recorder's own start (see shim()).
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


def staged_library(libexec: str) -> str:
    """The site-packages install.sh staged next to `libexec` (PREFIX/libexec/carpha)."""
    prefix = os.path.dirname(os.path.dirname(libexec))
    return os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")


def main(argv) -> int:
    if argv[:1] == ["shim"] and len(argv) >= 2:
        return shim(argv[1], argv[2:])
    if argv[:1] == ["event"] and len(argv) >= 2:
        # ucarp runs `script IFNAME VIP [XPARAM]`; the state comes from our own argv.
        return event(argv[1])
    if argv[:1] == ["serve"] and len(argv) >= 4:
        return serve(*argv[1:])
    if argv[:1] == ["probe"] and len(argv) >= 3:
        return probe(*argv[1:])
    if argv[:1] == ["sample"] and len(argv) == 5:
        return sample(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
