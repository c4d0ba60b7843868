"""The `nfs-stall` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """The witness share stops answering for 10 s while both nodes are
    healthy: the petting goes on from the peer's replies (never blocked by
    the hung share), nobody fails over, nobody is reset."""
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.record("-", "scenario", "the witness share stops answering for 10 s")
    hold = r.stall_witness()
    r.run_for(10)
    hold.set()
    r.record("-", "scenario", "the witness share answers again")
    r.run_for(30)
    lapses = [e for e in r.timeline if e["event"] == "watchdog"]
    ok = r.serving() == [master] and not r.rig.resets and not r.fences and not lapses
    return r.verdict("nfs-stall", None, extra_ok=ok)
