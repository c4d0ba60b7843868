"""The `peer-link-partition` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import steady_state


def run(r: Rehearsal) -> dict:
    """serverA and serverB stop hearing each other; both still reach the
    witness. CARP makes serverB MASTER too, but serverA's lease keeps
    renewing, so serverB must not promote: it refuses (and hands CARP back,
    though without adverts from serverA its CARP keeps coming back), and
    the jails stay on serverA only."""
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record("-", "scenario", f"cut the link between {master} and {peer}")
    r.cluster.cut(master, peer)
    r.mark_when("both master", lambda: r.node_state(peer)["carp"].get(r.group.name) == "MASTER")
    r.run_for(90)
    both_master = r.marks["both master"][1] is not None
    refused = any(e["node"] == peer and e["event"] == "worker" and "record advanced" in e["detail"]
                  for e in r.timeline)
    r.record("-", "scenario", "heal the link")
    r.cluster.heal(master, peer)
    r.run_for(90)
    verdict = r.verdict("peer-link-partition", None, extra_ok=both_master and refused
                        and r.serving() == [master])
    return verdict
