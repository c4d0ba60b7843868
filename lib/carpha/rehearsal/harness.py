"""The Rehearsal: the simulated world of `carpha simulate` and its driver.

One simulated FreeBSD host per node of the config's groups (carpha.sim),
CARP elections between them, and on each host:
- devd: the shipped devd/carpha.conf is parsed and applied as devd applies
  it; the chosen action is expanded and run through a real shell, exactly
  as devd runs it, with the hooks installed by install.sh into a staging
  root (so the carp-event entry point runs as a real process);
- the worker: run in process against the host (the simulated clock drives
  carpha's own sleeps and timeouts), whenever carp-event journaled an
  event, and every 60 s as cron runs `carpha reconcile`.
A client writes through the group's first jail every 0.5 s; a write counts
as acknowledged only once it is on every ACTIVE mirror component, so lost
writes are counted, not assumed. The invariants are checked after every
command any node runs.

Timers have phases, as on a real machine: each node's heartbeat starts at
its own offset, the client's writes and cron have their own, and the
steady state lasts a little longer or shorter, so a fault lands at another
point of every cycle (a ggate sweep's, a beat's, CARP's). `seed` picks them
all; the verdict says it, and the same seed replays the same run.

The witness lease (carpha.rehearsal.lease) and the invariants and verdict
(carpha.rehearsal.verdict) are parts of the Rehearsal kept in modules of
their own; the simulated processes and the clock are carpha.rehearsal.procs,
the nodes carpha.rehearsal.nodes."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import random
import shlex
import shutil
import sys
import tempfile
import threading
from typing import Callable, Dict, List, Optional

from .. import clock
from ..sim import devdconf
from ..engine import worker
from ..exits import CarphaError
from ..freebsd import parse_text
from ..store.lock import Lock
from ..host.runner import CommandError, Runner
from ..sim.cluster import Cluster
from .lease import LeaseMixin
from .nodes import build_nodes, first_group
from .procs import DriverClock, Proc, ProcKilled
from .verdict import VerdictMixin

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_CONFIG = os.path.join(ROOT, "examples", "three-servers.yaml")
DEVD_CONF = os.path.join(ROOT, "devd", "carpha.conf")
CRON_SECONDS = 60.0
WRITE_EVERY = 0.5
TICK = 0.1
_STAGED: Dict[str, str] = {}        # ROOT -> the staged libexec dir (see _install_hooks)


def scratch_dir() -> Optional[str]:
    """Where a rehearsal keeps its simulated nodes' files: a memory file
    system when there is one (every state write fsyncs; a rehearsal writes
    thousands), else the default temporary directory."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class Rehearsal(LeaseMixin, VerdictMixin):
    """One rehearsal: the simulated cluster, its machines going on as time
    passes, the client, and the timeline (see the module docstring)."""

    def __init__(self, config_text: str, source: str, workdir: str, seed: int = 1,
                 watchdogs: Optional[Dict[str, str]] = None, group: Optional[str] = None):
        self.workdir = workdir
        self.seed = seed
        self.rng = random.Random(seed)
        self.sim_clock = DriverClock()
        self.previous_clock = clock.use(self.sim_clock)
        self.cluster = Cluster(self.sim_clock, seed=seed)
        self.cluster.resync_rate = 64 * 1024 * 1024
        self.timeline: List[dict] = []
        self.rules = devdconf.parse(open(DEVD_CONF).read())
        self.log = logging.getLogger("carpha.simulate")
        self.log.addHandler(logging.NullHandler())
        self.log.propagate = False
        self.configs: Dict[str, object] = {}
        self.worker_locks: Dict[str, Lock] = {}
        self.due: List[str] = []
        self.scripted: List[tuple] = []      # (time, description, callable)
        self.violations: Dict[str, bool] = {"jails": False, "addresses": False, "mounts": False}
        self.max_serving = 0
        self.double_starts = 0       # a jail started while it already ran
        self.diverged_reads = 0      # reads served by a half that differs from the server's own disk
        self.next_cron = CRON_SECONDS
        self.next_write = None
        self.client_on = False
        self.t0 = None
        self.fail_once: Dict[str, List[tuple]] = {}
        self.failed_commands: List[str] = []
        self._checking = False
        self.marks: Dict[str, tuple] = {}   # name -> (predicate, first time it held), see mark_when()
        self.libexec = self._install_hooks()
        build_nodes(config_text, source, workdir, self.cluster, on_host=self._attach_devd)
        self.group = first_group(self.configs, group)
        self.heartbeats: Dict[str, object] = {}
        self.probes: Dict[str, object] = {}
        self.fences: List[dict] = []
        self.next_beat: Dict[str, float] = {}
        self.rig = None
        self.witness_answers = threading.Event()     # cleared: the share hangs (stall_witness)
        self.witness_answers.set()
        if any(c.watchdog is not None for c in self.configs.values()):
            from .watchdog import WatchdogRig
            self.rig = WatchdogRig(self, watchdogs)
        self._setup_witness()
        self.sim_clock.on_time = self.meanwhile

    def _install_hooks(self) -> str:
        """Stage the hooks exactly as install.sh installs them, once per
        process (the staged tree does not depend on the rehearsal, and
        install.sh takes seconds)."""
        if ROOT not in _STAGED:
            stage = tempfile.mkdtemp(prefix="carpha-stage-")
            atexit.register(shutil.rmtree, stage, True)
            Runner(path="/usr/bin:/bin", extra_env={"DESTDIR": stage, "PYTHON": sys.executable,
                                                    "CARPHA_SKIP_PIP": "1"}) \
                .change(["sh", os.path.join(ROOT, "install.sh")], timeout=60)
            _STAGED[ROOT] = os.path.join(stage, "usr", "local", "libexec", "carpha")
        return _STAGED[ROOT]

    # -- the machines going on -----------------------------------------------------
    def frozen(self, node: str) -> bool:
        return self.rig is not None and self.rig.is_frozen(node)

    def boot(self, node: str) -> None:
        """Power on: /var/run is emptied (rc.d/cleanvar), `carpha boot-hold`
        demotes CARP, the heartbeat starts."""
        self.record(node, "scenario", "boot")
        self.cluster.boot(node)
        shutil.rmtree(self.configs[node].paths.run_dir, ignore_errors=True)
        # rc.d/carpha_boot runs before netif: no advert has gone out yet
        try:
            worker.boot_hold(self.configs[node], self.runner(node), self.log)
        except CarphaError as error:           # rc goes on; the worker catches up
            self.record(node, "boot", f"carpha boot-hold: {error}")
        self.start_heartbeat(node)

    def meanwhile(self) -> None:
        """As simulated time passes, every machine goes on: heartbeats beat,
        a worker that devd woke starts (carp-event starts one when none
        runs), cron starts its worker each minute, and the client writes,
        also while workers and commands run."""
        if self.rig is not None:
            self.rig.tick()
        self.beat_due()
        for node in list(self.due):
            self.due.remove(node)
            self.run_worker(node, "event")
        if self.t0 is not None and self.sim_clock.now() - self.t0 >= self.next_cron:
            elapsed = self.sim_clock.now() - self.t0
            self.next_cron = (elapsed // CRON_SECONDS + 1) * CRON_SECONDS
            for node in self.configs:
                self.run_worker(node, "cron")
        if self.client_on and self.next_write is not None and self.sim_clock.now() >= self.next_write:
            self.next_write = self.sim_clock.now() + WRITE_EVERY
            self.client_write()

    def spawn(self, node: str, name: str, work: Callable[[], None]) -> None:
        host = self.cluster[node]
        boot = host.boot_id
        proc = Proc(f"{node}:{name}", lambda: host.up and host.boot_id == boot, work,
                    lambda error: self.record(node, name, f"failed: {error}"))
        proc.paused = lambda: self.frozen(node)
        self.sim_clock.spawn(proc)

    def _attach_devd(self, node, host, config) -> None:
        self.configs[node] = config
        host.on_devd_event(lambda line: self._devd(node, line))
        # carp-event starts a detached worker unless one holds the worker
        # lock in its run dir: the hook gets a run dir of its own where the
        # driver holds that lock, and the driver starts the worker instead.
        hook_run = os.path.join(self.workdir, node, "devd-run")
        self.worker_locks[node] = Lock(hook_run, "worker", purpose="simulated devd").acquire()

    # -- devd and the worker -----------------------------------------------------
    def _devd(self, node: str, line: str) -> None:
        event = parse_text("devd-event", line)
        self.record(node, "devd", line)
        rule = devdconf.select(self.rules, event)
        if rule is None or not rule.action:
            return
        command = devdconf.expand(rule.action, event, quote=True)
        command = command.replace("/usr/local/libexec/carpha/", self.libexec + "/")
        config = self.configs[node]
        # devd's environment (PATH without /usr/local), plus where this
        # simulated node keeps carpha's state.
        shell = Runner(path="/sbin:/bin:/usr/sbin:/usr/bin", extra_env={
            "PYTHONPATH": os.path.join(ROOT, "lib"), "CARPHA_STATE_DIR": config.paths.state_dir,
            "CARPHA_RUN_DIR": self.worker_locks[node].run_dir, "CARPHA_NO_SYSLOG": "1"})
        # FreeBSD's sh understands the $'...' quoting newer devd produces; bash does here.
        result = shell.query(["/bin/bash", "-c", command], timeout=60, check=False)
        if result.returncode != 0:
            self.record(node, "devd", f"action exited {result.returncode}: {result.stderr.strip()}")
        if node not in self.due:
            self.due.append(node)

    @contextlib.contextmanager
    def by_hand(self, node: str):
        """An administrator's command on `node`: it runs in the driver's own
        thread, and its sleeps let every other process go on meanwhile."""
        yield

    def pair(self):
        """(the group's preferred node, its peer)."""
        return self.group.preferred_node, self.group.peer_of(self.group.preferred_node)

    def run_worker(self, node: str, why: str) -> None:
        """Start `carpha reconcile` on `node` as a process of its own (one
        that finds another worker running exits at once, as the real one)."""
        if self.cluster[node].up:
            self.spawn(node, "worker", lambda: self._reconcile(node, why))

    def _reconcile(self, node: str, why: str) -> None:
        config = self.configs[node]
        results = worker.reconcile(config, node, lambda: self.runner(node), self.log)
        for result in results.values():
            if result.error:
                self.record(node, "worker", f"{why}: {result.group}: CARP says {result.role}, held: {result.error}")
            elif result.changed:
                self.record(node, "worker", f"{why}: {result.group} -> {result.role}")

    def runner(self, node: str) -> Runner:
        host = self.cluster[node]
        rehearsal = self

        class SimRunner(Runner):
            def change(self, argv, *, timeout, check=True):
                argv = tuple(argv)
                rehearsal.record(node, "run", shlex.join(argv))
                if argv[:3] == ("service", "jail", "onestart") and argv[3] in host.jails:
                    rehearsal.double_starts += 1
                try:
                    result = super().change(argv, timeout=timeout, check=check)
                except CommandError as error:
                    rehearsal.failed_commands.append(f"{node}: {error}")
                    raise
                if result.returncode:
                    rehearsal.failed_commands.append(f"{node}: {shlex.join(argv)}: exit {result.returncode}")
                return result

        def execute(argv, timeout, env):
            self.run_scripted()
            if not host.up:
                raise ProcKilled()
            for prefix in list(self.fail_once.get(node, ())):
                if tuple(argv[:len(prefix)]) == prefix:       # a command failing once (soak, probe-fails-once)
                    self.fail_once[node].remove(prefix)
                    self.record(node, "scenario", f"{shlex.join(argv)} fails once")
                    return 1, "", f"{argv[0]}: simulated failure\n"
            result = host.execute(argv, timeout, env)
            self.check_invariants()
            return result

        return SimRunner(executor=execute, echo=lambda line: None, logger=None)

    # -- driving time -----------------------------------------------------------------
    def at(self, when: float, description: str, action: Callable[[], None]) -> None:
        self.scripted.append((when, description, action))
        self.scripted.sort(key=lambda s: s[0])

    def run_scripted(self) -> None:
        while self.scripted and self.scripted[0][0] <= self.sim_clock.now() - self.t0:
            when, description, action = self.scripted.pop(0)
            self.record("-", "scenario", description)
            action()

    def run_for(self, seconds: float, *, client: bool = True) -> None:
        end = self.sim_clock.now() + seconds
        self.client_on = client
        while self.sim_clock.now() < end:
            self.cluster.advance(min(TICK, end - self.sim_clock.now()))
            self.run_scripted()
            self.check_invariants()

    def start(self) -> None:
        self.t0 = self.sim_clock.now()

    # -- the client, the marks and the timeline ------------------------------------------
    def serving(self, jail: Optional[str] = None) -> List[str]:
        jail = jail or (self.group.jails[0] if self.group.jails else None)
        return [n for n, h in self.cluster.hosts.items() if h.up and jail in h.jails]

    def client_write(self) -> None:
        """One write and one read through the group's first jail wherever
        it runs. A read served by a half whose data differs from the
        serving node's own disk is a read from a diverged half (counted)."""
        for node in self.serving():
            if self.frozen(node):
                continue            # a frozen kernel answers no client
            try:
                self.cluster.write(node, self.group.jails[0])
            except ValueError:
                continue
            if self.group.storage.kind != "gmirror-ggate":
                continue
            served = self.cluster.read(node, self.group.jails[0])
            own = self.cluster[node].disks[self.group.storage.providers[node]]
            if served is not None and served is not own and served.blocks != own.blocks:
                self.diverged_reads += 1

    def mark_when(self, name: str, predicate: Callable[[], bool]) -> None:
        """Note the first time `predicate` holds, checked after every command
        any node runs, nested runs included (see seconds_until)."""
        self.marks[name] = (predicate, None)

    def seconds_until(self, name: str, since: float) -> Optional[float]:
        when = self.marks[name][1]
        return None if when is None else round(when - since, 3)

    def record(self, node: str, kind: str, text: str) -> None:
        t0 = getattr(self, "t0", None)
        self.timeline.append({"t": round(self.sim_clock.now() - (t0 or self.sim_clock.now()), 3) if t0 else 0.0,
                              "node": node, "event": kind, "detail": text})

    def close(self) -> None:
        self.witness_answers.set()
        self.sim_clock.stop_all()
        for held in self.worker_locks.values():
            held.release()
        clock.use(self.previous_clock)
