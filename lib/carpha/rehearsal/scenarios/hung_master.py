"""The `hung-master` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, settle_live, steady_state


def run(r: Rehearsal) -> dict:
    """serverA's kernel freezes for 20 s, then runs on as if nothing
    happened: its board resets it first (it pets no more), serverB serves
    only after its gate, never beside it; serverA comes back a standby."""
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.rig.freeze(master, 20)
    frozen = r.sim_clock.now()
    r.mark_when("served", lambda: r.serving() == [peer])
    took = first_time(r, lambda: r.marks["served"][1] is not None, 60)
    r.run_for(25)
    reset = [at - frozen for node, at in r.rig.resets if node == master]
    live = settle_live(r, 300)
    verdict = r.verdict("hung-master", took, extra_ok=bool(reset) and took is not None and live is not None
                        and took >= reset[0])
    verdict["reset_seconds"] = round(reset[0], 3) if reset else None
    return verdict
