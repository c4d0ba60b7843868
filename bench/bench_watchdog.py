"""Benchmarks for the takeover's length (imported by bench/run.py).

bench_profiles: the simulated master-crash outage (seed 1), crash to the
  first jail serving on the peer, and where it went, for the three
  profiles: no witness; a lease witness with the software fence; a lease
  witness with ichwd on both nodes (the shipped watchdog defaults).
bench_event_to_change: with real processes, the wall time from running
  devd's action (the carp-event hook) to the first command that changes
  anything, the worker detached by the hook, the simulated FreeBSD
  commands as executables on PATH (each a Python process that loads the
  simulated cluster: FreeBSD's are small C programs), median of RUNS. Every
  command is timed by a wrapper, so the figure splits into the hook and
  the worker's cold start (to its first command), the queries, and the
  rest of carpha's own time. No witness and settle_seconds 0: the path,
  not the deliberate waits (the lease, the settle, the gate)."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

from carpha.rehearsal import harness, outage, scenarios  # noqa: E402

RUNS = 10
MUTATING = ("pkill", "kenv", "kldload", "kldunload", "gmirror", "ggated", "ggatec", "mount", "umount")


def _without_witness(text: str) -> str:
    data = yaml.safe_load(text)
    data.pop("witness", None)
    return yaml.safe_dump(data, sort_keys=False)


def master_crash(text: str, source: str) -> tuple:
    workdir = tempfile.mkdtemp(prefix="carpha-bench-", dir=harness.scratch_dir())
    r = harness.Rehearsal(text, source, workdir, seed=1)
    try:
        crashed, takeover = outage.crash_and_time(r)
        parts = outage.takeover_parts(r, r.pair()[1], crashed)
        return takeover, parts, r.lost_writes()
    finally:
        r.close()
        shutil.rmtree(workdir, ignore_errors=True)


def bench_profiles() -> None:
    text = open(harness.DEFAULT_CONFIG).read()
    for name, config in (("no witness", _without_witness(text)),
                         ("lease + software fence", text),
                         ("lease + watchdog (ichwd)", text + scenarios.WATCHDOG_SECTION)):
        takeover, parts, lost = master_crash(config, "three-servers.yaml")
        shown = ", ".join(f"{k} {v:g}" for k, v in parts.items())
        print(f"master-crash outage, {name}: {takeover} s ({shown}); acknowledged writes lost: {lost}")


WRAPPER = """#!/bin/sh
printf '%s start %s\\n' "$(/bin/date +%s.%N)" "{name} $*" >> "{log}"
"{real}" "$@"
rc=$?
printf '%s end %s\\n' "$(/bin/date +%s.%N)" "{name}" >> "{log}"
exit $rc
"""


def _stage(tmp: str):
    """A saved simulated cluster where serverA is CARP MASTER serving
    nothing yet, the simulated commands behind timing wrappers, and a
    config (no witness: the path, not the lease's wait) naming them."""
    from bench_sim import saved_cluster
    real_dir, wrap_dir = os.path.join(tmp, "sim-bin"), os.path.join(tmp, "bin")
    text = _without_witness(open(harness.DEFAULT_CONFIG).read())
    names, configs, sim_dir = saved_cluster(tmp, text, real_dir)
    log = os.path.join(tmp, "commands.log")
    os.makedirs(wrap_dir)
    for path in names:
        name = os.path.basename(path)
        wrapper = os.path.join(wrap_dir, name)
        with open(wrapper, "w") as handle:
            handle.write(WRAPPER.format(name=name, log=log, real=path))
        os.chmod(wrapper, 0o755)
    config = configs["serverA"]
    data = yaml.safe_load(text)
    data["node"] = "serverA"
    data["damping"] = {"settle_seconds": 0}     # the deliberate settle wait is not carpha's time
    data["paths"] = {"state_dir": config.paths.state_dir, "run_dir": config.paths.run_dir,
                     "command_path": wrap_dir}
    path = os.path.join(tmp, "carpha.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle)
    os.chmod(path, 0o600)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.path.join(ROOT, "lib"), "CARPHA_SIM_DIR": sim_dir,
           "CARPHA_SIM_HOST": "serverA", "CARPHA_NO_SYSLOG": "1", "CARPHA_CONFIG": path,
           "CARPHA_STATE_DIR": config.paths.state_dir, "CARPHA_RUN_DIR": config.paths.run_dir}
    return env, log, sim_dir


def one_event(tmp: str) -> dict:
    env, log, _ = _stage(tmp)
    hook = [sys.executable, os.path.join(ROOT, "hooks", "carp-event"), "1@em0", "MASTER"]
    started = time.time()
    subprocess.run(hook, env=env, check=True, timeout=30)
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        lines = open(log).read().splitlines() if os.path.exists(log) else []
        if any(l.split()[1] == "start" and l.split()[2] in MUTATING for l in lines):
            break
        time.sleep(0.05)
    first = next(float(l.split()[0]) for l in lines if l.split()[1] == "start")
    change = next(float(l.split()[0]) for l in lines if l.split()[1] == "start" and l.split()[2] in MUTATING)
    queries, open_at = 0.0, None
    for line in lines:
        at, what = float(line.split()[0]), line.split()[1]
        if at >= change:
            break
        if what == "start":
            open_at = at
        elif open_at is not None:
            queries += at - open_at
            open_at = None
    total = change - started
    return {"total": total, "to_first_command": first - started, "queries": queries,
            "carpha": total - queries}


def bench_event_to_change() -> None:
    samples = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(dir=harness.scratch_dir()) as tmp:
            samples.append(one_event(tmp))
            time.sleep(0.5)            # let the detached worker finish before its files go

    def median(key):
        return statistics.median(s[key] for s in samples) * 1000
    print(f"CARP event to first mutating command, real processes: median {median('total'):.0f} ms over {RUNS} "
          f"runs: hook + worker cold start to its first command {median('to_first_command'):.0f} ms, "
          f"simulated queries {median('queries'):.0f} ms, carpha's own time {median('carpha'):.0f} ms")
