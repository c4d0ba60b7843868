"""The `refusing-master-yields` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

import shutil

from ..harness import Rehearsal
from ..steps import first_time, settle_live, steady_in_sync


def run(r: Rehearsal) -> dict:
    """serverA (preferred) comes back without its boot hold and preempts
    CARP while its replica is stale: it refuses to serve and yields (its
    demotion held, "released" in its record), so serverB, which holds every
    write, serves; serverA takes the group back only once in sync."""
    a, b = steady_in_sync(r)
    r.cluster.resync_rate = 4 * 1024 * 1024
    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    first_time(r, lambda: r.serving() == [b], 90)
    r.run_for(20)
    r.record(a, "scenario", "boot without rc.d/carpha_boot (no boot hold)")
    r.cluster.boot(a)
    shutil.rmtree(r.configs[a].paths.run_dir, ignore_errors=True)
    r.start_heartbeat(a)
    r.mark_when("a serves", lambda: a in r.serving())
    r.mark_when("b in sync", lambda: r.mirror_complete(b))
    live = settle_live(r, 400)
    served, synced = r.marks["a serves"][1], r.marks["b in sync"][1]
    ok = live is not None and (served is None or (synced is not None and synced <= served))
    return r.verdict("refusing-master-yields", None, extra_ok=ok)
