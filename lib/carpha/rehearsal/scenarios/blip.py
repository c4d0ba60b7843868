"""The `blip` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """serverA loses every link for 1.5 s: no failover, no fence, no reset,
    no jail restarted."""
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    starts = r.double_starts
    jid = {j: r.cluster[master].jails[j].get("jid") for j in r.group.jails}
    r.record(master, "scenario", f"{master} loses every link for 1.5 s")
    r.cluster.cut(master, peer)
    r.cut_witness(master)
    r.run_for(1.5)
    r.cluster.heal(master, peer)
    r.restore_witness(master)
    r.run_for(30)
    same = {j: (r.cluster[master].jails.get(j) or {}).get("jid") for j in r.group.jails} == jid
    ok = (r.serving() == [master] and same and not r.fences and not r.rig.resets and r.double_starts == starts
          and not any(e["node"] == peer and e["event"] == "run" and e["detail"].startswith("service jail")
                      for e in r.timeline))
    return r.verdict("blip", None, extra_ok=ok)
