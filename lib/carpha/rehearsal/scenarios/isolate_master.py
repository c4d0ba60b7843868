"""The `isolate-master` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """serverA loses every link (to serverB and to the witness) while its
    client keeps writing: serverA fences itself within its fencing bound,
    serverB promotes only after takeover_after, and no acknowledged write is
    lost (the writes serverA could not mirror hang until the fence kills
    their writers). After the links come back serverA stays a demoted
    standby until serverB records serverA's half in sync; then, being the
    preferred node, it may take the group back."""
    from ...config import fencing_bound
    steady_state(r)
    master, peer = r.pair()
    w = r.configs[master].witness
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.record(master, "scenario", f"{master} loses every link: to {peer} and to the witness")
    cut = r.sim_clock.now()
    r.mark_when("fenced", lambda: master not in r.serving())
    r.mark_when("promoted", lambda: r.serving() == [peer])
    r.cluster.cut(master, peer)
    r.cut_witness(master)
    first_time(r, lambda: r.marks["promoted"][1] is not None, 120)
    fenced, took = r.seconds_until("fenced", cut), r.seconds_until("promoted", cut)
    r.run_for(10)
    r.record(master, "scenario", "the links come back")
    r.cluster.heal(master, peer)
    r.restore_witness(master)
    r.mark_when("synced", lambda: r.mirror_complete(peer))
    r.mark_when("back", lambda: master in r.serving())
    r.run_for(130)
    synced, back = r.marks["synced"][1], r.marks["back"][1]
    bound = fencing_bound(w, r.configs[master].groups, master)
    timing_ok = (fenced is not None and fenced <= bound and took is not None
                 and took >= w.takeover_after_seconds - w.interval_seconds)
    order_ok = back is None or (synced is not None and synced <= back)
    verdict = r.verdict("isolate-master", took, extra_ok=timing_ok and order_ok and len(r.serving()) == 1
                        and not any(f["over_budget"] for f in r.fences))
    verdict["fence_seconds"] = fenced
    verdict["fencing_bound_seconds"] = bound
    return verdict
