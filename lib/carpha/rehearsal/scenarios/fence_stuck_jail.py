"""The `fence-stuck-jail` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """serverA loses every link while one of its jailed processes ignores
    SIGTERM and its writes hang on the dead peer: the fence still leaves no
    jailed process (SIGKILL first; jail -R alone would wait 10 s in
    term_procs() and be killed at its cap), inside the fencing bound, and
    no write the stuck jail made is acknowledged."""
    from ...config import fencing_bound
    steady_state(r)
    master, peer = r.pair()
    w = r.configs[master].witness
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    host = r.cluster[master]
    for name in r.group.jails:
        host.jails[name]["stubborn"] = True
    r.record(master, "scenario", f"a process in each jail ignores SIGTERM; {master} loses every link")
    cut = r.sim_clock.now()
    r.mark_when("no jail", lambda: not host.jails)
    r.cluster.cut(master, peer)
    r.cut_witness(master)
    first_time(r, lambda: r.serving() == [peer], 120)
    emptied = r.seconds_until("no jail", cut)
    r.run_for(10)
    r.record(master, "scenario", "the links come back")
    r.cluster.heal(master, peer)
    r.restore_witness(master)
    r.run_for(70)
    # serverA, preferred, may take the group back once its half is in sync
    first_time(r, lambda: r.converged() and any(r.mirror_complete(n) for n in r.pair()), 180, 1.0)
    r.run_for(10)
    bound = fencing_bound(w, r.configs[master].groups, master)
    stuck = [b for b in r.cluster.acknowledged if b.startswith(f"{master}:")
             and b not in r.cluster[peer].disks[r.group.storage.providers[peer]].blocks]
    verdict = r.verdict("fence-stuck-jail", None, extra_ok=emptied is not None and emptied <= bound
                        and not stuck and len(r.serving()) == 1 and not any(f["over_budget"] for f in r.fences))
    verdict["jails_gone_seconds"] = emptied
    verdict["fencing_bound_seconds"] = bound
    return verdict
