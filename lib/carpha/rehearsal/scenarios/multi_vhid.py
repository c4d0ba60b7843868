"""The `multi-vhid` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ... import exits
from ...exits import CarphaError
from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """A group on two networks (LAN em0, DMZ em1, a vhid on each): serverA's
    DMZ link goes down. Its DMZ vhid enters INIT and demotes its LAN vhid
    too (preempt), serverB becomes MASTER of both and serves the whole
    group; the link comes back and serverA takes the group back. The
    group's addresses are never on two nodes, nor served where one vhid
    is not MASTER."""
    group = r.group
    if len(group.bindings) < 2:
        raise CarphaError(f"simulate: multi-vhid needs a group with two vhids (carp: as a list); "
                          f"{group.name} has one (try examples/multi-vhid.yaml)", exits.CONFIG)
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    dmz = group.bindings[1]
    split_starts = []       # jails started on a node not MASTER of every vhid of the group
    was_serving = set()

    def watch_starts() -> bool:
        serving = {n for n in group.nodes if r.cluster[n].up and group.jails[0] in r.cluster[n].jails}
        for n in serving - was_serving:
            if any(r.cluster[n].carp_state(x.vhid, x.interface) != "MASTER" for x in group.bindings):
                split_starts.append((round(r.sim_clock.now() - r.t0, 3), n))
        was_serving.clear()
        was_serving.update(serving)
        return False
    r.mark_when("split starts", watch_starts)
    r.run_for(3)
    r.record(a, "scenario", f"{a}'s {dmz.interface} link goes down")
    r.cluster[a].execute(["ifconfig", dmz.interface, "down"], 5, {})
    moved = first_time(r, lambda: r.serving() == [b], 120)
    r.run_for(20)
    r.record(a, "scenario", f"{a}'s {dmz.interface} link comes back")
    r.cluster[a].execute(["ifconfig", dmz.interface, "up"], 5, {})
    back = first_time(r, lambda: r.serving() == [a] and r.converged() and r.mirror_complete(a), 400, 1.0)
    ok = moved is not None and back is not None and not split_starts
    verdict = r.verdict("multi-vhid", moved, extra_ok=ok)
    verdict["taken_back_seconds"] = back
    verdict["started_where_a_vhid_was_not_master"] = split_starts
    return verdict
