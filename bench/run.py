"""carpha benchmarks: print figures, assert nothing (targets are printed
next to each figure). Run with `make bench`.

1. the devd hook (carp-event) wall time, median of 30 runs, beside
   `python3 -c pass` measured in the same run (target: <= 2x);
2. the worker's start-up: a process doing what `carpha reconcile` does
   before its first command (main's imports and parser, every subcommand
   registered; the example config loaded), median of 20, beside
   `python3 -c pass`, and the config load alone in process;
3. the simulated takeover's critical path in process, event to jails
   started, excluding simulated command latency (target: < 50 ms);
4. peak memory of the worker (ru_maxrss of a reconcile run);
5. self-fencing: carpha's own time, and the simulated isolate-master
   timings beside the fencing bound;
6. the master-crash outage and its parts for the three profiles (no
   witness; lease + software fence; lease + watchdog), and the wall time
   from a CARP event to the first mutating command with real processes
   (bench/bench_watchdog.py)."""

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
RUNS = 30
WORKER_RUNS = 20
EXAMPLE = os.path.join(ROOT, "examples", "three-servers.yaml")
# The worker's path up to its first command (lib/carpha/cli/main.py, then
# cli/reconcile.py's setup): node given, as devd's worker has it in the file.
WORKER_START = ("import sys\n"
                "import carpha.cli.main as main, carpha.cli.reconcile\n"
                "main._parser().parse_args(['reconcile'])\n"
                "from carpha.config import load\n"
                "load(sys.argv[1], node='serverA', check_permissions=False)\n")


def wall(argv, env) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def bench_hook() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_STATE_DIR": os.path.join(tmp, "db"),
               "CARPHA_RUN_DIR": os.path.join(tmp, "run")}
        sys.path.insert(0, LIB)
        from carpha.store import lock
        worker = lock.Lock(env["CARPHA_RUN_DIR"], "worker", purpose="bench").acquire()  # no worker spawns
        try:
            hook = [sys.executable, os.path.join(ROOT, "hooks", "carp-event"), "1@em0", "MASTER"]
            baseline = [sys.executable, "-c", "pass"]
            base, hooked = [], []
            for _ in range(RUNS):   # interleaved so machine noise hits both alike
                base.append(wall(baseline, env))
                hooked.append(wall(hook, env))
        finally:
            worker.release()
    b, h = statistics.median(base), statistics.median(hooked)
    print(f"carp-event hook: median {h * 1000:.1f} ms over {RUNS} runs; "
          f"python3 -c pass: {b * 1000:.1f} ms; ratio {h / b:.2f}x (target <= 2x)")


def bench_worker_start() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB}
    worker = [sys.executable, "-c", WORKER_START, EXAMPLE]
    baseline = [sys.executable, "-c", "pass"]
    if subprocess.run(worker, env=env, capture_output=True).returncode != 0:  # also writes the bytecode
        print("worker start-up: the worker's imports or the example config failed")
        return
    base, started = [], []
    for _ in range(WORKER_RUNS):    # interleaved, as above
        base.append(wall(baseline, env))
        started.append(wall(worker, env))
    sys.path.insert(0, LIB)
    from carpha.config import loads, yamlfile
    with open(EXAMPLE) as f:
        text = f.read()
    loads_ms = []
    for _ in range(WORKER_RUNS):
        t = time.perf_counter()
        loads(text, EXAMPLE, node="serverA")
        loads_ms.append(time.perf_counter() - t)
    parser = "libyaml's parser" if yamlfile._CLoader is not None else "PyYAML's own parser (no libyaml)"
    b, w = statistics.median(base), statistics.median(started)
    print(f"worker start-up (imports, parser, example config): median {w * 1000:.1f} ms over {WORKER_RUNS} runs;"
          f" python3 -c pass: {b * 1000:.1f} ms; the config load alone {statistics.median(loads_ms) * 1000:.1f} ms"
          f" in process ({parser})")


def main() -> int:
    bench_hook()
    bench_worker_start()
    try:
        from bench_sim import bench_fence, bench_takeover, bench_worker_memory
    except ImportError as error:
        print(f"simulated takeover / worker memory: not available ({error})")
        return 0
    bench_takeover()
    bench_worker_memory()
    bench_fence()
    from bench_watchdog import bench_event_to_change, bench_profiles
    bench_profiles()
    bench_event_to_change()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
