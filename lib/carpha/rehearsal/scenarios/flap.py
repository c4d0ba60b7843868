"""The `flap` scenario of `carpha simulate`: CARP on the serving node is forced backup and master
100 times in 5 s; the group stays there and no jail is started twice."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import steady_state


def run(r: Rehearsal) -> dict:
    steady_state(r)
    master = r.group.preferred_node
    carp = r.group.carp
    host = r.cluster[master]
    for i in range(100):
        state = "backup" if i % 2 == 0 else "master"
        r.at(1.0 + i * 0.05, f"{master}: force CARP {state}",
             lambda s=state: host.execute(["ifconfig", carp.interface, "vhid", str(carp.vhid), "state", s], 5, {}))
    r.run_for(30)
    return r.verdict("flap", None, extra_ok=r.serving() == [master] and r.double_starts == 0)
