"""The host adapter (`python -m carpha.lab.harness shim NAME ARGS...`): the
FreeBSD commands carpha runs, each through the simulator and then applied
to the real namespace (addresses with `ip addr`, jails as HTTP servers),
`ping` translated to Linux's, `carpha-garp` run for real; and devd, played
by ucarp's up/down script (`event`). What is real and what is simulated is
in carpha.lab.harness's docstring."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

from .netns import DEVD_PATH, IFNAME, LIB, PING, ROOT, ip, wait_for
from .service import _answers

DEVD_CONF = os.path.join(ROOT, "devd", "carpha.conf")
SHIMMED = ("ifconfig", "carpha-garp", "ping")
# More than kern.geom.mirror.timeout (4 s, reference 4): a mirror waiting
# for a missing component launches before the next command.
INSTANT_SECONDS = 5.0


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
                         f"sys.path.insert(0, {LIB!r})\nfrom carpha.lab.adapter import shim\n"
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

def staged_library(libexec: str) -> str:
    """The site-packages install.sh staged next to `libexec` (PREFIX/libexec/carpha)."""
    prefix = os.path.dirname(os.path.dirname(libexec))
    return os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
