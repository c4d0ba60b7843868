"""The `witness-down-then-master-crash` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import steady_state


def run(r: Rehearsal) -> dict:
    """The witness goes away (nothing changes for the running master), then
    serverA dies: serverB must not promote blindly, and says why."""
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record("-", "scenario", "the witness share becomes unreachable")
    for node in r.configs:
        r.cut_witness(node)
    r.run_for(20)
    still_served = r.serving() == [master]
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    r.run_for(70)
    return r.verdict("witness-down-then-master-crash", None, expect_served=False,
                     extra_ok=still_served and r.held_because(peer, "witness unreachable"))
