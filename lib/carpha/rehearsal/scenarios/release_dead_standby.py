"""The `release-dead-standby` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ...exits import CarphaError
from ...actions.base import Context
from ...engine import transitions
from ...engine.handover import hand_over
from ..harness import Rehearsal
from ..steps import settle_live, steady_in_sync


def run(r: Rehearsal) -> dict:
    """serverB dies; `carpha release web` on serverA: the mirror's stop waits
    on serverB's dead half until serverA's heartbeat has recorded it out of
    date and dropped it; what stays published is that record, never the
    "in sync" of before. serverB boots: it refuses its stale disk and
    yields, and serverA, which has every write, serves again."""
    a, b = steady_in_sync(r)
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha release {r.group.name}")
    try:
        with r.by_hand(a):
            hand_over(ctx, transitions.BACKUP)
    except CarphaError as error:
        r.record(a, "release", f"failed: {error}")
    r.run_for(30)
    published = r.published(a)
    r.boot(b)
    live = settle_live(r, 400)
    ok = live is not None and published.get("replica_in_sync") is False and r.serving() == [a]
    verdict = r.verdict("release-dead-standby", None, extra_ok=ok)
    verdict["published_after_release"] = published
    return verdict
