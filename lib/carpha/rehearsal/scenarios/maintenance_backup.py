"""The `maintenance-backup` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import steady_state


def run(r: Rehearsal) -> dict:
    """serverB is in maintenance when serverA dies: serverB must not take the
    group, and must say why."""
    from ...safety import maintenance
    steady_state(r)
    master, peer = r.pair()
    peer_state = r.configs[peer].paths.state_dir
    r.record(peer, "scenario", "carpha maintenance on --reason 'disk swap' --for 4h")
    maintenance.enable(peer_state, "disk swap", 4 * 3600, now=r.sim_clock.now())
    r.run_for(3)
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    r.run_for(70)                          # past a cron run too
    return r.verdict("maintenance-backup", None, extra_ok=r.held_because(peer, "disk swap"),
                     expect_served=False)
