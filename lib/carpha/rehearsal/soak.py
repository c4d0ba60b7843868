"""A seeded random fault soak over the simulated cluster (in the manner of
Pacemaker's CTS): crashes, boots, link cuts, isolation, witness loss, CARP
flaps, the administrator's own commands, a command failing once, random
time advances.

Safety is checked after every command any node runs (the Rehearsal's
invariants: never two nodes serving the jails, the addresses or the
mirror) and after every step (every acknowledged write is on the disk of
the node that serves; the soak never accepts a loss). After the steps
everything is healed and the cluster left quiet; then it must be live (one
node serves, its mirror COMPLETE) or refuse correctly: a liveness failure
is an up node holding every acknowledged write that does not serve.

A failing run is shrunk to its shortest failing prefix; `python -m
carpha.rehearsal.soak --seed S --steps N` replays it, and so does the command the
report prints."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import List, Optional

from . import harness
from .steps import steady_state
from ..engine import transitions
from ..actions.base import Context
from ..exits import CarphaError

QUIET_SECONDS = 420.0
FAULTS = ("crash", "boot", "cut", "heal", "isolate", "restore", "witness-down", "witness-up",
          "flap", "takeover", "release", "switchover", "fail-once", "wait")


@dataclass
class Outcome:
    seed: int
    steps: int
    simulated_seconds: float = 0.0
    violation: Optional[str] = None      # safety, inside the guarantee
    liveness: Optional[str] = None
    served_at_end: List[str] = field(default_factory=list)
    trail: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violation is None and self.liveness is None


def plan(seed: int, steps: int) -> List[tuple]:
    """The seed's steps: (fault, node, seconds to run after it)."""
    rng = random.Random(seed)
    return [(rng.choice(FAULTS), rng.choice(("serverA", "serverB")), round(rng.uniform(0.5, 30.0), 1))
            for _ in range(steps)]


def _acked_lost(r) -> int:
    serving = r.serving()
    if len(serving) != 1:
        return 0
    disk = r.cluster[serving[0]].disks[r.group.storage.providers[serving[0]]]
    acked = [b for b in r.cluster.acknowledged if b.split(":")[1] in r.group.jails]
    return sum(1 for b in acked if b not in disk.blocks)


def _admin(r, node: str, what: str) -> None:
    from ..engine.handover import hand_over, switch_over
    config = r.configs[node]
    ctx = Context(config, config.groups[r.group.name], node, r.runner(node), r.log)
    try:
        with r.by_hand(node):
            if what == "takeover":
                hand_over(ctx, transitions.MASTER)
            elif what == "release":
                hand_over(ctx, transitions.BACKUP)
            else:
                switch_over(ctx, pause=r.run_for, echo=lambda line: None, timeout=60)
    except CarphaError as refusal:            # refusals are part of the story
        r.record(node, "soak", f"{what} refused: {refusal}")


def apply_step(r, fault: str, node: str) -> None:
    a, b = r.pair()
    host = r.cluster[node]
    if fault == "crash" and host.up:
        r.cluster.crash(node)
    elif fault == "boot" and not host.up:
        r.boot(node)
    elif fault == "cut":
        r.cluster.cut(a, b)
    elif fault == "heal":
        r.cluster.heal(a, b)
    elif fault == "isolate":
        r.cluster.cut(a, b)
        r.cut_witness(node)
    elif fault == "restore":
        r.cluster.heal(a, b)
        r.restore_witness(node)
    elif fault == "witness-down":
        for n in (a, b):
            r.cut_witness(n)
    elif fault == "witness-up":
        for n in (a, b):
            r.restore_witness(n)
    elif fault == "flap" and host.up:
        carp = r.group.carp
        state = r.rng.choice(("master", "backup"))
        host.execute(["ifconfig", carp.interface, "vhid", str(carp.vhid), "state", state], 5, {})
    elif fault in ("takeover", "release", "switchover") and host.up:
        _admin(r, node, fault)
    elif fault == "fail-once" and host.up:
        prefix = r.rng.choice((("gmirror", "list"), ("ifconfig",), ("mount", "-p"), ("ggatec", "list", "-v"),
                               ("sysctl", "-n", "-x", "kern.boot_id")))
        r.fail_once.setdefault(node, []).append(prefix)


def heal_all(r) -> None:
    a, b = r.pair()
    r.fail_once.clear()
    r.cluster.heal(a, b)
    for n in (a, b):
        r.restore_witness(n)
        if not r.cluster[n].up:
            r.boot(n)


def run(seed: int, steps: int, config_path: str = harness.DEFAULT_CONFIG) -> Outcome:
    text = open(config_path).read()
    workdir = tempfile.mkdtemp(prefix="carpha-soak-", dir=harness.scratch_dir())
    r = None
    outcome = Outcome(seed, steps)
    try:
        r = harness.Rehearsal(text, os.path.basename(config_path), workdir, seed=seed)
        steady_state(r)
        for index, (fault, node, seconds) in enumerate(plan(seed, steps), start=1):
            r.record(node, "soak", f"step {index}: {fault}")
            outcome.trail.append(f"{index}: {fault} {node} +{seconds:g}s")
            apply_step(r, fault, node)
            r.run_for(seconds)
            broken = [k for k, v in r.violations.items() if v]
            if broken:
                outcome.violation = f"step {index}: two nodes held the group's {', '.join(broken)}"
                break
            lost = _acked_lost(r)
            if lost:
                outcome.violation = f"step {index}: {lost} acknowledged writes are not on the serving node's disk"
                break
        if outcome.violation is None:
            heal_all(r)
            r.run_for(QUIET_SECONDS)
            outcome.served_at_end = r.serving()
            lost = _acked_lost(r)
            if any(r.violations.values()) or lost:
                outcome.violation = f"after healing: {lost} writes lost, {r.violations}"
            elif not outcome.served_at_end:
                acked = [x for x in r.cluster.acknowledged if x.split(":")[1] in r.group.jails]
                holders = [n for n in r.pair() if r.cluster[n].up and
                           all(x in r.cluster[n].disks[r.group.storage.providers[n]].blocks for x in acked)]
                if holders:
                    outcome.liveness = (f"nobody serves after {QUIET_SECONDS:g} s of quiet, though "
                                        f"{', '.join(holders)} holds every acknowledged write")
        outcome.simulated_seconds = round(r.sim_clock.now() - r.t0, 1)
    finally:
        if r is not None:
            r.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return outcome


def shrink(seed: int, steps: int, config_path: str = harness.DEFAULT_CONFIG) -> int:
    """A short prefix of the seed's steps that still fails: bisection, so a
    few runs (failures need not be monotonic in the prefix: the prefix
    returned fails, a shorter one may too)."""
    low, high = 0, steps                     # run(high) fails; run(low) is taken to pass
    while high - low > 1:
        middle = (low + high) // 2
        if run(seed, middle, config_path).ok:
            low = middle
        else:
            high = middle
    return high


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m carpha.rehearsal.soak", description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, action="append", help="a seed (repeatable; default 1..--seeds)")
    p.add_argument("--seeds", type=int, default=5, help="how many seeds when --seed is not given")
    p.add_argument("--steps", type=int, default=1000, help="steps per seed")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    seeds = args.seed or list(range(1, args.seeds + 1))
    started = time.monotonic()
    results = []
    for seed in seeds:
        outcome = run(seed, args.steps)
        line = {"seed": seed, "steps": args.steps, "simulated_seconds": outcome.simulated_seconds,
                "ok": outcome.ok, "violation": outcome.violation, "liveness": outcome.liveness,
                "served_at_end": outcome.served_at_end}
        if not outcome.ok and not args.no_shrink:
            shortest = shrink(seed, args.steps)
            line["shortest_failing_prefix"] = shortest
            line["replay"] = f"python -m carpha.rehearsal.soak --seed {seed} --steps {shortest}"
        results.append(line)
        print(json.dumps(line) if args.json else
              f"seed {seed}: {args.steps} steps, {outcome.simulated_seconds:g} simulated s: "
              f"{'ok' if outcome.ok else (outcome.violation or outcome.liveness)}"
              + (f" (shortest failing prefix {line['shortest_failing_prefix']} steps: {line['replay']})"
                 if "replay" in line else ""), flush=True)
    total = sum(r["steps"] for r in results)
    safety = sum(1 for r in results if r["violation"])
    live = sum(1 for r in results if r["liveness"])
    print(f"soak: {len(results)} seeds, {total} steps, "
          f"{sum(r['simulated_seconds'] for r in results) / 3600:.1f} simulated hours, "
          f"{time.monotonic() - started:.0f} s wall: {safety} safety violations, {live} liveness failures")
    return 0 if safety == 0 and live == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
