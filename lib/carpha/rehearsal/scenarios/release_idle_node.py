"""The `release-idle-node` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ...actions.base import Context
from ...engine import transitions
from ...engine.handover import hand_over
from ..harness import Rehearsal
from ..steps import settle_live, steady_in_sync


def run(r: Rehearsal) -> dict:
    """`carpha release web` on serverB, which serves nothing: it says
    nothing about serverA's replica (no mirror runs there), so serverA,
    which served every write, still promotes after a power cycle."""
    a, b = steady_in_sync(r)
    config = r.configs[b]
    ctx = Context(config, config.groups[r.group.name], b, r.runner(b), r.log)
    r.record(b, "scenario", f"carpha release {r.group.name}")
    with r.by_hand(b):
        hand_over(ctx, transitions.BACKUP)
    r.run_for(5)
    published = r.published(b)
    r.record(a, "scenario", "power cycle")
    r.cluster.crash(a)
    r.run_for(5)
    r.boot(a)
    live = settle_live(r, 400)
    ok = live is not None and published.get("out_of_sync_since_generation") is None
    verdict = r.verdict("release-idle-node", None, extra_ok=ok)
    verdict["published_by_idle_release"] = published
    return verdict
