"""The `check-codes` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import check_codes, first_time, steady_state


def run(r: Rehearsal) -> dict:
    """`carpha check` on every live node at each stage, its exit code as the
    verdict lists it: healthy (0 OK on both), the standby crashed (the
    master's mirror degraded: 1 WARNING), the standby back and resynchronising
    or in sync again, then the master crashes while the standby cannot reach
    the witness (it refuses to promote: the group is served nowhere, 2
    CRITICAL)."""
    from ...ops import check
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(5)
    stages = []

    def codes(stage: str) -> dict:
        return check_codes(r, stages, stage, r.group.nodes)     # not the NAS owner serverC

    healthy = codes("healthy")
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.run_for(30)
    degraded = codes("standby down")
    r.boot(b)
    first_time(r, lambda: r.mirror_complete(a), 240, 0.5)
    r.run_for(10)
    codes("standby back")
    r.record(b, "scenario", "loses the witness")
    r.cut_witness(b)
    r.run_for(5)
    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    r.run_for(60)
    nowhere = codes("master down, standby cut off the witness")
    ok = (healthy == {a: check.OK, b: check.OK} and degraded == {a: check.WARNING}
          and nowhere == {b: check.CRITICAL})
    verdict = r.verdict("check-codes", None, extra_ok=ok, expect_served=False)
    verdict["check_codes"] = stages
    return verdict
