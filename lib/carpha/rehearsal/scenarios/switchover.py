"""The `switchover` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ...actions.base import Context
from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """`carpha switchover` there and back, the client writing throughout:
    zero acknowledged writes lost in both directions."""
    from ...engine.handover import switch_over
    steady_state(r)
    first, second = r.pair()
    timings = []
    for source, target in ((first, second), (second, first)):
        first_time(r, lambda: r.mirror_complete(source), 240, 1.0)   # the replica must be in sync first
        r.run_for(3)
        r.record(source, "scenario", f"carpha switchover {r.group.name} --to {target}")
        config = r.configs[source]
        ctx = Context(config, config.groups[r.group.name], source, r.runner(source), r.log)
        started = r.sim_clock.now()
        with r.by_hand(source):
            switch_over(ctx, to=target, pause=r.run_for, echo=lambda line: r.record(source, "switchover", line))
        timings.append(round(r.sim_clock.now() - started, 3))
        r.run_for(10)
    verdict = r.verdict("switchover", timings[0], extra_ok=r.serving() == [first])
    verdict["switchover_seconds"] = timings
    return verdict
