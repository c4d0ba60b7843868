"""The real-kernel lab's figures (`make lab`, also printed by `make bench`
when run as root): the client-visible outage when the master's link dies,
median of LAB_RUNS runs (default 10) each, for
- keepalived (VRRP, advert 1 s) moving the address itself;
- ucarp alone (advbase 1 and carpha's advskews, preempt) moving it from its
  up script: the bare address move with the same election carpha's run has;
- carpha with ucarp as CARP, GARP on; and GARP off (LAB_NOGARP_RUNS,
  default 3: each waits out the client's ARP cache).
Each split into detection (the election) and what follows it; carpha's part
split again into the lab's devd stand-in, the FreeBSD commands through the
lab's adapter, and carpha's own time. See lib/carpha/lab/harness.py for what is real."""

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from carpha.lab import adapter, movers, netns, service, sites  # noqa: E402

RUNS = int(os.environ.get("LAB_RUNS", "10"))
NOGARP_RUNS = int(os.environ.get("LAB_NOGARP_RUNS", "3"))
TARGET_AFTER_DETECTION = 0.300
TARGET_RATIO = 1.2


def carpha_runs(count, garp, seconds):
    results = []
    for run in range(count):
        with tempfile.TemporaryDirectory(prefix="carphalab-") as workdir:
            with sites.Site(workdir, garp=garp) as site:
                site.start()
                results.append(site.failover(seconds=seconds))
        print(f"  carpha{'' if garp else ' (GARP off)'} run {run + 1}: {fmt(results[-1])}", flush=True)
    return results


def mover_runs(site_class, count):
    results = []
    with tempfile.TemporaryDirectory(prefix="carphalab-") as workdir:
        with site_class(workdir) as site:
            for run in range(count):
                results.append(site.failover(run))
                print(f"  {site_class.name} run {run + 1}: {fmt(results[-1])}", flush=True)
    return results


def fmt(r):
    # With GARP off, "carpha" (the rest) holds the client's ARP cache wait.
    return " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in r.items() if not k.startswith("_"))


def unseen_start_seconds(count: int = 30) -> float:
    """Per command, the part of a Python shim's start that its own estimate
    (first line less CPU time used, carpha.lab.adapter.CLIENT) does not see, less what
    starting a small C program (/bin/true) costs: measured through
    carpha's own runner, median of `count`. Moved from carpha's own time to
    the adapter's, since a FreeBSD command is a small C program."""
    from carpha.host import runner
    with tempfile.TemporaryDirectory(prefix="carphalab-") as workdir:
        script = os.path.join(workdir, "shim")
        with open(script, "w") as handle:
            handle.write(f"#!{sys.executable} {adapter.CLIENT_FLAGS}\nimport time\n"
                         "started = time.monotonic() - time.process_time()\n"
                         "import os\nos.write(1, repr(started).encode())\nos._exit(0)\n")
        os.chmod(script, 0o755)
        unseen, true = [], []
        for _ in range(count):
            before = time.monotonic()
            _, out, _ = runner.subprocess_executor([script], 10, {"PATH": "/usr/bin:/bin"})
            after = time.monotonic()
            unseen.append((after - before) - (after - float(out)))
            before = time.monotonic()
            runner.subprocess_executor(["/bin/true"], 10, {"PATH": "/usr/bin:/bin"})
            true.append(time.monotonic() - before)
    return max(0.0, statistics.median(unseen) - statistics.median(true))


def median(results, key):
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def show(value):
    return "-" if value is None else f"{value:.3f}"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def machine() -> str:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    versions = []
    for argv in (["ucarp", "--help"], ["keepalived", "--version"]):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            text = (out.stdout + out.stderr).strip().splitlines()
            versions.append(next((line.strip() for line in text if line.strip()), argv[0]))
        except (OSError, subprocess.TimeoutExpired):
            versions.append(f"{argv[0]}: ?")
    return (f"{time.strftime('%Y-%m-%d')}, Linux {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
            f"load {os.getloadavg()[0]:.2f}; {'; '.join(versions)}")


def main() -> int:
    why = netns.usable()
    if why:
        print(f"lab: skipped: {why}")
        return 0
    netns.cleanup_leftovers()
    print(f"lab: {machine()}")
    print(f"lab: {RUNS} runs each (GARP off: {NOGARP_RUNS}); serverA's link dies, the client opens a "
          f"connection to {netns.GROUP_V4}:{service.PORT} every 20 ms", flush=True)
    keep = mover_runs(movers.KeepalivedSite, RUNS) if netns.has_tool("keepalived") else []
    if not keep:
        print("lab: keepalived not installed (Debian package keepalived): no keepalived reference")
    bare = mover_runs(movers.UcarpSite, RUNS)
    on = carpha_runs(RUNS, True, 30)
    unseen = unseen_start_seconds()
    for r in on:
        if r.get("carpha") is not None:
            r["adapter"] += r["commands"] * unseen
            r["carpha"] -= r["commands"] * unseen
    off = carpha_runs(NOGARP_RUNS, False, 90) if NOGARP_RUNS else []
    k_out, u_out = median(keep, "outage"), median(bare, "outage")
    print()
    print("| lab (real kernel, netns), median | runs | outage s | detection s | after detection s "
          "| x keepalived | x ucarp alone |")
    print("|---|---|---|---|---|---|---|")
    for name, results in (("keepalived, VRRP advert 1 s", keep),
                          ("ucarp alone (advbase 1, advskew 100/200)", bare),
                          ("carpha + ucarp, GARP on", on),
                          ("carpha + ucarp, GARP off", off)):
        if not results:
            continue
        out = median(results, "outage")
        done = sum(1 for r in results if r.get("outage") is not None)
        print(f"| {name} | {done}/{len(results)} | {show(out)} | {show(median(results, 'detection'))} "
              f"| {show(median(results, 'after_detection'))} | {ratio(out, k_out)} | {ratio(out, u_out)} |")
    after, own = median(on, "after_detection"), median(on, "carpha")
    if after is not None:
        print(f"\ncarpha's part after detection (GARP on), medians: {show(after)} s = devd stand-in "
              f"{show(median(on, 'devd'))} s + {median(on, 'commands'):.0f} FreeBSD commands through the "
              f"adapter {show(median(on, 'adapter'))} s + carpha's own {show(own)} s "
              f"(target {TARGET_AFTER_DETECTION:.3f} s: {'met' if own <= TARGET_AFTER_DETECTION else 'not met'}); "
              f"the adapter's part includes {unseen * 1000:.1f} ms per command of Python start-up its "
              f"shims cannot time themselves (measured: a shim started through carpha's runner, less /bin/true)")
        c_out = median(on, "outage")
        print(f"outage: {ratio(c_out, k_out)} x keepalived, {ratio(c_out, u_out)} x ucarp alone "
              f"(target {TARGET_RATIO:g} x keepalived: "
              f"{'met' if c_out and k_out and c_out <= TARGET_RATIO * k_out else 'not met'})")
        for r in on:
            if r.get("adapter") is not None and r.get("outage") is not None:
                r["without_adapter"] = r["outage"] - r["adapter"]
        bare = median(on, "without_adapter")
        print(f"derived, the adapter's time taken out (FreeBSD's commands counted as free): outage "
              f"{show(bare)} s = {ratio(bare, k_out)} x keepalived, {ratio(bare, u_out)} x ucarp alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
