"""The real-kernel lab's figures (`make lab`, also printed by `make bench`
when run as root): client-visible outage when the master's link dies,
median of LAB_RUNS runs (default 10), split into detection (ucarp's
election, the stand-in for CARP) and carpha's part after it; the same with
GARP off (LAB_NOGARP_RUNS, default 3: each waits out the client's ARP
cache); keepalived (VRRP, advert 1 s) moving the same address in the same
topology in the same run. See lib/carpha/lab.py for what is real."""

import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from carpha import lab  # noqa: E402

RUNS = int(os.environ.get("LAB_RUNS", "10"))
NOGARP_RUNS = int(os.environ.get("LAB_NOGARP_RUNS", "3"))


def carpha_runs(count, garp, seconds):
    results = []
    for run in range(count):
        with tempfile.TemporaryDirectory(prefix="carphalab-") as workdir:
            with lab.Site(workdir, garp=garp) as site:
                site.start()
                results.append(site.failover(seconds=seconds))
        print(f"  carpha{'' if garp else ' (GARP off)'} run {run + 1}: {fmt(results[-1])}", flush=True)
    return results


def keepalived_runs(count):
    results = []
    with tempfile.TemporaryDirectory(prefix="carphalab-") as workdir:
        with lab.KeepalivedSite(workdir) as site:
            for run in range(count):
                results.append(site.failover(run))
                print(f"  keepalived run {run + 1}: {fmt(results[-1])}", flush=True)
    return results


def fmt(r):
    return " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())


def median(results, key):
    values = [r[key] for r in results if r.get(key) is not None]
    return (statistics.median(values), len(values)) if values else (None, 0)


def main() -> int:
    why = lab.usable()
    if why:
        print(f"lab: skipped: {why}")
        return 0
    lab.cleanup_leftovers()
    print(f"lab: {RUNS} runs each (GARP off: {NOGARP_RUNS}); serverA's link dies, the client probes "
          f"{lab.GROUP_V4}:{lab.PORT} every 20 ms", flush=True)
    keep = keepalived_runs(RUNS)
    on = carpha_runs(RUNS, True, 30)
    off = carpha_runs(NOGARP_RUNS, False, 90) if NOGARP_RUNS else []
    k_out = median(keep, "outage")[0]
    print()
    print("| lab (real kernel, netns) | runs | outage median s | detection s | after detection s | x keepalived |")
    print("|---|---|---|---|---|---|")
    for name, results in (("keepalived 2.2.7, VRRP advert 1 s", keep),
                          ("carpha + ucarp advbase 1, GARP on", on),
                          ("carpha + ucarp advbase 1, GARP off", off)):
        if not results:
            continue
        out, n = median(results, "outage")
        det, _ = median(results, "detection")
        after, _ = median(results, "after_detection")
        ratio = f"{out / k_out:.2f}" if out and k_out else "-"
        show = (lambda v: f"{v:.3f}" if v is not None else "-")
        print(f"| {name} | {n}/{len(results)} | {show(out)} | {show(det)} | {show(after)} | {ratio} |")
    cmds, adapter = median(on, "commands")[0], median(on, "adapter")[0]
    if cmds is not None:
        print(f"\ncarpha's part (GARP on) includes {cmds:.0f} FreeBSD commands through the lab's adapter "
              f"(each a Python process loading the simulator), {adapter:.3f} s of it (medians).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
