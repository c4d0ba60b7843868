"""The host adapter: the FreeBSD commands carpha runs, each through the
simulator and then applied to the real namespace (addresses with `ip
addr`, jails as HTTP servers); `ping` translated to Linux's, `carpha-garp`
run for real; and devd, played by ucarp's up/down script (`event`). What is
real and what is simulated is in carpha.lab.harness's docstring.

The simulated commands are served by one process per lab
(`serve_commands`, `python -m carpha.lab.harness adapter SIM_DIR`) that
keeps the simulator loaded; each command carpha runs is a small client
(`install_shims`): an interpreter without site (`-I -S`) and only builtin
modules, sending its argv over a Unix socket. A shim that loaded the
simulator itself took 120 ms a command on the development machine, where a
FreeBSD command takes a few ms; the client and the server's work take
about 20 ms. `carpha-garp` and `ping` run in the node's own namespace
(AF_PACKET, ICMP), so their shims are Python processes of their own."""

from __future__ import annotations

import fcntl
import json
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import time

from .netns import DEVD_PATH, IFNAME, IP, LIB, MAX_POLLS, PING, ROOT, ip

DEVD_CONF = os.path.join(ROOT, "devd", "carpha.conf")
VHID = 1
IN_NODE = ("carpha-garp", "ping")      # run in the node's namespace, by a shim of their own
SOCKET = "adapter.sock"
CLIENT_TIMEOUT = 60.0                  # carpha's runner bounds each command more tightly
REQUEST_TIMEOUT = 5.0                  # the server's bound on reading one request
JAIL_START_SECONDS = 3.0
# More than kern.geom.mirror.timeout (4 s, reference 4): a mirror waiting
# for a missing component launches before the next command.
INSTANT_SECONDS = 5.0


def _settings(sim_dir: str) -> dict:
    with open(os.path.join(sim_dir, "lab.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _kernel_view(ns: str):
    link = json.loads(ip("-n", ns, "-j", "addr", "show", "dev", IFNAME).stdout)[0]
    addrs = [(("inet" if a["family"] == "inet" else "inet6"), a["local"], a["prefixlen"])
             for a in link.get("addr_info", []) if a.get("scope") == "global"]
    carrier = "LOWER_UP" in link.get("flags", [])
    return link["address"], carrier, addrs


CARP_SUFFIX = ".carp"     # SIM_DIR/HOST.carp: the vhid's state as ucarp last reported it (EVENT writes it)


def carp_state_file(sim_dir: str, host: str) -> str:
    return os.path.join(sim_dir, host + CARP_SUFFIX)


def _sync_in(host, sim_dir, view):
    from ..sim.net import Address
    ifp = host.interfaces[IFNAME]
    ether, carrier, addrs = view
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


def _apply_addresses(ns, before, after) -> str:
    for af, addr, plen in sorted(before - after):
        result = ip("-n", ns, "addr", "del", f"{addr}/{plen}", "dev", IFNAME, check=False)
        if result.returncode:
            return f"ioctl (SIOCDIFADDR): {result.stderr.strip()}"     # [unverified] text
    for af, addr, plen in sorted(after - before):
        extra = ["nodad"] if af == "inet6" else []
        result = ip("-n", ns, "addr", "add", f"{addr}/{plen}", "dev", IFNAME, *extra, check=False)
        if result.returncode:
            return f"ioctl (SIOCAIFADDR): {result.stderr.strip()}"     # [unverified] text
    return ""


def _pidfile(sim_dir, host, jail):
    return os.path.join(sim_dir, f"{host}.{jail}.pid")


def _apply_jails(sim_dir, ns, host, before, after, settings, env) -> None:
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
        pid = _start_service(ns, host.name, jail, settings["serve"], env)
        if pid:
            with open(_pidfile(sim_dir, host.name, jail), "w") as handle:
                handle.write(str(pid))


def _start_service(ns, node, jail, addresses, env):
    """The jail's HTTP service in the node's namespace; its pid once it
    listens (rc's jail start returns then), None if it did not in time."""
    proc = subprocess.Popen([IP, "netns", "exec", ns, sys.executable, "-m", "carpha.lab.harness", "serve",
                             node, jail, *addresses], env={**env, "PYTHONPATH": LIB},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], JAIL_START_SECONDS)
        line = proc.stdout.readline().split() if ready else []
    finally:
        proc.stdout.close()
    return int(line[1]) if len(line) == 2 and line[0] == b"listening" and line[1].isdigit() else None


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

# --- the simulated commands, served ------------------------------------------------

class _World:
    """The simulated cluster as the server holds it: its file is the truth
    (the lab's harness and the jails' services change it too, under the
    same lock), so it is re-read whenever its text is not what the server
    last wrote. Written without fsync: lab state need not survive a crash."""

    def __init__(self, sim_dir: str):
        from ..sim.cluster import STATE_FILE
        self.path = os.path.join(sim_dir, STATE_FILE)
        self.text, self.cluster = None, None

    def current(self):
        from ..sim.cluster import Cluster
        with open(self.path, encoding="utf-8") as handle:
            text = handle.read()
        if text != self.text:
            self.text, self.cluster = text, Cluster.loads(text)
        return self.cluster

    def save(self) -> None:
        text = self.cluster.dumps()
        with open(self.path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(self.path + ".tmp", self.path)
        self.text = text


def _run_simulated(world, sim_dir, settings, host_name, name, args, env):
    from ..sim import executor
    ns = settings["namespaces"][host_name]
    lock_fd = os.open(os.path.join(sim_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        cluster = world.current()
        host = cluster.hosts[host_name]
        view = _kernel_view(ns)
        _sync_in(host, sim_dir, view)
        # Simulated time runs ahead by INSTANT_SECONDS per command: whatever
        # the simulated storage was doing (gmirror's launch timeout, a
        # resync) is done before the next command, i.e. storage is instant.
        cluster.advance(INSTANT_SECONDS)
        before = _sync_in(host, sim_dir, view)      # the kernel's view again over what advance() did
        jails_before = set(host.jails)
        try:
            rc, out, err = executor.run(host, [name, *args], float("inf"), env)
        except executor.Hang:
            rc, out, err = 1, "", f"carpha.lab: {name} would block\n"
        after = {(a.af, a.addr, a.plen) for a in host.interfaces[IFNAME].addrs if not a.vhid}
        problem = _apply_addresses(ns, before, after) if rc == 0 else ""
        if problem:
            rc, err = 1, err + f"ifconfig: {problem}\n"
            world.text = None                       # the change is not kept: re-read next time
        else:
            _apply_jails(sim_dir, ns, host, jails_before, set(host.jails), settings, env)
            world.save()
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
    return rc, out, err


def _request(conn):
    """(host, name, args, started, env) from the client, or None if malformed."""
    chunks, size = [], 0
    for _ in range(MAX_POLLS):
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > 1 << 20:
            return None
    try:
        host, name, args, started, env = marshal.loads(b"".join(chunks))
    except (ValueError, EOFError, TypeError):
        return None
    if not (isinstance(host, str) and isinstance(name, str) and isinstance(args, list)
            and all(isinstance(a, str) for a in args) and isinstance(started, float) and isinstance(env, dict)):
        return None
    return host, name, args, started, env


def serve_commands(sim_dir: str) -> int:
    """Serve the simulated commands, one at a time, until killed (the lab
    kills it with its namespace); at most MAX_POLLS requests."""
    from ..sim import commands, executor  # noqa: F401  (the command package fills executor's table)
    settings = _settings(sim_dir)
    world = _World(sim_dir)
    path = os.path.join(sim_dir, SOCKET)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    os.chmod(path + ".new", 0o600)
    listener.listen(64)
    os.replace(path + ".new", path)       # clients find it only once it listens
    for _ in range(MAX_POLLS):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(REQUEST_TIMEOUT)
            try:
                request = _request(conn)
                if request is None:
                    reply = (64, b"", b"carpha.lab: malformed adapter request\n")
                else:
                    host, name, args, started, env = request
                    if host not in settings["namespaces"]:
                        reply = (64, b"", f"carpha.lab: no host {host!r}\n".encode())
                    else:
                        rc, out, err = _run_simulated(world, sim_dir, settings, host, name, args, env)
                        reply = (rc, out.encode(), err.encode())
                conn.sendall(marshal.dumps(reply))
            except OSError:
                continue                        # the client went away (its runner's timeout)
            except Exception as error:          # a simulator bug fails this command, not the lab
                world.text = None
                reply = (70, b"", f"carpha.lab: adapter: {type(error).__name__}: {error}\n".encode())
                try:
                    conn.sendall(marshal.dumps(reply))
                except OSError:
                    pass
            if request is not None:
                log_call(sim_dir, request[0], request[3], time.monotonic(), request[1], "adapter", request[2])
    return 0


# The client: builtin modules only (marshal, time) and _socket, so that
# with -I -S the interpreter imports almost nothing. Its start is
# estimated as in shim() (first line less the CPU time used by then).
CLIENT = """\
import time
started = time.monotonic() - time.process_time()
import _socket, marshal, os, sys
def write(fd, data):
    while data:
        data = data[os.write(fd, data):]
s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
s.settimeout({timeout!r})
try:
    s.connect(os.path.join(os.environ["CARPHA_SIM_DIR"], {socket!r}))
    s.sendall(marshal.dumps((os.environ["CARPHA_SIM_HOST"], {name!r}, sys.argv[1:], started, dict(os.environ))))
    s.shutdown(_socket.SHUT_WR)
    chunks = []
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    rc, out, err = marshal.loads(b"".join(chunks))
except (OSError, ValueError, EOFError) as error:
    rc, out, err = 1, b"", ("carpha.lab: the adapter did not answer: %s\\n" % error).encode()
write(1, out)
write(2, err)
os._exit(rc)
"""
CLIENT_FLAGS = "-IS"           # one shebang argument (Linux passes the rest as one)


def shim(name, args, started=None) -> int:
    """`ping` in the node's namespace. `started`: the process's start,
    estimated by the shim script (its first line, less the CPU time the
    process had used by then: start-up is CPU-bound)."""
    sim_dir, host_name = os.environ["CARPHA_SIM_DIR"], os.environ["CARPHA_SIM_HOST"]
    started = time.monotonic() if started is None else started
    try:
        return _ping(args)
    finally:
        log_call(sim_dir, host_name, started, time.monotonic(), name, "adapter", args)


# carpha-garp as install.sh installs it (python_wrapper: sys.path, then
# carpha.host.garp's main), timed the same way as the other shims. Nothing
# of the lab's is imported, so its time is carpha's own; with GARP off the
# step runs and nothing is sent. The detached child that repeats the burst
# leaves through os._exit inside main and logs nothing.
GARP_SHIM = """import time
started = time.monotonic() - time.process_time()
import os
import sys
sys.path.insert(0, {lib!r})
{call}
sys.stdout.flush()
sys.stderr.flush()
with open(os.path.join(os.environ["CARPHA_SIM_DIR"], os.environ["CARPHA_SIM_HOST"] + ".calls"), "a") as log:
    log.write("%.6f %.6f carpha-garp carpha %s\\n" % (started, time.monotonic(), " ".join(sys.argv[1:])))
os._exit(rc)
"""


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


def install_shims(bin_dir: str, garp: bool = True) -> None:
    """The simulator's commands as clients of the server; carpha-garp and
    ping as shims of their own (`garp` False: carpha-garp sends nothing)."""
    from ..sim import commands, executor  # noqa: F401  (the command package fills executor's table)
    os.makedirs(bin_dir, exist_ok=True)
    for name in sorted(set(executor.COMMANDS) | set(IN_NODE)):
        path = os.path.join(bin_dir, name)
        with open(path, "w", encoding="utf-8") as handle:
            if name == "carpha-garp":
                call = "from carpha.host.garp import main\nrc = main(sys.argv[1:])" if garp else "rc = 0"
                handle.write(f"#!{sys.executable}\n" + GARP_SHIM.format(lib=LIB, call=call))
            elif name in IN_NODE:
                handle.write(f"#!{sys.executable}\nimport time\nstarted = time.monotonic() - time.process_time()\n"
                             "import sys\n"
                             f"sys.path.insert(0, {LIB!r})\nfrom carpha.lab.adapter import shim\n"
                             f"rc = shim({name!r}, sys.argv[1:], started)\n"
                             "sys.stdout.flush()\nsys.stderr.flush()\nimport os\nos._exit(rc)\n")
            else:
                handle.write(f"#!{sys.executable} {CLIENT_FLAGS}\n"
                             + CLIENT.format(timeout=CLIENT_TIMEOUT, socket=SOCKET, name=name))
        os.chmod(path, 0o755)

# --- devd, played by ucarp's up/down script ------------------------------------------

def devd_action(libexec: str, state: str) -> str:
    """What devd runs for `system=CARP subsystem=VHID@em0 type=STATE`: the
    rule of the shipped devd/carpha.conf it selects, expanded as devd does
    (raw: see carpha.lab.harness), the hooks where install.sh staged them.
    Chosen when the lab is built, as devd parses its rules at start; ''
    when no rule matches."""
    from ..sim import devdconf
    fields = {"system": "CARP", "subsystem": f"{VHID}@{IFNAME}", "type": state}
    with open(DEVD_CONF, encoding="utf-8") as handle:
        rule = devdconf.select(devdconf.parse(handle.read()), fields)
    if rule is None or not rule.action:
        return ""
    command = devdconf.expand(rule.action, fields, quote=False)
    return command.replace("/usr/local/libexec/carpha/", libexec + "/")


# ucarp's up/down script: records the state for the adapter and the time
# ucarp ran it (its start, estimated as the client's), then runs devd's
# action through /bin/sh -c with devd's environment - plus PYTHONPATH
# naming the staged library: on FreeBSD it is Python's own site-packages,
# which the worker carp-event starts (`python -m carpha`) finds without
# it; here the venv's would be found instead (another checkout's code).
# Builtin modules only, as the client: devd is a C program.
EVENT = """\
import time
stamp = time.monotonic() - time.process_time()
import os
sim_dir, host = os.environ["CARPHA_SIM_DIR"], os.environ["CARPHA_SIM_HOST"]
state_file = os.path.join(sim_dir, host + {carp_suffix!r})
with open(state_file + ".tmp", "w") as handle:
    handle.write({state!r} + "\\n")
os.replace(state_file + ".tmp", state_file)
with open(os.path.join(sim_dir, host + ".events"), "a") as handle:
    handle.write("%.6f %s\\n" % (stamp, {state!r}))
if {command!r}:
    env = {{"PATH": {path!r}, "HOME": "/", "PYTHONPATH": {pythonpath!r},
           **{{k: v for k, v in os.environ.items() if k.startswith("CARPHA_")}}}}
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
    with open(os.path.join(sim_dir, host + ".calls"), "a") as handle:     # devd's part, played here
        handle.write("%.6f %.6f devd devd\\n" % (stamp, time.monotonic()))
    pid = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", {command!r}], env, file_actions=actions)
    for _ in range({polls}):                       # devd waits for its action; bounded here
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        time.sleep(0.01)
os._exit(0)
"""
DEVD_ACTION_SECONDS = 30


def write_devd_script(path: str, state: str, libexec: str) -> None:
    """ucarp's --upscript (MASTER) or --downscript (BACKUP) at `path`."""
    text = EVENT.format(state=state, carp_suffix=CARP_SUFFIX, command=devd_action(libexec, state), path=DEVD_PATH,
                        pythonpath=staged_library(libexec), polls=DEVD_ACTION_SECONDS * 100)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"#!{sys.executable} {CLIENT_FLAGS}\n" + text)
    os.chmod(path, 0o755)

def staged_library(libexec: str) -> str:
    """The site-packages install.sh staged next to `libexec` (PREFIX/libexec/carpha)."""
    prefix = os.path.dirname(os.path.dirname(libexec))
    return os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
