"""Benchmarks that need the simulated cluster (imported by bench/run.py).

bench_takeover: serverA serves, serverB exports; serverA crashes and CARP
  makes serverB MASTER; serverB's worker runs in process. Measured: wall
  time from the worker's start to the last jail started, minus the time
  spent inside simulated commands and simulated sleeps (the simulator's
  own cost), i.e. carpha's own time on the critical path. Target < 50 ms.
bench_worker_memory: `carpha reconcile` as a real process bringing a group
  up against the simulated commands on PATH; its peak RSS (ru_maxrss)
  beside a bare `python3 -c pass`."""

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

from carpha import clock  # noqa: E402
from carpha.engine import transitions, worker  # noqa: E402
from carpha.actions.base import Context, apply  # noqa: E402
from carpha.actions import storage  # noqa: E402
from carpha.host.runner import Runner  # noqa: E402
from carpha.sim.clock import SimClock  # noqa: E402
from carpha.sim.cluster import Cluster  # noqa: E402
from carpha.rehearsal.nodes import build_nodes  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
from simworld import EXAMPLE  # noqa: E402  (no witness: no heartbeat runs here)
RUNS = 10
LOG = logging.getLogger("bench")
LOG.addHandler(logging.NullHandler())
LOG.propagate = False


class TimedClock(SimClock):
    """The simulated clock, counting the real time its sleeps cost."""
    spent = 0.0

    def sleep(self, seconds):
        started = time.perf_counter()
        super().sleep(seconds)
        TimedClock.spent += time.perf_counter() - started


def one_takeover(workdir):
    cluster = Cluster(TimedClock())
    previous = clock.use(cluster.clock)
    try:
        configs = build_nodes(EXAMPLE, "carpha.yaml", workdir, cluster)
        cluster.advance(5)

        def ctx(node, timing=None):
            host = cluster[node]

            def execute(argv, timeout, env):
                started = time.perf_counter()
                try:
                    return host.execute(argv, timeout, env)
                finally:
                    if timing is not None:
                        timing["sim"] += time.perf_counter() - started
                        if argv[:3] == ["service", "jail", "onestart"] or tuple(argv[:3]) == ("service", "jail", "onestart"):
                            timing["jail_done"] = time.perf_counter()
                            timing["sim_at_jail"] = timing["sim"] + TimedClock.spent
            config = configs[node]
            return Context(config, config.groups["web"], node, Runner(executor=execute, echo=lambda _: None), LOG)

        apply(storage.DEMOTE, ctx("serverB"))
        transitions.run(ctx("serverA"), transitions.MASTER)
        cluster.advance(60)
        cluster.crash("serverA")
        cluster.advance(5)
        timing = {"sim": 0.0}
        TimedClock.spent = 0.0
        started = time.perf_counter()
        worker.reconcile_group(ctx("serverB", timing))
        return (timing["jail_done"] - started) - timing["sim_at_jail"]
    finally:
        clock.use(previous)


def bench_takeover():
    samples = []
    for i in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            samples.append(one_takeover(tmp))
    print(f"takeover critical path (event to jails started, carpha's own time): median "
          f"{statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms over {RUNS} runs "
          f"(target < 50 ms)")


# The child reports its own high-water mark at exit. Not ru_maxrss from
# wait4: on Linux a forked child's ru_maxrss keeps the parent's pre-exec
# peak, which would report the benchmark's own size. VmHWM is reset by exec.
REPORT_PEAK = """
import atexit, runpy, sys
def peak():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            sys.stderr.write('PEAK ' + line.split()[1] + '\\n')
atexit.register(peak)
sys.argv = {argv!r}
runpy.run_module({module!r}, run_name='__main__', alter_sys=True)
"""


def peak_rss_kib(module, args, env):
    code = REPORT_PEAK.format(argv=[module, *args], module=module) if module else \
        REPORT_PEAK.replace("runpy.run_module({module!r}, run_name='__main__', alter_sys=True)", "").format(argv=["-c"])
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    peaks = [int(l.split()[1]) for l in result.stderr.splitlines() if l.startswith("PEAK ")]
    return (peaks[-1] if peaks else 0), result.returncode


def saved_cluster(tmp, text, bin_dir, prepare=None):
    """The simulated commands installed in bin_dir, the nodes of `text`
    built under tmp, 5 s of CARP, `prepare(cluster)`, saved for commands
    run as processes: (their paths, configs, the saved state's dir)."""
    from carpha.sim.executables import install_commands
    cluster = Cluster(SimClock())
    previous = clock.use(cluster.clock)
    try:
        names = install_commands(bin_dir)
        configs = build_nodes(text, "carpha.yaml", tmp, cluster)
        cluster.advance(5)
        if prepare is not None:
            prepare(cluster)
        sim_dir = os.path.join(tmp, "sim")
        os.mkdir(sim_dir)
        cluster.save(sim_dir)
    finally:
        clock.use(previous)
    return names, configs, sim_dir


def bench_worker_memory():
    def mirror_loaded(cluster):
        cluster["serverA"].run("kldload", "-n", "geom_mirror")
        cluster.advance(5)
    with tempfile.TemporaryDirectory() as tmp:
        bin_dir = os.path.join(tmp, "bin")
        _, configs, sim_dir = saved_cluster(tmp, EXAMPLE, bin_dir, mirror_loaded)
        config = configs["serverA"]
        text = "node: serverA\n" + EXAMPLE.replace("# paths:", "paths:").replace(
            "#   state_dir: /var/db/carpha", f"  state_dir: {config.paths.state_dir}").replace(
            "#   run_dir: /var/run/carpha", f"  run_dir: {config.paths.run_dir}").replace(
            "#   command_path: /sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin",
            f"  command_path: {bin_dir}")
        path = os.path.join(tmp, "carpha.yaml")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib"), "CARPHA_SIM_DIR": sim_dir,
               "CARPHA_SIM_HOST": "serverA", "CARPHA_NO_SYSLOG": "1"}
        worker_rss, status = peak_rss_kib("carpha", ["-c", path, "reconcile"], env)
        base_rss, _ = peak_rss_kib(None, [], env)
    ok = "ok" if status == 0 else f"exit status {status}"
    print(f"worker peak memory (carpha reconcile bringing a group up, {ok}): {worker_rss / 1024:.1f} MiB; "
          f"python3 -c pass: {base_rss / 1024:.1f} MiB")


def bench_fence():
    """Self-fencing: carpha's own time to run the whole fence of the example
    group (commands answering at once), and, from the isolate-master
    scenario, simulated seconds from the cut to the fence and to the peer
    serving, beside the fencing bound config check proved."""
    import dataclasses
    from carpha.engine import fence
    from carpha.rehearsal import simulate
    from carpha.config import loads
    text = open(os.path.join(ROOT, "examples", "three-servers.yaml")).read()
    timings = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            config = loads(text, "carpha.yaml", node="serverA")
            config = dataclasses.replace(config, paths=dataclasses.replace(
                config.paths, state_dir=os.path.join(tmp, "db"), run_dir=os.path.join(tmp, "run")))
            runner = Runner(executor=lambda argv, timeout, env: (0, "", ""), echo=lambda line: None)
            started = time.perf_counter()
            fence.fence(config, "serverA", ["web"], runner, LOG, reason="bench", boot="1")
            timings.append(time.perf_counter() - started)
    print(f"fence, carpha's own time for {len(runner.calls)} steps: median "
          f"{statistics.median(timings) * 1000:.1f} ms over {RUNS} runs (target < 50 ms)")
    v = simulate.run_scenario("isolate-master")
    print(f"isolate-master (simulated): fenced {v['fence_seconds']} s after the cut (bound "
          f"{v['fencing_bound_seconds']:g} s); peer serving after {v['takeover_seconds']} s; "
          f"acknowledged writes lost: {v['invariants']['acknowledged_writes_lost']}")
