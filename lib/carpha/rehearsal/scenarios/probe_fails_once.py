"""The `probe-fails-once` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ...actions.base import Context
from ...engine import transitions
from ...engine.handover import hand_over
from ..harness import Rehearsal
from ..steps import first_time, settle_live, steady_in_sync


def run(r: Rehearsal) -> dict:
    """serverA must let go (CARP moves to serverB) while one probe fails
    there (`sysctl kern.boot_id`, the demotion bookkeeping): that degrades
    the demotion decision of that pass only; letting go runs."""
    a, b = steady_in_sync(r)
    r.fail_once[a] = [("sysctl", "-n", "-x", "kern.boot_id"), ("sysctl", "-n", "-x", "kern.boot_id")]
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha release {r.group.name}, with sysctl kern.boot_id failing")
    with r.by_hand(a):
        hand_over(ctx, transitions.BACKUP)
    took = first_time(r, lambda: r.serving() == [b], 120)
    live = settle_live(r, 400)
    return r.verdict("probe-fails-once", took, extra_ok=live is not None)
