"""The `switchover-flap-partition` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ...actions.base import Context
from ..harness import Rehearsal
from ..steps import first_time, settle_live, steady_state


def run(r: Rehearsal) -> dict:
    """`carpha switchover` to serverB and back; then a CARP flap on serverB
    and an A-B link cut. Both nodes decide, but the next generation can be
    claimed once on the witness: the group is never on two nodes."""
    from ...engine.handover import switch_over
    steady_state(r)
    a, b = r.pair()
    for source, target in ((a, b), (b, a)):
        first_time(r, lambda: r.mirror_complete(source), 240, 1.0)
        r.run_for(3)
        config = r.configs[source]
        ctx = Context(config, config.groups[r.group.name], source, r.runner(source), r.log)
        r.record(source, "scenario", f"carpha switchover {r.group.name}")
        with r.by_hand(source):
            switch_over(ctx, to=target, pause=r.run_for, echo=lambda line: r.record(source, "switchover", line))
    r.run_for(5)
    carp = r.group.carp
    host = r.cluster[b]
    r.record(b, "scenario", "CARP flaps on serverB, then the A-B link is cut")
    host.execute(["ifconfig", carp.interface, "vhid", str(carp.vhid), "state", "master"], 5, {})
    r.cluster.cut(a, b)
    r.run_for(60)
    r.cluster.heal(a, b)
    live = settle_live(r)
    return r.verdict("switchover-flap-partition", None, extra_ok=live is not None)
