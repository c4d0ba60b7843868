"""carpha benchmarks: print figures, assert nothing (targets are printed
next to each figure). Run with `make bench`.

1. the devd hook (carp-event) wall time, median of 30 runs, beside
   `python3 -c pass` measured in the same run (target: <= 2x);
2. the simulated takeover's critical path in process, event to jails
   started, excluding simulated command latency (target: < 50 ms);
3. peak memory of the worker (ru_maxrss of a reconcile run);
4. self-fencing: carpha's own time, and the simulated isolate-master
   timings beside the fencing bound;
5. the master-crash outage and its parts for the three profiles (no
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


def main() -> int:
    bench_hook()
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
