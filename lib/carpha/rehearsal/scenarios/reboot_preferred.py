"""The `reboot-preferred` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from typing import Dict

from ..harness import Rehearsal
from ..steps import first_time, steady_in_sync


def run(r: Rehearsal) -> dict:
    """serverA (preferred) power-cycles; serverB takes over and writes on.
    Back up, serverA keeps its CARP demotion (boot-hold) until serverB
    records serverA's half in sync, and only then takes the group back."""
    master, peer = steady_in_sync(r)
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
