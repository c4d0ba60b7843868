"""The `double-failover` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """Failover after failover, no command typed: serverA (serving) dies and
    serverB takes over; serverA returns, is resynchronised and, being the
    preferred node, takes the group back; the standby serverB dies and
    returns (its half is dropped, then resynchronised); serverA dies again
    and serverB takes over; serverA returns and is resynchronised. After
    each return the mirror is COMPLETE with both halves ACTIVE: the second,
    third and tenth failovers work like the first."""
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    takeovers, complete = [], []

    def crash(node):
        r.run_for(3 + r.rng.uniform(0, 2))
        r.record(node, "scenario", "crash (power cut)")
        r.cluster.crash(node)

    def back(node, server):
        r.run_for(10)
        r.boot(node)
        complete.append(first_time(r, lambda: r.mirror_complete(server) and r.serving() == [server], 400, 1.0))

    crash(a)
    takeovers.append(first_time(r, lambda: r.serving() == [b], 90))
    back(a, b)
    takeovers.append(first_time(r, lambda: r.serving() == [a], 300, 1.0))   # preferred: takes it back
    complete.append(first_time(r, lambda: r.mirror_complete(a), 400, 1.0))
    crash(b)
    back(b, a)
    crash(a)
    takeovers.append(first_time(r, lambda: r.serving() == [b], 90))
    back(a, b)
    r.run_for(10)
    ok = all(t is not None for t in takeovers + complete) and r.serving() in ([a], [b])
    verdict = r.verdict("double-failover", takeovers[0], extra_ok=ok)
    verdict["takeover_seconds_per_cycle"] = takeovers
    verdict["complete_after_return_seconds"] = complete
    return verdict
