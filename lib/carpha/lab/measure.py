"""The lab's measurements: who answers the group address at the same
instants on every node (`Sampling`, `sample`), and how long a master's
link death takes to move the group address for the client
(`measure_link_death`, from the probe's lines)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from .netns import DEVD_PATH, GROUP_V4, LIB, wait_for
from .service import _answers

SAMPLE_PERIOD = 0.1     # the partition runs ask both nodes 10 times a second
SAMPLE_TIMEOUT = 1.0    # an answer within this long counts for its instant


class Sampling:
    """Who answers on the group address, each node asked from its own
    namespace (an answer naming itself: its jail serves the address there)
    at the instants start + k * period, k < count, the same instants for
    every node. `both` counts the instants at which two nodes answered.
    A context manager: the samplers run while the block injects a fault,
    and are stopped (by pid) when it ends, also on failure."""

    def __init__(self, topo, workdir, nodes, seconds: float, period: float):
        self.topo, self.nodes, self.period = topo, nodes, period
        self.count = max(1, int(seconds / period))
        self.paths = {n: os.path.join(workdir, f"samples-{n}.txt") for n in nodes}
        self.procs = []

    def __enter__(self):
        start = time.monotonic() + 1.0            # every sampler running by then
        env = {"PATH": DEVD_PATH, "PYTHONPATH": LIB}
        for node in self.nodes:
            self.procs.append(self.topo.spawn(node, [
                sys.executable, "-m", "carpha.lab.harness", "sample", GROUP_V4, f"{start:.6f}", str(self.period),
                str(self.count)], env=env, log=self.paths[node]))
        wait_for(lambda: time.monotonic() >= start, 2.0)
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            try:
                proc.wait(timeout=0 if exc[0] else self.count * self.period + 10)
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)

    def answered(self, node: str) -> set:
        try:
            with open(self.paths[node]) as handle:
                rows = [line.split() for line in handle]
        except FileNotFoundError:
            return set()
        return {int(r[0]) for r in rows if len(r) == 2 and r[0].isdigit() and r[1] == node}

    def sampled(self, node: str) -> int:
        try:
            with open(self.paths[node]) as handle:
                return sum(1 for line in handle if len(line.split()) == 2 and line.split()[0].isdigit())
        except FileNotFoundError:
            return 0

    def result(self) -> dict:
        answers = {n: self.answered(n) for n in self.nodes}
        both = set.intersection(*answers.values())
        return {"instants": self.count, "sampled": min(self.sampled(n) for n in self.nodes),
                **{n: len(a) for n, a in answers.items()}, "both": len(both)}


def sample(address: str, start: str, period: str, count: str) -> int:
    """`<k> <node or ->` for each instant start + k * period (k < count).
    Each instant's request runs in a thread of its own (SAMPLE_TIMEOUT), so
    a slow answer under load neither shifts the next instants nor goes
    uncounted; an instant the sampler itself missed is skipped."""
    import threading
    start_at, every = float(start), float(period)
    lock, threads = threading.Lock(), []

    def ask(k):
        who = _answers(address, SAMPLE_TIMEOUT) or "-"
        with lock:
            print(f"{k} {who}", flush=True)

    for k in range(int(count)):
        at = start_at + k * every
        now = time.monotonic()
        if now > at + every / 2:
            continue
        if at > now:
            time.sleep(at - now)
        threads.append(threading.Thread(target=ask, args=(k,), daemon=True))
        threads[-1].start()
    for thread in threads:
        thread.join(SAMPLE_TIMEOUT + 1)
    return 0

def _first(lines, since, who):
    """The earliest attempt from `since` on that `who` answered, or None."""
    return min((t for t, w in lines if t >= since and w == who), default=None)


def read_probe(path):
    try:
        with open(path) as handle:
            return [(float(t), w) for t, w in (line.split() for line in handle if len(line.split()) == 2)]
    except FileNotFoundError:
        return []


def measure_link_death(topo, workdir, new_events, seconds: float, tag: str, on_fault=None) -> dict:
    """The client probes the group address; serverA's link dies; returns
    {"detection", "outage", "after_detection"} in seconds (None: no
    takeover within `seconds`). `new_events(since)` gives the monotonic
    time the new master's election fired."""
    path = os.path.join(workdir, f"probe-{tag}.txt")
    prober = topo.spawn("client", [sys.executable, "-m", "carpha.lab.harness", "probe", GROUP_V4, str(seconds + 5)],
                        env={"PATH": DEVD_PATH, "PYTHONPATH": LIB}, log=path)
    try:
        if not wait_for(lambda: _first(read_probe(path), 0, "serverA"), 10, 0.05):
            raise RuntimeError("the client never reached serverA before the fault")
        time.sleep(0.5)
        fault = time.monotonic()
        topo.link("serverA", False)
        if on_fault is not None:
            on_fault()
        served = wait_for(lambda: _first(read_probe(path), fault, "serverB"), seconds, 0.05)
        # The election's record may land after the address moved (keepalived
        # adds it before running its notify script).
        elected = wait_for(lambda: new_events(fault), 3.0, 0.05) if served else new_events(fault)
    finally:
        prober.kill()
        prober.wait(timeout=5)
    result = {"detection": None if elected is None else elected - fault,
              "outage": None if served is None else served - fault}
    result["after_detection"] = (None if None in (elected, served) else served - elected)
    result["_elected"], result["_served"] = elected, served      # monotonic instants, for split()
    return result
