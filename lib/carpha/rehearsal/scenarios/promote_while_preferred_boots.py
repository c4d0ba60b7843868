"""The `promote-while-preferred-boots` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, settle_live, steady_in_sync


def run(r: Rehearsal) -> dict:
    """serverA dies; serverB promotes; serverA boots inside serverB's
    promotion. serverB's intent (role, generation) is on the witness before
    its jails start, so serverA sees it serving and does not preempt onto
    its own stale disk."""
    a, b = steady_in_sync(r)
    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    intent = first_time(r, lambda: r.saved_state(b).role == "MASTER", 90, 0.1)
    r.boot(a)                                  # inside serverB's promotion
    live = settle_live(r)
    return r.verdict("promote-while-preferred-boots", intent, extra_ok=live is not None)
