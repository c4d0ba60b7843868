"""The `planned-release` scenario of `carpha simulate`: `carpha release` on the serving node; its
peer takes the group over and keeps it."""

from __future__ import annotations

from ...actions.base import Context
from ...engine import transitions
from ...engine.handover import hand_over
from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record(master, "scenario", f"carpha release {r.group.name}")
    ctx = Context(r.configs[master], r.configs[master].groups[r.group.name], master, r.runner(master), r.log)
    with r.by_hand(master):
        hand_over(ctx, transitions.BACKUP)
    takeover = first_time(r, lambda: r.serving() == [peer], 60)
    r.run_for(70)
    return r.verdict("planned-release", takeover, extra_ok=r.serving() == [peer])
