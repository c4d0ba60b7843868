"""The `nas-move` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from typing import List

from ... import exits
from ...exits import CarphaError
from ...actions.base import Context
from ...engine import transitions
from ...engine.handover import hand_over
from ..harness import Rehearsal
from ..nodes import NAS_DRIVES
from ..steps import check_codes, first_time, steady_state


def _nas_group(r: Rehearsal):
    nas = [g for g in r.configs[r.group.preferred_node].groups.values() if g.storage.kind == "local-gmirror"]
    if not nas:
        raise CarphaError("simulate: nas-move needs a local-gmirror group (examples/three-servers.yaml has one)",
                          exits.CONFIG)
    return nas[0]


def _nas_served(r: Rehearsal, group) -> List[str]:
    """Nodes where the NAS is served: its filesystem mounted or its address up."""
    ips = {str(a.ip) for a in group.addresses}
    return [n for n in group.nodes if r.cluster[n].up and (
        any(m["mountpoint"] == group.filesystems[0].mountpoint for m in r.cluster[n].mounts)
        or any(a.addr in ips for ifp in r.cluster[n].interfaces.values() for a in ifp.addrs))]


def run(r: Rehearsal) -> dict:
    """serverC (the NAS, and the witness) dies. The administrator runs
    `carpha takeover nas` on serverB and moves serverC's drives into
    serverB's bays: serverB fscks, mounts, claims the NAS address and
    starts its services as soon as the kernel has assembled the mirror.
    serverC comes back without its drives and serves nothing. The web group
    stays on serverA throughout (with the witness gone, no automatic
    promotion: none is needed). `carpha check` runs on every live node
    once the NAS has moved and once serverC is back: the NAS must be OK on
    each (the verdict lists the exit codes)."""
    nas = _nas_group(r)
    owner, other = nas.preferred_node, nas.peer_of(nas.preferred_node)
    steady_state(r)
    first_time(r, lambda: _nas_served(r, nas) == [owner], 60, 1.0)
    twice = []
    r.mark_when("nas on two nodes", lambda: len(_nas_served(r, nas)) > 1 and not twice.append(1))
    r.run_for(3)
    r.record(owner, "scenario", "crash (power cut); the witness share goes with it")
    r.cluster.crash(owner)
    for node in r.pair():
        r.cut_witness(node)
    r.run_for(20)
    config = r.configs[other]
    ctx = Context(config, config.groups[nas.name], other, r.runner(other), r.log)
    r.record(other, "scenario", f"carpha takeover {nas.name}")
    with r.by_hand(other):
        hand_over(ctx, transitions.MASTER)
    r.run_for(10)
    r.record("-", "scenario", f"{owner}'s drives moved into {other}'s bays")
    started = r.sim_clock.now()
    for drive in NAS_DRIVES:          # into free bays: serverB's own ada1 stays where it is
        r.cluster.move_disk(owner, other, drive, r.cluster.free_disk_name(other))
    served = first_time(r, lambda: _nas_served(r, nas) == [other] and all(
        r.cluster[other].services.get(s, {}).get("pid") for s in nas.services), 60, 0.1)
    r.run_for(10)
    stages = []
    check_codes(r, stages, "NAS moved", r.configs)
    r.record(owner, "scenario", "boot, without its drives")
    r.cluster.boot(owner)
    r.run_for(70)                     # serverC's cron and events
    check_codes(r, stages, f"{owner} back without its drives", r.configs)
    # carpha check judges the NAS OK where it went and where it came back
    # without its drives (the nodes' exit codes also carry the witness being gone).
    from ...ops import check
    ok = (served is not None and _nas_served(r, nas) == [other] and not twice
          and r.serving() == [r.group.preferred_node]
          and all(stage["groups"][n][nas.name] == check.OK for stage in stages for n in stage["groups"]
                  if nas.name in stage["groups"][n]))
    verdict = r.verdict("nas-move", None, extra_ok=ok)
    verdict["nas_served_seconds_after_move"] = None if served is None else round(served, 3)
    verdict["nas_served_on"] = _nas_served(r, nas)
    verdict["nas_on_two_nodes"] = bool(twice)
    verdict["check_codes"] = stages
    return verdict
