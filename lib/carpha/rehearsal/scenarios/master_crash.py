"""The `master-crash` scenario of `carpha simulate`: the serving node loses power; its peer takes
the group over."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    steady_state(r)
    master, peer = r.pair()
    r.run_for(5)
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    takeover = first_time(r, lambda: r.serving() == [peer], 60)
    r.run_for(20)           # serverB's pass goes on: attaching the dead peer's disk times out
    return r.verdict("master-crash", takeover)
