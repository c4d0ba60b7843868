"""`carpha simulate`: rehearse failovers on a simulated cluster.

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
all; the verdict says it, and the same seed replays the same run."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import random
import shlex
import shutil
import sys
import tempfile
import threading
from typing import Callable, Dict, List, Optional

from .. import clock, exits
from ..sim import devdconf
from ..store import journal
from ..engine import holds, transitions, worker
from ..actions.base import Context
from ..config import loads
from ..exits import CarphaError
from ..freebsd import parse_text
from ..engine.handover import hand_over
from ..store.lock import Lock
from ..host.runner import CommandError, Runner
from ..sim.clock import SimClock
from ..sim.cluster import Cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_CONFIG = os.path.join(ROOT, "examples", "three-servers.yaml")
DEVD_CONF = os.path.join(ROOT, "devd", "carpha.conf")
CRON_SECONDS = 60.0
NAS_DRIVES = ("ada1", "ada2")       # a NAS owner's drives (local-gmirror)
WRITE_EVERY = 0.5
TICK = 0.1
DISK_MIB = 256
_STAGED: Dict[str, str] = {}        # ROOT -> the staged libexec dir (see _install_hooks)


class ProcKilled(BaseException):
    """Its machine crashed under a simulated process: unwind (BaseException,
    so carpha's own `except Exception` handlers do not swallow it)."""


class Proc:
    """One simulated process (a worker, a heartbeat beat): its own thread,
    run by the DriverClock one at a time, so processes of different machines
    interleave in simulated time as separate processes do, and none runs
    nested inside another's sleep. `alive()` says whether its machine still
    runs the boot it started in."""

    def __init__(self, name: str, alive: Callable[[], bool], work: Callable[[], None], on_error):
        self.name = name
        self.alive = alive
        self.wake = None              # simulated t to resume at; None: running or done
        self.done = False
        self._work, self._on_error = work, on_error
        self._resume = threading.Event()
        self._paused = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"sim-{name}", daemon=True)

    def _main(self) -> None:
        DriverClock.local.proc = self
        self._resume.wait()
        self._resume.clear()
        try:
            if not self.alive():
                raise ProcKilled()
            self._work()
        except ProcKilled:
            pass
        except Exception as error:   # a failed run is part of the story
            self._on_error(error)
        finally:
            self.done = True
            self._paused.set()

    def sleep_until(self, wake: float) -> None:
        """In the process's own thread: hand the turn back until `wake`."""
        self.wake = wake
        self._paused.set()
        self._resume.wait()
        self._resume.clear()
        if not self.alive():
            raise ProcKilled()

    def run_turn(self) -> None:
        """In the driver's thread: let it run until it sleeps or ends."""
        self.wake = None
        self._paused.clear()
        if not self.thread.is_alive() and not self.done:
            self.thread.start()
        self._resume.set()
        self._paused.wait()

    def paused(self) -> bool:
        """Its machine's kernel is frozen: not scheduled until it runs on."""
        return False


class DriverClock(SimClock):
    """The simulated clock. Time moves only in the driver's thread (the
    scenario, an administrator's command): on the way it runs the cluster's
    events, `on_time()` (heartbeats, the client, devd's workers, cron) and,
    in order of their wake-up times, the simulated processes whose sleep is
    over. A process sleeping (carpha.clock.sleep, a simulated command that
    blocks) only hands the turn back."""
    on_time = None
    local = threading.local()
    STEP = 0.5

    def __init__(self):
        super().__init__()
        self.procs: List[Proc] = []

    def spawn(self, proc: Proc) -> Proc:
        proc.wake = self.t
        self.procs.append(proc)
        return proc

    def advance(self, seconds: float) -> None:
        proc = getattr(self.local, "proc", None)
        if proc is not None:
            proc.sleep_until(self.t + max(0.0, seconds))
            return
        target = self.t + seconds
        self._run_ready()
        while target - self.t > 1e-9:
            wakes = [p.wake for p in self.procs if p.wake is not None and p.wake > self.t]
            nxt = min([target, self.t + self.STEP] + wakes)
            super().advance(nxt - self.t)
            if self.on_time is not None:
                self.on_time()
            self._run_ready()

    def _run_ready(self) -> None:
        for _ in range(100_000):
            ready = [p for p in self.procs if p.wake is not None and p.wake <= self.t + 1e-9 and not p.paused()]
            if not ready:
                break
            min(ready, key=lambda p: p.wake).run_turn()
            self.procs = [p for p in self.procs if not p.done]
        else:
            raise RuntimeError("simulated processes do not settle")

    def running(self, prefix: str) -> bool:
        return any(p.name.startswith(prefix) and not p.done for p in self.procs)

    def stop_all(self) -> None:
        for p in list(self.procs):
            if not p.done and p.thread.is_alive():
                p.alive = lambda: False
                p.run_turn()
        self.procs = []


class Rehearsal:
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

    # -- the witness lease --------------------------------------------------------
    def _setup_witness(self) -> None:
        """A lease share both nodes reach, each through its own path (a
        symlink the scenario can break to cut that node off the witness)."""
        witness_config = next(iter(self.configs.values())).witness
        if witness_config.kind != "lease":
            return
        share = os.path.join(self.workdir, "witness-share")
        os.makedirs(share, mode=0o755)
        for node, config in list(self.configs.items()):
            access = os.path.join(self.workdir, node, "mnt-witness")
            os.makedirs(os.path.dirname(access), exist_ok=True)
            os.symlink(share, access)
            self.configs[node] = dataclasses.replace(
                config, witness=dataclasses.replace(config.witness, path=access))
            self.start_heartbeat(node)

    def start_heartbeat(self, node: str) -> None:
        from ..engine import heartbeat
        from ..engine import lease
        from ..safety import witness_config, witness_view
        config = self.configs[node]
        names = [g.name for g in witness_config.leased_groups(config, node)]
        if config.witness.kind != "lease" or not names:
            return          # serverC of a NAS group: no lease of its own
        peer = witness_config.peer_of(config, node)
        probe = self.probes[node] = heartbeat.replica_probe_for(config, node, self.runner(node), self.log, 0.25)
        self.heartbeats[node] = lease.Heartbeat(
            config.witness.path, node, peer, config.paths.state_dir,
            groups=lambda: witness_view.group_statuses(config.paths.state_dir, names, probe),
            probe_peer=lambda timeout: self.cluster[peer].up and self.cluster.link_ok(node, peer),
            io_timeout=self.io_timeout(node), require_mount=False)
        share_io = self.heartbeats[node]._share_io

        def hanging_share_io(statuses, progress, share_io=share_io):
            self.witness_answers.wait()          # a hard NFS mount: the call waits, then completes
            share_io(statuses, progress)
        self.heartbeats[node]._share_io = hanging_share_io
        if self.rig is not None:
            self.rig.start_petter(node)
        # carpha_heartbeat starts whenever rc gets to it: its own phase.
        self.next_beat[node] = self.sim_clock.monotonic() + self.rng.uniform(0, config.witness.interval_seconds)

    def io_timeout(self, node: str) -> float:
        """A beat's bound on the share and the ping (heartbeat.main_loop: half an interval)."""
        return min(1.0, self.configs[node].witness.interval_seconds / 2)

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
            holds.boot_hold(self.configs[node], self.runner(node), self.log)
        except CarphaError as error:           # rc goes on; the worker catches up
            self.record(node, "boot", f"carpha boot-hold: {error}")
        self.start_heartbeat(node)

    def _reach_witness_through(self, node: str, share: str) -> None:
        """What `node`'s witness path leads to: a directory under workdir."""
        access = self.configs[node].witness.path
        os.remove(access)
        os.symlink(os.path.join(self.workdir, share), access)

    def cut_witness(self, node: str) -> None:
        self._reach_witness_through(node, "no-such-share")

    def split_witness(self, node: str) -> None:
        """`node` mounts an empty share of its own (say, the NFS export
        remounted from somewhere else): it renews its record there, so it
        never fences, and sees no record of its peer."""
        os.makedirs(os.path.join(self.workdir, f"witness-split-{node}"), mode=0o755, exist_ok=True)
        self._reach_witness_through(node, f"witness-split-{node}")

    def stall_witness(self) -> threading.Event:
        """The share stops answering: every call on it waits (a hard NFS
        mount) until the returned event is set."""
        self.witness_answers.clear()
        return self.witness_answers

    def restore_witness(self, node: str) -> None:
        self._reach_witness_through(node, "witness-share")

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

    def beat_due(self) -> None:
        """Each node's heartbeat, as `carpha heartbeat` runs it: renew, publish
        the view, and fence the groups must_fence condemns; each beat a
        process of its own."""
        now = self.sim_clock.monotonic()
        for node in self.heartbeats:
            if (not self.cluster[node].up or now < self.next_beat[node] or self.frozen(node)
                    or self.sim_clock.running(f"{node}:beat")):
                continue
            self.next_beat[node] = now + self.configs[node].witness.interval_seconds
            self.spawn(node, "beat", lambda node=node: self._beat(node))

    def _beat(self, node: str) -> None:
        from ..engine import fence, heartbeat as daemon
        from ..safety import replica_drop, witness, witness_view
        heartbeat = self.heartbeats[node]
        config = self.configs[node]
        beat = heartbeat.beat()
        view = heartbeat.view()
        witness_view.save_view(config.paths.run_dir, view)
        halves = replica_drop.to_drop(self.probes[node].stalled, heartbeat.statuses, beat.own_ok)
        if halves:
            self.record(node, "heartbeat", f"{', '.join(halves)}: peer's half stalled, recorded "
                                           f"out of date, dropped")
            replica_drop.drop(config, halves, self.runner(node), self.log, 0.5)
        retry = daemon.reattach_due(config, self.probes[node], heartbeat.statuses, beat.peer_reachable,
                                       view.updated, self.log)
        if retry:                  # as `carpha heartbeat` does: a detached worker
            self.record(node, "heartbeat", f"{', '.join(retry)}: attaching the peer's half again")
            self.run_worker(node, "reconnect")
        doomed = witness.condemned(heartbeat.statuses, view, view.updated, config.witness.fence_after_seconds)
        if self.rig is not None:
            doomed += [d for d in self.rig.unusable(node) if d[0] not in dict(doomed)]
        if doomed:
            groups, reason = [group for group, _ in doomed], doomed[0][1]
            self.record(node, "fence", f"{', '.join(groups)}: {reason}")
            runner = self.runner(node)
            report = fence.fence(config, node, groups, runner, self.log, reason=reason,
                                 boot=holds.boot_id(runner, config))
            self.fences.append({"node": node, "groups": groups, "at": self.sim_clock.now(),
                                "seconds": report.seconds, "over_budget": report.over_budget})

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

    # -- the client and the invariants --------------------------------------------------
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

    def check_invariants(self) -> None:
        if self._checking:
            return
        self._checking = True
        try:
            for name, (predicate, when) in list(self.marks.items()):
                if when is None and predicate():
                    self.marks[name] = (predicate, self.sim_clock.now())
            group = self.group
            up = [h for h in self.cluster.hosts.values() if h.up]
            jails = [h.name for h in up if any(j in h.jails for j in group.jails)]
            self.max_serving = max(self.max_serving, len(jails))
            if len(jails) > 1:
                self.violations["jails"] = True
            ips = {str(a.ip) for a in group.addresses}
            holders = [h.name for h in up if any(a.addr in ips and not a.vhid
                                                  for ifp in h.interfaces.values() for a in ifp.addrs)]
            if len(holders) > 1:
                self.violations["addresses"] = True
            devices = {fs.device for fs in group.filesystems}
            mounted = [h for h in up if any(m["device"] in devices for m in h.mounts)]
            if len(mounted) > 1 and self._copy_shared(mounted):
                self.violations["mounts"] = True
        finally:
            self._checking = False

    def _copy_shared(self, hosts) -> bool:
        """Whether two of `hosts` (each with the group's filesystem mounted)
        can write one copy of the data: a disk in both mirrors, locally or
        through a ggate connection its server still holds open (a cut link
        only delays those writes). A standby that mounted its own disk
        early, with the old master fenced off it, writes only its own copy."""
        from ..sim.gatedev import dev_by_name, server
        seen = set()
        for host in hosts:
            mirror = host.mirrors.get(self.group.storage.mirror) if self.group.storage.kind == "gmirror-ggate" else None
            if mirror is None:
                return True        # not a mirror: one device, mounted twice
            copies = set()
            for comp in mirror.components:
                dev = dev_by_name(host, comp.prov)
                if dev is None:
                    copies.add((host.name, comp.prov))
                    continue
                srv = server(host, dev)
                proc = srv.processes.get(dev.conn) if srv is not None and srv.up else None
                if proc is not None and srv.boot_id == dev.remote_boot and host.alive(dev.pid):
                    copies.add((srv.name, proc["holds"]))
            if copies & seen:
                return True
            seen |= copies
        return False

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

    # -- the verdict -----------------------------------------------------------------------
    def node_state(self, node: str) -> dict:
        host = self.cluster[node]
        group = self.group
        if not host.up:
            return {"up": False, "carp": {}, "addresses": [], "mounts": [], "jails": [], "mirror": {}}
        mirror = host.mirrors.get(group.storage.mirror) if group.storage.kind == "gmirror-ggate" else None
        return {
            "up": True,
            "carp": {g.name: host.carp_state(g.carp.vhid, g.carp.interface) for g in self.configs[node].groups.values()
                     if node in g.nodes and g.carp is not None},
            "addresses": sorted(a.addr for ifp in host.interfaces.values() for a in ifp.addrs
                                if not a.vhid and a.addr in {str(x.ip) for x in group.addresses}),
            "mounts": sorted(m["mountpoint"] for m in host.mounts
                             if m["device"] in {f.device for f in group.filesystems}),
            "jails": sorted(j for j in host.jails if j in group.jails),
            "mirror": {} if mirror is None else {
                "name": mirror.name, "state": mirror.status(),
                "components": {c.prov: c.state for c in mirror.components}},
        }

    def lost_writes(self) -> int:
        group = self.group
        acked = [b for b in self.cluster.acknowledged if b.split(":")[1] in group.jails]
        serving = self.serving()
        if group.storage.kind != "gmirror-ggate" or not serving:
            return 0   # nothing serves: `converged` is false and says so
        disk = self.cluster[serving[0]].disks[group.storage.providers[serving[0]]]
        return sum(1 for b in acked if b not in disk.blocks)

    def converged(self) -> bool:
        group = self.group
        states = {n: self.node_state(n) for n in self.configs}
        masters = [n for n, s in states.items() if s["up"] and s["carp"].get(group.name) == "MASTER"]
        if len(masters) != 1:
            return False
        m = states[masters[0]]
        serves = (sorted(m["jails"]) == sorted(group.jails)
                  and len(m["addresses"]) == len(group.addresses)
                  and len(m["mounts"]) == len(group.filesystems))
        others_idle = all(not s["jails"] and not s["addresses"] and not s["mounts"]
                          for n, s in states.items() if n != masters[0])
        return serves and others_idle

    def published(self, node: str) -> dict:
        """The group's status in `node`'s witness record ({} if none)."""
        from ..safety import witness_files
        try:
            record = witness_files.read_record(os.path.join(self.workdir, "witness-share"), node)
        except CarphaError:
            return {}
        status = record.groups.get(self.group.name) if record else None
        return dataclasses.asdict(status) if status else {}

    def saved_state(self, node: str):
        """`node`'s saved state of the group (carpha.store.state)."""
        from ..store import state
        return state.load(self.configs[node].paths.state_dir, self.group.name)

    def mirror_complete(self, node: str) -> bool:
        """COMPLETE with both halves ACTIVE (a mirror that forgot a half
        says COMPLETE while the returning one still synchronises)."""
        mirror = self.node_state(node)["mirror"]
        halves = mirror.get("components", {})
        return (mirror.get("state") == "COMPLETE" and len(halves) == 2
                and all(state == "ACTIVE" for state in halves.values()))

    def held_because(self, node: str, words: str) -> bool:
        """Whether `node`'s worker journaled a hold whose reason says `words`."""
        return any(rec.get("result") == "held" and words in rec.get("reason", "")
                   for rec in journal.read(self.configs[node].paths.state_dir, self.group.carp.subsystem))

    def verdict(self, scenario: str, takeover: Optional[float], extra_ok: bool = True,
                expect_served: bool = True) -> dict:
        """`converged`: one node serves and the other is idle, or, when the
        scenario expects carpha to refuse (`expect_served=False`), nobody
        serves; `extra_ok` adds the scenario's own checks."""
        done = self.converged() if expect_served else self.serving() == []
        invariants = {
            "jails_on_one_node": not self.violations["jails"],
            "addresses_on_one_node": not self.violations["addresses"],
            "mirror_mounted_once": not self.violations["mounts"],
            "acknowledged_writes_lost": self.lost_writes(),
            "converged": done and extra_ok,
        }
        return {"scenario": scenario, "seed": self.seed, "group": group_name(self), "timeline": self.timeline,
                "failed_commands": list(self.failed_commands), "accepted_losses": self.accepted_losses(),
                "final": {n: self.node_state(n) for n in self.configs},
                "invariants": invariants, "takeover_seconds": takeover,
                "max_nodes_serving_at_once": self.max_serving,
                "reads_from_diverged_half": self.diverged_reads}

    def accepted_losses(self) -> List[str]:
        """Every data loss an administrator accepted, as the nodes journaled it."""
        found = []
        for node, config in self.configs.items():
            for rec in journal.read(config.paths.state_dir, self.group.carp.subsystem):
                if rec.get("kind") == "takeover" and rec.get("accepted_data_loss"):
                    found.append(f"{node}: {rec.get('reason') or 'takeover --accept-data-loss'}")
        return found

    def close(self) -> None:
        self.witness_answers.set()
        self.sim_clock.stop_all()
        for held in self.worker_locks.values():
            held.release()
        clock.use(self.previous_clock)


# --- building simulated nodes from a config ------------------------------------

def group_nodes(text: str) -> List[str]:
    """The nodes that serve a group (the witness is not simulated yet)."""
    import yaml
    data = yaml.safe_load(text) or {}
    nodes: List[str] = []
    for group in (data.get("groups") or {}).values():
        nodes += [n for n in group.get("nodes", []) if n not in nodes]
    return nodes


def group_nodes_of(path: str) -> List[str]:
    with open(path) as f:
        return group_nodes(f.read())


def first_group(configs, name: Optional[str] = None):
    groups = next(iter(configs.values())).groups
    return groups[name] if name else next(iter(groups.values()))


def group_name(r) -> str:
    return r.group.name


def build_nodes(text: str, source: str, workdir: str, cluster, *, on_host=None) -> Dict[str, object]:
    """One simulated host per group node, configured as rc.conf, jail.conf
    and installation would leave it: em0 with the node's address, the CARP
    vhid (the preferred node with the lower advskew, preempt on), the jails
    and services defined, and the mirror labelled on the preferred node's
    disk with a fresh UFS holding the jails. Each node's carpha config gets
    its own state and run directories under `workdir`. `on_host(node, host,
    config)` runs before CARP starts (e.g. to listen to devd)."""
    configs = {}
    for index, node in enumerate(group_nodes(text), start=1):
        config = loads(text, source, node=node)
        home = os.path.join(workdir, node)
        paths = dataclasses.replace(config.paths, state_dir=os.path.join(home, "db"),
                                    run_dir=os.path.join(home, "run"))
        config = configs[node] = dataclasses.replace(config, paths=paths)
        mine = [g for g in config.groups.values() if node in g.nodes]
        interfaces, disks = {}, {}
        for group in mine:
            for binding in group.bindings:
                if binding.address is None:
                    raise CarphaError(f"simulate: group {group.name} needs carp.address (the vhid's address)",
                                      exits.CONFIG)
                if binding.interface in interfaces:
                    continue
                # The node's address on the first interface; on another (a
                # multi-vhid group's DMZ), host `index` of the vhid's subnet,
                # on a segment of its own.
                other = len(interfaces)
                own = config.nodes[node].address if not other else binding.address.network[index]
                interfaces[binding.interface] = {
                    "ether": f"58:9c:fc:00:{other:02x}:{index:02x}",
                    "inet": [f"{own}/{binding.address.network.prefixlen}"],
                    **({"segment": binding.interface} if other else {})}
            if group.storage.kind == "gmirror-ggate":
                disks[group.storage.providers[node]] = DISK_MIB
        nas_owner = [g for g in mine if g.storage.kind == "local-gmirror" and g.preferred_node == node]
        for drive in NAS_DRIVES if nas_owner else ():
            disks[drive] = DISK_MIB
        if not interfaces:      # a NAS owner in no CARP group: its LAN address only
            interfaces["em0"] = {"ether": f"58:9c:fc:00:00:{index:02x}",
                                 "inet": [f"{config.nodes[node].address}/24"]}
        # The NAS owner loads geom_mirror at boot (loader.conf): the kernel
        # assembles its mirror; the other nodes load it on `carpha takeover`.
        loader = ("carp", "geom_mirror") if nas_owner and not any(
            g.storage.kind == "gmirror-ggate" for g in mine) else ("carp",)
        host = cluster.add_host(node, interfaces=interfaces, disks=disks, loader=loader)
        if on_host is not None:
            on_host(node, host, config)
        host.set_sysctl("net.inet.carp.preempt", 1)
        for group in mine:
            for binding in group.bindings:
                host.add_carp(binding.interface, binding.vhid,
                              advskew=100 if node == group.preferred_node else 200,
                              address=str(binding.address))
            root = group.filesystems[0].mountpoint if group.filesystems else "/"
            for jail in group.jails:
                host.define_jail(jail, path=f"{root.rstrip('/')}/jails/{jail}", hostname=f"{jail}.example.org")
            for service in group.services:
                host.define_service(service)
    for group in {g.name: g for c in configs.values() for g in c.groups.values()}.values():
        _seed_storage(cluster, group)
    return configs


def _seed_storage(cluster, group) -> None:
    """The preferred node's disk holds the mirror and its filesystem, as
    after `gmirror label` and `newfs -j` during installation. A NAS
    owner's two drives hold its mirror, running (assembled at boot)."""
    if group.storage.kind == "local-gmirror":
        host = cluster[group.preferred_node]
        host.kldload("geom_mirror")
        host.label_mirror(group.storage.mirror, list(NAS_DRIVES))
        for fs in group.filesystems:
            host.make_filesystem(fs.device)
        return
    if group.storage.kind != "gmirror-ggate":
        return
    host = cluster[group.preferred_node]
    host.kldload("geom_mirror")
    host.label_mirror(group.storage.mirror, [group.storage.providers[host.name]])
    for fs in group.filesystems:
        host.make_filesystem(fs.device, dirs=[f"jails/{j}" for j in group.jails])
    host.run("gmirror", "stop", group.storage.mirror)
    host.run("kldunload", "geom_mirror")


# --- scenarios -------------------------------------------------------------------------

def steady_state(r: Rehearsal) -> None:
    """Boot: CARP elects the preferred node, carpha brings the group up and
    the peer's disk resynchronises; the timeline starts after that, at a
    seeded point of every timer's cycle."""
    r.start()
    r.run_for(90 + r.rng.uniform(0, 5), client=False)
    r.timeline.clear()
    r.start()
    r.next_cron = r.rng.uniform(1, CRON_SECONDS)
    r.next_write = r.sim_clock.now() + r.rng.uniform(0, WRITE_EVERY)


def first_time(r: Rehearsal, predicate: Callable[[], bool], limit: float, step: float = TICK) -> Optional[float]:
    """Simulated seconds until `predicate` first holds, checked after every
    command any node runs (not only between driver ticks), or None."""
    started = r.sim_clock.now()
    key = f"first_time@{started}"
    r.mark_when(key, predicate)
    try:
        while r.sim_clock.now() - started < limit and r.marks[key][1] is None:
            if predicate():
                return round(r.sim_clock.now() - started, 3)
            r.run_for(step)
        return r.seconds_until(key, started)
    finally:
        del r.marks[key]


def _steady_in_sync(r: Rehearsal):
    """The steady state with the preferred node's mirror COMPLETE, 3 s on;
    returns (the preferred node, its peer)."""
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(3)
    return a, b


def scenario_master_crash(r: Rehearsal) -> dict:
    steady_state(r)
    master, peer = r.pair()
    r.run_for(5)
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    takeover = first_time(r, lambda: r.serving() == [peer], 60)
    r.run_for(20)           # serverB's pass goes on: attaching the dead peer's disk times out
    return r.verdict("master-crash", takeover)


def scenario_backup_crash_and_return(r: Rehearsal) -> dict:
    """serverB (the standby) dies: serverA's writes wait on its half until
    serverA's heartbeat has recorded that half outdated on the witness, then
    go on alone; serverB returns and is resynchronised."""
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record(peer, "scenario", "crash (power cut)")
    r.cluster.crash(peer)
    seen_at_drop: Dict[str, dict] = {}
    host = r.cluster[master]

    def dropped() -> bool:
        gone = not host.ggate
        if gone:
            seen_at_drop.setdefault("record", r.published(master))
        return gone
    r.mark_when("dropped", dropped)
    r.run_for(20)
    r.boot(peer)

    resynced = first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(5)
    record = seen_at_drop.get("record", {})
    verdict = r.verdict("backup-crash-and-return", None, extra_ok=resynced is not None
                        and record.get("replica_in_sync") is False)
    verdict["published_at_drop"] = record
    return verdict


def scenario_planned_release(r: Rehearsal) -> dict:
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record(master, "scenario", f"carpha release {r.group.name}")
    ctx = Context(r.configs[master], r.configs[master].groups[r.group.name], master, r.runner(master), r.log)
    with r.by_hand(master):
        hand_over(ctx, transitions.BACKUP)
    takeover = first_time(r, lambda: r.serving() == [peer], 60)
    r.run_for(70)
    return r.verdict("planned-release", takeover, extra_ok=r.serving() == [peer])


def scenario_flap(r: Rehearsal) -> dict:
    steady_state(r)
    master = r.group.preferred_node
    carp = r.group.carp
    host = r.cluster[master]
    for i in range(100):
        state = "backup" if i % 2 == 0 else "master"
        r.at(1.0 + i * 0.05, f"{master}: force CARP {state}",
             lambda s=state: host.execute(["ifconfig", carp.interface, "vhid", str(carp.vhid), "state", s], 5, {}))
    r.run_for(30)
    return r.verdict("flap", None, extra_ok=r.serving() == [master] and r.double_starts == 0)


def scenario_boot_both(r: Rehearsal) -> dict:
    steady_state(r)
    nodes = list(r.configs)
    r.run_for(3)
    for node in nodes:
        r.record(node, "scenario", "power cut")
        r.cluster.crash(node)
    r.run_for(5, client=False)
    for node in nodes:
        r.boot(node)
    takeover = first_time(r, lambda: len(r.serving()) == 1, 60)
    r.run_for(30)
    return r.verdict("boot-both", takeover)


def scenario_maintenance_backup(r: Rehearsal) -> dict:
    """serverB is in maintenance when serverA dies: serverB must not take the
    group, and must say why."""
    from ..safety import maintenance
    steady_state(r)
    master, peer = r.pair()
    peer_state = r.configs[peer].paths.state_dir
    r.record(peer, "scenario", "carpha maintenance on --reason 'disk swap' --for 4h")
    maintenance.enable(peer_state, "disk swap", 4 * 3600, now=r.sim_clock.now())
    r.run_for(3)
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    r.run_for(70)                          # past a cron run too
    return r.verdict("maintenance-backup", None, extra_ok=r.held_because(peer, "disk swap"),
                     expect_served=False)


def scenario_switchover(r: Rehearsal) -> dict:
    """`carpha switchover` there and back, the client writing throughout:
    zero acknowledged writes lost in both directions."""
    from ..engine.handover import switch_over
    steady_state(r)
    first, second = r.pair()
    timings = []
    for source, target in ((first, second), (second, first)):
        first_time(r, lambda: r.mirror_complete(source), 240, 1.0)   # the replica must be in sync first
        r.run_for(3)
        r.record(source, "scenario", f"carpha switchover {r.group.name} --to {target}")
        config = r.configs[source]
        ctx = Context(config, config.groups[r.group.name], source, r.runner(source), r.log)
        started = r.sim_clock.now()
        with r.by_hand(source):
            switch_over(ctx, to=target, pause=r.run_for, echo=lambda line: r.record(source, "switchover", line))
        timings.append(round(r.sim_clock.now() - started, 3))
        r.run_for(10)
    verdict = r.verdict("switchover", timings[0], extra_ok=r.serving() == [first])
    verdict["switchover_seconds"] = timings
    return verdict


def scenario_peer_link_partition(r: Rehearsal) -> dict:
    """serverA and serverB stop hearing each other; both still reach the
    witness. CARP makes serverB MASTER too, but serverA's lease keeps
    renewing, so serverB must not promote: it refuses (and hands CARP back,
    though without adverts from serverA its CARP keeps coming back), and
    the jails stay on serverA only."""
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record("-", "scenario", f"cut the link between {master} and {peer}")
    r.cluster.cut(master, peer)
    r.mark_when("both master", lambda: r.node_state(peer)["carp"].get(r.group.name) == "MASTER")
    r.run_for(90)
    both_master = r.marks["both master"][1] is not None
    refused = any(e["node"] == peer and e["event"] == "worker" and "record advanced" in e["detail"]
                  for e in r.timeline)
    r.record("-", "scenario", "heal the link")
    r.cluster.heal(master, peer)
    r.run_for(90)
    verdict = r.verdict("peer-link-partition", None, extra_ok=both_master and refused
                        and r.serving() == [master])
    return verdict


def scenario_witness_down_then_master_crash(r: Rehearsal) -> dict:
    """The witness goes away (nothing changes for the running master), then
    serverA dies: serverB must not promote blindly, and says why."""
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record("-", "scenario", "the witness share becomes unreachable")
    for node in r.configs:
        r.cut_witness(node)
    r.run_for(20)
    still_served = r.serving() == [master]
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    r.run_for(70)
    return r.verdict("witness-down-then-master-crash", None, expect_served=False,
                     extra_ok=still_served and r.held_because(peer, "witness unreachable"))


def scenario_stale_replica(r: Rehearsal) -> dict:
    """serverB's half is cut off (its ggated dies), serverA keeps writing on
    its own disk, then serverA crashes: serverB must refuse to promote; an
    administrator's `takeover --accept-data-loss` promotes it, and the
    verdict counts exactly the writes that loses."""
    from ..actions import storage
    from ..freebsd import commands as cmd
    from ..engine.handover import hand_over
    steady_state(r)
    master, peer = r.pair()
    peer_config = r.configs[peer]
    peer_ctx = Context(peer_config, peer_config.groups[r.group.name], peer, r.runner(peer), r.log)
    r.run_for(3)
    r.cluster.resync_rate = 1024 * 1024      # a slow resync: serverA dies before it is done
    r.record(peer, "scenario", "ggated dies: serverA loses serverB's half of the mirror")
    r.cluster[peer].execute(list(cmd.pkill_argv(storage.ggated_argv(peer_ctx))), 10, {})
    disconnected_at = len([b for b in r.cluster.acknowledged if b.split(":")[1] in r.group.jails])
    # serverA's mirror drops serverB's half when the ggate timeout expires;
    # serverA's next heartbeat (not its next worker pass) publishes that the
    # replica is stale, and serverA dies just after, writing alone meanwhile.
    dropped = first_time(r, lambda: not r.mirror_complete(master), 60)
    published = first_time(r, lambda: r.published(master).get("replica_in_sync") is False, 60)
    r.run_for(5)
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    r.run_for(60)
    refused = r.serving() == [] and r.held_because(peer, "our replica is out of date")
    r.record(peer, "scenario", f"carpha takeover {r.group.name} --accept-data-loss")
    with r.by_hand(peer):
        hand_over(peer_ctx, transitions.MASTER, accept_data_loss=True)
    r.run_for(10)
    group = r.group
    disk = r.cluster[peer].disks[group.storage.providers[peer]]
    ours = [b for b in r.cluster.acknowledged if b.split(":")[1] in group.jails]
    # serverA returns: its disk holds the discarded writes and may carry the
    # same genid/syncid as serverB's mirror; it is blanked before serverB
    # sees it, and copied in full.
    r.cluster.resync_rate = 64 * 1024 * 1024
    r.boot(master)
    resynced = first_time(r, lambda: r.mirror_complete(peer), 300, 1.0)
    blanked = any(e["node"] == master and e["detail"] == f"gmirror clear {group.storage.providers[master]}"
                  for e in r.timeline)
    before, after = ours[:disconnected_at], ours[disconnected_at:]
    verdict = r.verdict("stale-replica", None, extra_ok=published is not None and refused
                        and r.serving() == [peer] and resynced is not None and blanked)
    verdict["published_after_drop_seconds"] = published if dropped is not None else None
    # Writes acknowledged while serverB's half was in sync must all survive;
    # those made on serverA alone afterwards are the loss the administrator
    # accepted, counted exactly.
    verdict["invariants"]["acknowledged_writes_lost"] = sum(1 for b in before if b not in disk.blocks)
    verdict["accepted_writes_lost"] = sum(1 for b in after if b not in disk.blocks)
    verdict["invariants"]["converged"] = verdict["invariants"]["converged"] and verdict["accepted_writes_lost"] > 0
    return verdict


def scenario_isolate_master(r: Rehearsal) -> dict:
    """serverA loses every link (to serverB and to the witness) while its
    client keeps writing: serverA fences itself within its fencing bound,
    serverB promotes only after takeover_after, and no acknowledged write is
    lost (the writes serverA could not mirror hang until the fence kills
    their writers). After the links come back serverA stays a demoted
    standby until serverB records serverA's half in sync; then, being the
    preferred node, it may take the group back."""
    from ..config import fencing_bound
    steady_state(r)
    master, peer = r.pair()
    w = r.configs[master].witness
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.record(master, "scenario", f"{master} loses every link: to {peer} and to the witness")
    cut = r.sim_clock.now()
    r.mark_when("fenced", lambda: master not in r.serving())
    r.mark_when("promoted", lambda: r.serving() == [peer])
    r.cluster.cut(master, peer)
    r.cut_witness(master)
    first_time(r, lambda: r.marks["promoted"][1] is not None, 120)
    fenced, took = r.seconds_until("fenced", cut), r.seconds_until("promoted", cut)
    r.run_for(10)
    r.record(master, "scenario", "the links come back")
    r.cluster.heal(master, peer)
    r.restore_witness(master)
    r.mark_when("synced", lambda: r.mirror_complete(peer))
    r.mark_when("back", lambda: master in r.serving())
    r.run_for(130)
    synced, back = r.marks["synced"][1], r.marks["back"][1]
    bound = fencing_bound(w, r.configs[master].groups, master)
    timing_ok = (fenced is not None and fenced <= bound and took is not None
                 and took >= w.takeover_after_seconds - w.interval_seconds)
    order_ok = back is None or (synced is not None and synced <= back)
    verdict = r.verdict("isolate-master", took, extra_ok=timing_ok and order_ok and len(r.serving()) == 1
                        and not any(f["over_budget"] for f in r.fences))
    verdict["fence_seconds"] = fenced
    verdict["fencing_bound_seconds"] = bound
    return verdict


def scenario_fence_stuck_jail(r: Rehearsal) -> dict:
    """serverA loses every link while one of its jailed processes ignores
    SIGTERM and its writes hang on the dead peer: the fence still leaves no
    jailed process (SIGKILL first; jail -R alone would wait 10 s in
    term_procs() and be killed at its cap), inside the fencing bound, and
    no write the stuck jail made is acknowledged."""
    from ..config import fencing_bound
    steady_state(r)
    master, peer = r.pair()
    w = r.configs[master].witness
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    host = r.cluster[master]
    for name in r.group.jails:
        host.jails[name]["stubborn"] = True
    r.record(master, "scenario", f"a process in each jail ignores SIGTERM; {master} loses every link")
    cut = r.sim_clock.now()
    r.mark_when("no jail", lambda: not host.jails)
    r.cluster.cut(master, peer)
    r.cut_witness(master)
    first_time(r, lambda: r.serving() == [peer], 120)
    emptied = r.seconds_until("no jail", cut)
    r.run_for(10)
    r.record(master, "scenario", "the links come back")
    r.cluster.heal(master, peer)
    r.restore_witness(master)
    r.run_for(70)
    # serverA, preferred, may take the group back once its half is in sync
    first_time(r, lambda: r.converged() and any(r.mirror_complete(n) for n in r.pair()), 180, 1.0)
    r.run_for(10)
    bound = fencing_bound(w, r.configs[master].groups, master)
    stuck = [b for b in r.cluster.acknowledged if b.startswith(f"{master}:")
             and b not in r.cluster[peer].disks[r.group.storage.providers[peer]].blocks]
    verdict = r.verdict("fence-stuck-jail", None, extra_ok=emptied is not None and emptied <= bound
                        and not stuck and len(r.serving()) == 1 and not any(f["over_budget"] for f in r.fences))
    verdict["jails_gone_seconds"] = emptied
    verdict["fencing_bound_seconds"] = bound
    return verdict


def scenario_double_failover(r: Rehearsal) -> dict:
    """Failover after failover, no command typed: serverA (serving) dies and
    serverB takes over; serverA returns, is resynchronised and, being the
    preferred node, takes the group back; the standby serverB dies and
    returns (its half is dropped, then resynchronised); serverA dies again
    and serverB takes over; serverA returns and is resynchronised. After
    each return the mirror is COMPLETE with both halves ACTIVE: the second,
    third and tenth failovers work like the first."""
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    takeovers, complete = [], []

    def crash(node):
        r.run_for(3 + r.rng.uniform(0, 2))
        r.record(node, "scenario", "crash (power cut)")
        r.cluster.crash(node)

    def back(node, server):
        r.run_for(10)
        r.boot(node)
        complete.append(first_time(r, lambda: r.mirror_complete(server) and r.serving() == [server], 400, 1.0))

    crash(a)
    takeovers.append(first_time(r, lambda: r.serving() == [b], 90))
    back(a, b)
    takeovers.append(first_time(r, lambda: r.serving() == [a], 300, 1.0))   # preferred: takes it back
    complete.append(first_time(r, lambda: r.mirror_complete(a), 400, 1.0))
    crash(b)
    back(b, a)
    crash(a)
    takeovers.append(first_time(r, lambda: r.serving() == [b], 90))
    back(a, b)
    r.run_for(10)
    ok = all(t is not None for t in takeovers + complete) and r.serving() in ([a], [b])
    verdict = r.verdict("double-failover", takeovers[0], extra_ok=ok)
    verdict["takeover_seconds_per_cycle"] = takeovers
    verdict["complete_after_return_seconds"] = complete
    return verdict


def scenario_reboot_preferred(r: Rehearsal) -> dict:
    """serverA (preferred) power-cycles; serverB takes over and writes on.
    Back up, serverA keeps its CARP demotion (boot-hold) until serverB
    records serverA's half in sync, and only then takes the group back."""
    master, peer = _steady_in_sync(r)
    r.cluster.resync_rate = 2 * 1024 * 1024       # a slow resync: 256 MiB in about 2 minutes
    r.record(master, "scenario", "reboot (power cycle)")
    r.cluster.crash(master)
    first_time(r, lambda: r.serving() == [peer], 60)
    r.run_for(20)                                  # serverB writes: serverA's disk falls behind
    r.boot(master)
    seen: Dict[str, float] = {}

    def served_or_synced() -> bool:
        if master in r.serving():
            seen.setdefault("served", r.sim_clock.now())
        if r.mirror_complete(peer):
            seen.setdefault("synced", r.sim_clock.now())
        return bool(seen)

    first_time(r, served_or_synced, 400, 1.0)
    back = first_time(r, lambda: r.serving() == [master], 300, 1.0)
    r.run_for(10)
    waited = "synced" in seen and seen["synced"] < seen.get("served", float("inf"))
    verdict = r.verdict("reboot-preferred", back, extra_ok=waited and back is not None
                        and r.held_because(master, "") is not None)
    verdict["took_back_after_sync"] = waited
    return verdict


def scenario_clock_step(r: Rehearsal) -> dict:
    """serverA (preferred) power-cycles and boots demoted (boot-hold); then
    ntpd steps its clock by an hour, which moves kern.boottime (kern_tc.c
    tc_setclock()). carpha's share of serverA's demotion stays exactly
    DEMOTION through the hold (never added twice), is removed once serverB
    records serverA's half in sync (not before, and not forgotten), and
    serverA takes the group back."""
    from ..safety import maintenance
    steady_state(r)
    master, peer = r.pair()
    host = r.cluster[master]
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.cluster.resync_rate = 2 * 1024 * 1024       # a slow resync: the hold lasts a while
    r.record(master, "scenario", "reboot (power cycle)")
    r.cluster.crash(master)
    first_time(r, lambda: r.serving() == [peer], 60)
    r.run_for(20)                                  # serverB writes: serverA's disk falls behind
    r.boot(master)
    highest = {"demotion": 0}

    def demotion():
        return int(host.sysctl["net.inet.carp.demotion"]) if host.up else None

    def doubled() -> bool:
        now = demotion() or 0
        highest["demotion"] = max(highest["demotion"], now)
        return now > maintenance.DEMOTION

    at_boot = demotion()
    r.mark_when("doubled", doubled)
    r.mark_when("released", lambda: demotion() == 0)
    r.mark_when("recorded in sync", lambda: r.saved_state(peer).replica_in_sync)
    r.run_for(5)
    r.record(master, "scenario", "ntpd steps the clock by +3600 s (kern.boottime moves with it)")
    boottime = host.sysctl["kern.boottime"]
    host.step_clock(3600)
    stepped = host.sysctl["kern.boottime"] != boottime
    after_step = demotion()
    since = r.sim_clock.now()
    first_time(r, lambda: r.marks["released"][1] is not None, 600, 1.0)
    back = first_time(r, lambda: r.serving() == [master], 300, 1.0)
    r.run_for(10)
    recorded, released = r.seconds_until("recorded in sync", since), r.seconds_until("released", since)
    in_time = recorded is not None and released is not None and recorded <= released
    exact = (at_boot == after_step == maintenance.DEMOTION and r.marks["doubled"][1] is None
             and demotion() == 0)
    verdict = r.verdict("clock-step", back, extra_ok=stepped and exact and in_time and back is not None
                        and r.serving() == [master])
    verdict["demotion"] = {"at_boot": at_boot, "after_step": after_step, "highest": highest["demotion"],
                           "final": demotion()}
    verdict["recorded_in_sync_seconds"] = recorded
    verdict["released_seconds"] = released
    return verdict


def _force_takeover(r: Rehearsal, node: str) -> None:
    """`carpha takeover GROUP --accept-data-loss` on `node`, as an
    administrator runs it when the peer's record cannot be read (a plain
    takeover is refused then: unknown is not "fine")."""
    config = r.configs[node]
    ctx = Context(config, config.groups[r.group.name], node, r.runner(node), r.log)
    r.record(node, "scenario", f"carpha takeover {r.group.name} --accept-data-loss")
    with r.by_hand(node):
        hand_over(ctx, transitions.MASTER, accept_data_loss=True)


def _from_journal(r: Rehearsal, node: str, record: dict, event: str, detail: str) -> None:
    """A timeline entry at the time `node` journaled `record`."""
    r.timeline.append({"t": round(record["time"] - r.t0, 3), "node": node, "event": event, "detail": detail})
    r.timeline.sort(key=lambda e: e["t"])


def scenario_split_brain_heal(r: Rehearsal) -> dict:
    """Both sides promote the same generation without seeing each other: the
    witness share splits (each node sees an empty share of its own, so both
    renew their records and nobody fences), serverA dies and serverB is
    forced to serve; serverB dies, serverA comes back and is forced to serve
    from its own disk. Once serverB is back and the share heals, serverA
    must refuse to resynchronise in either direction (no ggatec create, no
    insert, an alert) until `carpha resolve web --keep serverA`; then
    serverB's disk is rebuilt from serverA's. serverB's writes are the loss
    the administrator accepted, counted exactly."""
    from ..ops.report import node_report
    from ..safety.splitbrain import resolve
    steady_state(r)
    a, b = r.pair()
    group = r.group
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(3)
    r.record("-", "scenario", "the witness share splits: each node sees an empty share of its own")
    for node in r.configs:
        r.split_witness(node)
    r.run_for(4)

    def ours():
        return [x for x in r.cluster.acknowledged if x.split(":")[1] in group.jails]

    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    b_from = len(ours())
    _force_takeover(r, b)
    b_served = r.serving() == [b]
    r.run_for(20)                                  # the client writes on serverB's disk alone
    b_to = len(ours())
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.run_for(5)
    r.boot(a)
    # The administrator does not wait for serverB's record (there is none
    # on serverA's share); the reboot forgot serverA's old MASTER role.
    _force_takeover(r, a)                          # from serverA's own disk: serverB's writes are not on it
    a_served = r.serving() == [a]
    r.run_for(20)
    r.boot(b)
    b_back = r.sim_clock.now()
    r.run_for(70)                                  # serverB exports its disk; the share is still split
    a_state = r.configs[a].paths.state_dir
    unknown = [(rec, step) for rec in journal.read(a_state, group.carp.subsystem)
               if rec.get("kind") == "run" and rec["time"] > b_back
               for step in rec.get("did", []) if "while its generation is unknown" in step]
    if unknown:
        _from_journal(r, a, unknown[0][0], "worker", unknown[0][1])
    generations = {n: r.saved_state(n).generation for n in (a, b)}
    r.record("-", "scenario", "the witness share heals")
    for node in r.configs:
        r.restore_witness(node)
    healed = r.sim_clock.now() - r.t0
    r.run_for(130)                                 # two cron passes on serverA
    alerts = [rec for rec in journal.read(a_state, group.carp.subsystem) if rec.get("kind") == "split-brain"]
    for rec in alerts:
        _from_journal(r, a, rec, "alert", rec["reason"])
    a_ctx = Context(r.configs[a], r.configs[a].groups[group.name], a, r.runner(a), r.log)
    status = node_report(r.configs[a], r.runner(a), r.log)[group.name].get("split_brain")
    r.record(a, "status", f"split brain: {status}")
    touched = [e["detail"] for e in r.timeline if e["t"] >= healed and e["node"] == a and e["event"] == "run"
               and e["detail"].startswith(("ggatec create", "gmirror insert", "gmirror rebuild"))]
    held = (len(alerts) == 1 and status is not None and not touched and r.serving() == [a]
            and list(r.node_state(a)["mirror"].get("components", {})) == [group.storage.providers[a]])
    r.record(a, "scenario", f"carpha resolve {group.name} --keep {a}")
    with r.by_hand(a):
        _, said = resolve(a_ctx, a)
    r.record(a, "resolve", said)
    resynced = first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(5)
    disk_a = r.cluster[a].disks[group.storage.providers[a]]
    disk_b = r.cluster[b].disks[group.storage.providers[b]]
    acked = ours()
    on_b_alone = acked[b_from:b_to]
    others = acked[:b_from] + acked[b_to:]
    verdict = r.verdict("split-brain-heal", None, extra_ok=(
        b_served and a_served and generations[a] == generations[b] == 2 and bool(unknown) and held
        and resynced is not None and r.serving() == [a] and disk_a.blocks == disk_b.blocks))
    verdict["invariants"]["acknowledged_writes_lost"] = sum(1 for x in others if x not in disk_a.blocks)
    verdict["accepted_writes_lost"] = sum(1 for x in on_b_alone if x not in disk_a.blocks)
    verdict["invariants"]["converged"] = verdict["invariants"]["converged"] and verdict["accepted_writes_lost"] > 0
    verdict["generations_at_heal"] = generations
    verdict["refused_before_resolve"] = held
    verdict["resync_seconds"] = resynced
    return verdict


# --- the promotion protocol (each a reproduction of a hole a fault soak found) ---

def _settle_live(r: Rehearsal, limit: float = 300) -> Optional[float]:
    """Until exactly one node serves with its mirror COMPLETE, both halves ACTIVE."""
    return first_time(r, lambda: r.converged() and any(r.mirror_complete(n) for n in r.pair()), limit, 1.0)


def _isolated_then_served_by_peer(r: Rehearsal):
    """The steady state, then the preferred node loses every link (to its
    peer and to the witness) and fences itself; returns (it, its peer) once
    the peer serves."""
    a, b = _steady_in_sync(r)
    r.record(a, "scenario", f"{a} loses every link")
    r.cluster.cut(a, b)
    r.cut_witness(a)
    first_time(r, lambda: r.serving() == [b], 120)
    return a, b


def scenario_promote_while_preferred_boots(r: Rehearsal) -> dict:
    """serverA dies; serverB promotes; serverA boots inside serverB's
    promotion. serverB's intent (role, generation) is on the witness before
    its jails start, so serverA sees it serving and does not preempt onto
    its own stale disk."""
    a, b = _steady_in_sync(r)
    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    intent = first_time(r, lambda: r.saved_state(b).role == "MASTER", 90, 0.1)
    r.boot(a)                                  # inside serverB's promotion
    live = _settle_live(r)
    return r.verdict("promote-while-preferred-boots", intent, extra_ok=live is not None)


def scenario_takeover_peer_unknown(r: Rehearsal) -> dict:
    """serverA is isolated and fences; serverB serves and acknowledges
    writes; serverB dies; serverA boots, still cut off from the witness. A
    plain `carpha takeover web` there is refused (serverB's record is
    unknown), and says what to do."""
    a, b = _isolated_then_served_by_peer(r)
    r.run_for(15)                              # serverB writes alone
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.cluster.crash(a)
    r.cluster.heal(a, b)
    r.boot(a)                                  # its witness path still broken
    r.run_for(10)
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha takeover {r.group.name}")
    refusal = ""
    try:
        with r.by_hand(a):
            hand_over(ctx, transitions.MASTER)
    except CarphaError as error:
        refusal = str(error)
    r.record(a, "takeover", refusal or "not refused")
    r.run_for(10)
    said = "cannot be read" in refusal and "--accept-data-loss" in refusal
    verdict = r.verdict("takeover-peer-unknown", None, extra_ok=said, expect_served=False)
    verdict["refusal"] = refusal
    return verdict


def scenario_switchover_flap_partition(r: Rehearsal) -> dict:
    """`carpha switchover` to serverB and back; then a CARP flap on serverB
    and an A-B link cut. Both nodes decide, but the next generation can be
    claimed once on the witness: the group is never on two nodes."""
    from ..engine.handover import switch_over
    steady_state(r)
    a, b = r.pair()
    for source, target in ((a, b), (b, a)):
        first_time(r, lambda: r.mirror_complete(source), 240, 1.0)
        r.run_for(3)
        config = r.configs[source]
        ctx = Context(config, config.groups[r.group.name], source, r.runner(source), r.log)
        r.record(source, "scenario", f"carpha switchover {r.group.name}")
        with r.by_hand(source):
            switch_over(ctx, to=target, pause=r.run_for, echo=lambda line: r.record(source, "switchover", line))
    r.run_for(5)
    carp = r.group.carp
    host = r.cluster[b]
    r.record(b, "scenario", "CARP flaps on serverB, then the A-B link is cut")
    host.execute(["ifconfig", carp.interface, "vhid", str(carp.vhid), "state", "master"], 5, {})
    r.cluster.cut(a, b)
    r.run_for(60)
    r.cluster.heal(a, b)
    live = _settle_live(r)
    return r.verdict("switchover-flap-partition", None, extra_ok=live is not None)


def scenario_release_dead_standby(r: Rehearsal) -> dict:
    """serverB dies; `carpha release web` on serverA: the mirror's stop waits
    on serverB's dead half until serverA's heartbeat has recorded it out of
    date and dropped it; what stays published is that record, never the
    "in sync" of before. serverB boots: it refuses its stale disk and
    yields, and serverA, which has every write, serves again."""
    a, b = _steady_in_sync(r)
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha release {r.group.name}")
    try:
        with r.by_hand(a):
            hand_over(ctx, transitions.BACKUP)
    except CarphaError as error:
        r.record(a, "release", f"failed: {error}")
    r.run_for(30)
    published = r.published(a)
    r.boot(b)
    live = _settle_live(r, 400)
    ok = live is not None and published.get("replica_in_sync") is False and r.serving() == [a]
    verdict = r.verdict("release-dead-standby", None, extra_ok=ok)
    verdict["published_after_release"] = published
    return verdict


def scenario_promote_after_fence(r: Rehearsal) -> dict:
    """serverA fences itself (isolated; CARP keeps it MASTER, so it refuses
    and never demotes its storage: geom_mirror stays loaded after the
    fence's `gmirror stop -f`); serverB serves, then dies; serverA's links
    come back and it refuses its stale disk. `carpha takeover web
    --accept-data-loss` on serverA must work without a reboot: the
    promotion reloads geom_mirror so the local disk is tasted again."""
    a, b = _isolated_then_served_by_peer(r)
    r.run_for(10)
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.record(a, "scenario", "the links come back")
    r.cluster.heal(a, b)
    r.restore_witness(a)
    r.run_for(40)                 # serverA refuses: serverB recorded its half out of date
    loaded = "geom_mirror" in r.cluster[a].modules
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha takeover {r.group.name} --accept-data-loss")
    try:
        with r.by_hand(a):
            hand_over(ctx, transitions.MASTER, accept_data_loss=True)
    except CarphaError as error:
        r.record(a, "takeover", f"failed: {error}")
    r.run_for(10)
    verdict = r.verdict("promote-after-fence", None, extra_ok=loaded and r.serving() == [a])
    # serverB's writes while serverA was fenced are the loss accepted
    disk = r.cluster[a].disks[r.group.storage.providers[a]]
    ours = [x for x in r.cluster.acknowledged if x.split(":")[1] in r.group.jails]
    verdict["accepted_writes_lost"] = sum(1 for x in ours if x.startswith(f"{b}:") and x not in disk.blocks)
    verdict["invariants"]["acknowledged_writes_lost"] = sum(
        1 for x in ours if x.startswith(f"{a}:") and x not in disk.blocks)
    verdict["geom_mirror_loaded_after_fence"] = loaded
    return verdict


def scenario_refusing_master_yields(r: Rehearsal) -> dict:
    """serverA (preferred) comes back without its boot hold and preempts
    CARP while its replica is stale: it refuses to serve and yields (its
    demotion held, "released" in its record), so serverB, which holds every
    write, serves; serverA takes the group back only once in sync."""
    a, b = _steady_in_sync(r)
    r.cluster.resync_rate = 4 * 1024 * 1024
    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    first_time(r, lambda: r.serving() == [b], 90)
    r.run_for(20)
    r.record(a, "scenario", "boot without rc.d/carpha_boot (no boot hold)")
    r.cluster.boot(a)
    shutil.rmtree(r.configs[a].paths.run_dir, ignore_errors=True)
    r.start_heartbeat(a)
    r.mark_when("a serves", lambda: a in r.serving())
    r.mark_when("b in sync", lambda: r.mirror_complete(b))
    live = _settle_live(r, 400)
    served, synced = r.marks["a serves"][1], r.marks["b in sync"][1]
    ok = live is not None and (served is None or (synced is not None and synced <= served))
    return r.verdict("refusing-master-yields", None, extra_ok=ok)


def scenario_release_idle_node(r: Rehearsal) -> dict:
    """`carpha release web` on serverB, which serves nothing: it says
    nothing about serverA's replica (no mirror runs there), so serverA,
    which served every write, still promotes after a power cycle."""
    a, b = _steady_in_sync(r)
    config = r.configs[b]
    ctx = Context(config, config.groups[r.group.name], b, r.runner(b), r.log)
    r.record(b, "scenario", f"carpha release {r.group.name}")
    with r.by_hand(b):
        hand_over(ctx, transitions.BACKUP)
    r.run_for(5)
    published = r.published(b)
    r.record(a, "scenario", "power cycle")
    r.cluster.crash(a)
    r.run_for(5)
    r.boot(a)
    live = _settle_live(r, 400)
    ok = live is not None and published.get("out_of_sync_since_generation") is None
    verdict = r.verdict("release-idle-node", None, extra_ok=ok)
    verdict["published_by_idle_release"] = published
    return verdict


def scenario_probe_fails_once(r: Rehearsal) -> dict:
    """serverA must let go (CARP moves to serverB) while one probe fails
    there (`sysctl kern.boot_id`, the demotion bookkeeping): that degrades
    the demotion decision of that pass only; letting go runs."""
    a, b = _steady_in_sync(r)
    r.fail_once[a] = [("sysctl", "-n", "-x", "kern.boot_id"), ("sysctl", "-n", "-x", "kern.boot_id")]
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha release {r.group.name}, with sysctl kern.boot_id failing")
    with r.by_hand(a):
        hand_over(ctx, transitions.BACKUP)
    took = first_time(r, lambda: r.serving() == [b], 120)
    live = _settle_live(r, 400)
    return r.verdict("probe-fails-once", took, extra_ok=live is not None)


# --- GEOM and DEVFS events ------------------------------------------------------------

def _peer_half_attached(r: Rehearsal, node: str) -> bool:
    """The peer's disk is a component of `node`'s running mirror again."""
    name = f"ggate{r.group.storage.ggate.unit}"
    return name in r.node_state(node)["mirror"].get("components", {})


def scenario_ggate_reconnect(r: Rehearsal) -> dict:
    """The standby reboots: serverA's heartbeat drops its stalled half, and
    when serverB is back and exports its disk again, serverA's back-off
    retries attach it within seconds (no wait for cron's minute); the
    resync then runs to COMPLETE."""
    master, peer = _steady_in_sync(r)
    r.record(peer, "scenario", "reboot (power cycle)")
    r.cluster.crash(peer)
    gone = first_time(r, lambda: not _peer_half_attached(r, master), 60, 0.5)
    r.run_for(10)
    r.boot(peer)
    returned = r.sim_clock.now()
    crons_before = r.next_cron
    attached = first_time(r, lambda: _peer_half_attached(r, master), 120, 0.1)
    cron_ran = r.next_cron != crons_before and attached is not None and attached > (
        r.t0 + crons_before - returned)
    resynced = first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    ok = gone is not None and attached is not None and attached <= 15 and resynced is not None
    verdict = r.verdict("ggate-reconnect", None, extra_ok=ok)
    verdict["attached_seconds_after_return"] = attached
    verdict["cron_ran_before_attach"] = cron_ran
    return verdict


def scenario_multi_vhid(r: Rehearsal) -> dict:
    """A group on two networks (LAN em0, DMZ em1, a vhid on each): serverA's
    DMZ link goes down. Its DMZ vhid enters INIT and demotes its LAN vhid
    too (preempt), serverB becomes MASTER of both and serves the whole
    group; the link comes back and serverA takes the group back. The
    group's addresses are never on two nodes, nor served where one vhid
    is not MASTER."""
    group = r.group
    if len(group.bindings) < 2:
        raise CarphaError(f"simulate: multi-vhid needs a group with two vhids (carp: as a list); "
                          f"{group.name} has one (try examples/multi-vhid.yaml)", exits.CONFIG)
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    dmz = group.bindings[1]
    split_starts = []       # jails started on a node not MASTER of every vhid of the group
    was_serving = set()

    def watch_starts() -> bool:
        serving = {n for n in group.nodes if r.cluster[n].up and group.jails[0] in r.cluster[n].jails}
        for n in serving - was_serving:
            if any(r.cluster[n].carp_state(x.vhid, x.interface) != "MASTER" for x in group.bindings):
                split_starts.append((round(r.sim_clock.now() - r.t0, 3), n))
        was_serving.clear()
        was_serving.update(serving)
        return False
    r.mark_when("split starts", watch_starts)
    r.run_for(3)
    r.record(a, "scenario", f"{a}'s {dmz.interface} link goes down")
    r.cluster[a].execute(["ifconfig", dmz.interface, "down"], 5, {})
    moved = first_time(r, lambda: r.serving() == [b], 120)
    r.run_for(20)
    r.record(a, "scenario", f"{a}'s {dmz.interface} link comes back")
    r.cluster[a].execute(["ifconfig", dmz.interface, "up"], 5, {})
    back = first_time(r, lambda: r.serving() == [a] and r.converged() and r.mirror_complete(a), 400, 1.0)
    ok = moved is not None and back is not None and not split_starts
    verdict = r.verdict("multi-vhid", moved, extra_ok=ok)
    verdict["taken_back_seconds"] = back
    verdict["started_where_a_vhid_was_not_master"] = split_starts
    return verdict


def _nas_group(r: Rehearsal):
    nas = [g for g in r.configs[r.group.preferred_node].groups.values() if g.storage.kind == "local-gmirror"]
    if not nas:
        raise CarphaError("simulate: nas-move needs a local-gmirror group (examples/three-servers.yaml has one)",
                          exits.CONFIG)
    return nas[0]


def _nas_served(r: Rehearsal, group) -> List[str]:
    """Nodes where the NAS is served: its filesystem mounted or its address up."""
    ips = {str(a.ip) for a in group.addresses}
    return [n for n in group.nodes if r.cluster[n].up and (
        any(m["mountpoint"] == group.filesystems[0].mountpoint for m in r.cluster[n].mounts)
        or any(a.addr in ips for ifp in r.cluster[n].interfaces.values() for a in ifp.addrs))]


def scenario_nas_move(r: Rehearsal) -> dict:
    """serverC (the NAS, and the witness) dies. The administrator runs
    `carpha takeover nas` on serverB and moves serverC's drives into
    serverB's bays: serverB fscks, mounts, claims the NAS address and
    starts its services as soon as the kernel has assembled the mirror.
    serverC comes back without its drives and serves nothing. The web group
    stays on serverA throughout (with the witness gone, no automatic
    promotion: none is needed). `carpha check` runs on every live node
    once the NAS has moved and once serverC is back: the NAS must be OK on
    each (the verdict lists the exit codes)."""
    nas = _nas_group(r)
    owner, other = nas.preferred_node, nas.peer_of(nas.preferred_node)
    steady_state(r)
    first_time(r, lambda: _nas_served(r, nas) == [owner], 60, 1.0)
    twice = []
    r.mark_when("nas on two nodes", lambda: len(_nas_served(r, nas)) > 1 and not twice.append(1))
    r.run_for(3)
    r.record(owner, "scenario", "crash (power cut); the witness share goes with it")
    r.cluster.crash(owner)
    for node in r.pair():
        r.cut_witness(node)
    r.run_for(20)
    config = r.configs[other]
    ctx = Context(config, config.groups[nas.name], other, r.runner(other), r.log)
    r.record(other, "scenario", f"carpha takeover {nas.name}")
    with r.by_hand(other):
        hand_over(ctx, transitions.MASTER)
    r.run_for(10)
    r.record("-", "scenario", f"{owner}'s drives moved into {other}'s bays")
    started = r.sim_clock.now()
    for drive in NAS_DRIVES:          # into free bays: serverB's own ada1 stays where it is
        r.cluster.move_disk(owner, other, drive, r.cluster.free_disk_name(other))
    served = first_time(r, lambda: _nas_served(r, nas) == [other] and all(
        r.cluster[other].services.get(s, {}).get("pid") for s in nas.services), 60, 0.1)
    r.run_for(10)
    stages = []
    check_codes(r, stages, "NAS moved", r.configs)
    r.record(owner, "scenario", "boot, without its drives")
    r.cluster.boot(owner)
    r.run_for(70)                     # serverC's cron and events
    check_codes(r, stages, f"{owner} back without its drives", r.configs)
    # carpha check judges the NAS OK where it went and where it came back
    # without its drives (the nodes' exit codes also carry the witness being gone).
    from ..ops import check
    ok = (served is not None and _nas_served(r, nas) == [other] and not twice
          and r.serving() == [r.group.preferred_node]
          and all(stage["groups"][n][nas.name] == check.OK for stage in stages for n in stage["groups"]
                  if nas.name in stage["groups"][n]))
    verdict = r.verdict("nas-move", None, extra_ok=ok)
    verdict["nas_served_seconds_after_move"] = None if served is None else round(served, 3)
    verdict["nas_served_on"] = _nas_served(r, nas)
    verdict["nas_on_two_nodes"] = bool(twice)
    verdict["check_codes"] = stages
    return verdict


# A scenario that needs a world the default example lacks.
SCENARIO_CONFIGS = {"multi-vhid": os.path.join(ROOT, "examples", "multi-vhid.yaml")}


# --- the hardware-watchdog lease (carpha.safety.watchdog) ---------------------------------------

WATCHDOG_SECTION = "\nwatchdog: {}      # the shipped defaults (carpha simulate adds it)\n"


def watch_takeover(r: Rehearsal, node: str) -> None:
    """Marks for takeover_parts, on what `node` has (checked after every command)."""
    state = lambda: r.node_state(node)      # noqa: E731
    r.mark_when("mounted", lambda: bool(state()["mounts"]))
    r.mark_when("addressed", lambda: bool(state()["addresses"]))
    r.mark_when("served", lambda: r.serving() == [node])
    before = len(r.cluster.acknowledged)
    r.mark_when("first acknowledged write",
                lambda: any(b.startswith(f"{node}:") for b in r.cluster.acknowledged[before:]))


def takeover_parts(r: Rehearsal, node: str, since: float) -> dict:
    """Where the outage went after the fault at `since`: detection (to
    devd's MASTER event on `node`), decision (the worker until its first
    storage command: settle, the lease, the claim), mirror (until the
    kernel launches it: its /dev/mirror node appears), fsck, mount (until
    mounted), gate_wait (until the first address), announce (gratuitous ARP
    until the first jail starts), jails (until the first jail runs),
    first_write (until the client's next write is acknowledged there). From
    the simulated world (watch_takeover) and the commands' start times."""
    mine = [e for e in r.timeline if e["node"] == node and e["t"] >= since - r.t0 - 1e-9]

    def ran(prefix):
        return next((e["t"] + r.t0 for e in mine if e["event"] == "run" and e["detail"].startswith(prefix)), None)

    def mark(name):
        return r.marks.get(name, (None, None))[1]
    def devd(words):
        return next((e["t"] + r.t0 for e in mine if e["event"] == "devd" and words in e["detail"]), None)
    points = [("detection", devd(f"system=CARP subsystem={r.group.carp.subsystem} type=MASTER")),
              ("decision", ran(("pkill", "kenv", "kldload"))),
              ("mirror", devd(f"system=DEVFS subsystem=CDEV type=CREATE cdev=mirror/{r.group.storage.mirror}")),
              ("fsck", ran("mount ")), ("mount", mark("mounted")), ("gate_wait", mark("addressed")),
              ("announce", ran("service jail onestart")), ("jails", mark("served")),
              ("first_write", mark("first acknowledged write"))]
    parts, previous = {}, since
    for name, at in points:
        if at is not None:
            parts[name] = round(at - previous, 3)
            previous = at
    return parts


def crash_and_time(r: Rehearsal) -> tuple:
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.record(master, "scenario", "crash (power cut)")
    crashed = r.sim_clock.now()
    watch_takeover(r, peer)
    r.cluster.crash(master)
    # To the first client write the new master acknowledges, not merely to
    # its jails starting (the client writes every WRITE_EVERY seconds).
    mark = "first acknowledged write"
    first_time(r, lambda: r.marks[mark][1] is not None, 90, WRITE_EVERY / 5)
    return crashed, r.seconds_until(mark, crashed)


def scenario_master_crash_watchdog(r: Rehearsal) -> dict:
    """master-crash at the shipped defaults with ichwd on both nodes: the
    standby prepares its storage while its gate counts down from its last
    evidence of serverA, and serves when it opens."""
    crashed, takeover = crash_and_time(r)
    peer = r.pair()[1]
    parts = takeover_parts(r, peer, crashed)
    r.run_for(20)
    verdict = r.verdict("master-crash-watchdog", takeover, extra_ok=takeover is not None and takeover <= 8)
    verdict["takeover_parts"] = parts
    return verdict


def scenario_hung_master(r: Rehearsal) -> dict:
    """serverA's kernel freezes for 20 s, then runs on as if nothing
    happened: its board resets it first (it pets no more), serverB serves
    only after its gate, never beside it; serverA comes back a standby."""
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.rig.freeze(master, 20)
    frozen = r.sim_clock.now()
    r.mark_when("served", lambda: r.serving() == [peer])
    took = first_time(r, lambda: r.marks["served"][1] is not None, 60)
    r.run_for(25)
    reset = [at - frozen for node, at in r.rig.resets if node == master]
    live = _settle_live(r, 300)
    verdict = r.verdict("hung-master", took, extra_ok=bool(reset) and took is not None and live is not None
                        and took >= reset[0])
    verdict["reset_seconds"] = round(reset[0], 3) if reset else None
    return verdict


def scenario_blip(r: Rehearsal) -> dict:
    """serverA loses every link for 1.5 s: no failover, no fence, no reset,
    no jail restarted."""
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    starts = r.double_starts
    jid = {j: r.cluster[master].jails[j].get("jid") for j in r.group.jails}
    r.record(master, "scenario", f"{master} loses every link for 1.5 s")
    r.cluster.cut(master, peer)
    r.cut_witness(master)
    r.run_for(1.5)
    r.cluster.heal(master, peer)
    r.restore_witness(master)
    r.run_for(30)
    same = {j: (r.cluster[master].jails.get(j) or {}).get("jid") for j in r.group.jails} == jid
    ok = (r.serving() == [master] and same and not r.fences and not r.rig.resets and r.double_starts == starts
          and not any(e["node"] == peer and e["event"] == "run" and e["detail"].startswith("service jail")
                      for e in r.timeline))
    return r.verdict("blip", None, extra_ok=ok)


def scenario_nfs_stall(r: Rehearsal) -> dict:
    """The witness share stops answering for 10 s while both nodes are
    healthy: the petting goes on from the peer's replies (never blocked by
    the hung share), nobody fails over, nobody is reset."""
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.record("-", "scenario", "the witness share stops answering for 10 s")
    hold = r.stall_witness()
    r.run_for(10)
    hold.set()
    r.record("-", "scenario", "the witness share answers again")
    r.run_for(30)
    lapses = [e for e in r.timeline if e["event"] == "watchdog"]
    ok = r.serving() == [master] and not r.rig.resets and not r.fences and not lapses
    return r.verdict("nfs-stall", None, extra_ok=ok)


def scenario_no_watchdog(r: Rehearsal) -> dict:
    """isolate-master on a config without a watchdog: the software fence
    holds both invariants, and the takeover is no slower than that fence's
    lease allows (the figure before the watchdog existed)."""
    verdict = scenario_isolate_master(r)
    verdict["scenario"] = "no-watchdog"
    return verdict


def check_codes(r: Rehearsal, stages: list, stage: str, nodes) -> dict:
    """`carpha check`'s exit code on each live node of `nodes` (its first
    line in the timeline) and each group's own level there, appended to
    `stages` for the verdict."""
    from ..ops import check
    found, groups = {}, {}
    for node, config in r.configs.items():
        if r.cluster[node].up and node in nodes:
            result = check.evaluate(config, r.runner(node), r.log)
            found[node] = result["status"]
            groups[node] = {name: check.worst(check.Finding(**f) for f in result["findings"] if f["group"] == name)
                            for name in result["groups"]}
            r.record(node, "check", check.plugin_output(result).splitlines()[0])
    stages.append({"stage": stage, "codes": found, "groups": groups})
    return found


def scenario_check_codes(r: Rehearsal) -> dict:
    """`carpha check` on every live node at each stage, its exit code as the
    verdict lists it: healthy (0 OK on both), the standby crashed (the
    master's mirror degraded: 1 WARNING), the standby back and resynchronising
    or in sync again, then the master crashes while the standby cannot reach
    the witness (it refuses to promote: the group is served nowhere, 2
    CRITICAL)."""
    from ..ops import check
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(5)
    stages = []

    def codes(stage: str) -> dict:
        return check_codes(r, stages, stage, r.group.nodes)     # not the NAS owner serverC

    healthy = codes("healthy")
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.run_for(30)
    degraded = codes("standby down")
    r.boot(b)
    first_time(r, lambda: r.mirror_complete(a), 240, 0.5)
    r.run_for(10)
    codes("standby back")
    r.record(b, "scenario", "loses the witness")
    r.cut_witness(b)
    r.run_for(5)
    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    r.run_for(60)
    nowhere = codes("master down, standby cut off the witness")
    ok = (healthy == {a: check.OK, b: check.OK} and degraded == {a: check.WARNING}
          and nowhere == {b: check.CRITICAL})
    verdict = r.verdict("check-codes", None, extra_ok=ok, expect_served=False)
    verdict["check_codes"] = stages
    return verdict


SCENARIOS = {
    "master-crash": scenario_master_crash,
    "backup-crash-and-return": scenario_backup_crash_and_return,
    "planned-release": scenario_planned_release,
    "flap": scenario_flap,
    "boot-both": scenario_boot_both,
    "maintenance-backup": scenario_maintenance_backup,
    "switchover": scenario_switchover,
    "peer-link-partition": scenario_peer_link_partition,
    "witness-down-then-master-crash": scenario_witness_down_then_master_crash,
    "stale-replica": scenario_stale_replica,
    "isolate-master": scenario_isolate_master,
    "split-brain-heal": scenario_split_brain_heal,
    "reboot-preferred": scenario_reboot_preferred,
    "fence-stuck-jail": scenario_fence_stuck_jail,
    "double-failover": scenario_double_failover,
    "promote-while-preferred-boots": scenario_promote_while_preferred_boots,
    "takeover-peer-unknown": scenario_takeover_peer_unknown,
    "switchover-flap-partition": scenario_switchover_flap_partition,
    "release-dead-standby": scenario_release_dead_standby,
    "promote-after-fence": scenario_promote_after_fence,
    "refusing-master-yields": scenario_refusing_master_yields,
    "release-idle-node": scenario_release_idle_node,
    "probe-fails-once": scenario_probe_fails_once,
    "clock-step": scenario_clock_step,
    "ggate-reconnect": scenario_ggate_reconnect,
    "multi-vhid": scenario_multi_vhid,
    "nas-move": scenario_nas_move,
    "master-crash-watchdog": scenario_master_crash_watchdog,
    "isolate-master-watchdog": lambda r: _renamed(scenario_isolate_master(r), "isolate-master-watchdog"),
    "hung-master": scenario_hung_master,
    "blip": scenario_blip,
    "nfs-stall": scenario_nfs_stall,
    "no-watchdog": scenario_no_watchdog,
    "check-codes": scenario_check_codes,
}
# Scenarios that run with the shipped watchdog defaults added to the config.
WITH_WATCHDOG = {"master-crash-watchdog", "isolate-master-watchdog", "hung-master", "blip", "nfs-stall"}


def _renamed(verdict: dict, name: str) -> dict:
    verdict["scenario"] = name
    return verdict


def scratch_dir() -> Optional[str]:
    """Where a rehearsal keeps its simulated nodes' files: a memory file
    system when there is one (every state write fsyncs; a rehearsal writes
    thousands), else the default temporary directory."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def run_scenario(name: str, config_path: str = DEFAULT_CONFIG, seed: int = 1, group: Optional[str] = None,
                 node: Optional[str] = None) -> dict:
    """`node`: also say what `carpha check` shows on that node at the end."""
    if config_path == DEFAULT_CONFIG:
        config_path = SCENARIO_CONFIGS.get(name, config_path)
    text = open(config_path).read()
    if name in WITH_WATCHDOG and "\nwatchdog:" not in text:
        text += WATCHDOG_SECTION
    workdir = tempfile.mkdtemp(prefix="carpha-sim-", dir=scratch_dir())
    rehearsal = None
    try:
        rehearsal = Rehearsal(text, os.path.basename(config_path), workdir, seed=seed, group=group)
        verdict = SCENARIOS[name](rehearsal)
        if node is not None:
            verdict["seen_from"] = {"node": node, "check": _check_on(rehearsal, node)}
        return verdict
    finally:
        if rehearsal is not None:
            rehearsal.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _check_on(r: Rehearsal, node: str) -> str:
    from ..ops import check
    if node not in r.configs:
        raise CarphaError(f"simulate --node {node}: not a node of any group ({', '.join(r.configs)})", exits.USAGE)
    if not r.cluster[node].up:
        return f"{node} is down"
    return check.plugin_output(check.evaluate(r.configs[node], r.runner(node), r.log))


def passed(verdict: dict) -> bool:
    inv = verdict["invariants"]
    return (inv["jails_on_one_node"] and inv["addresses_on_one_node"] and inv["mirror_mounted_once"]
            and inv["acknowledged_writes_lost"] == 0 and inv["converged"]
            and verdict["reads_from_diverged_half"] == 0)


def format_timeline(verdict: dict) -> str:
    lines = [f"scenario {verdict['scenario']} (seed {verdict['seed']}, group {verdict.get('group', '?')})"]
    for entry in verdict["timeline"]:
        lines.append(f"{entry['t']:8.3f}s  {entry['node']:<8} {entry['event']:<8} {entry['detail']}")
    inv = verdict["invariants"]
    lines.append("")
    for key, value in inv.items():
        lines.append(f"  {key}: {value}")
    if verdict.get("takeover_seconds") is not None:
        lines.append(f"  takeover_seconds: {verdict['takeover_seconds']}")
    for key in ("accepted_losses", "failed_commands"):
        items = verdict.get(key) or []
        lines.append(f"  {key}: {len(items)}")
        lines += [f"    {item}" for item in items]
    for stage in verdict.get("check_codes") or []:
        lines.append(f"  check at {stage['stage']}: " + ", ".join(
            f"{node} exit {code}" for node, code in sorted(stage["codes"].items())))
    lines.append(f"  reads_from_diverged_half: {verdict['reads_from_diverged_half']}")
    if verdict.get("seen_from"):
        lines.append(f"  carpha check on {verdict['seen_from']['node']}:")
        lines += [f"    {line}" for line in verdict["seen_from"]["check"].splitlines()]
    lines.append(f"verdict: {'PASS' if passed(verdict) else 'FAIL'} (replay: carpha simulate "
                 f"--scenario {verdict['scenario']} --seed {verdict['seed']}"
                 + (f" --group {verdict['group']})" if verdict.get("group") else ")"))
    return "\n".join(lines)
