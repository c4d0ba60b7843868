"""The steps scenarios share (and the soak, carpha.rehearsal.soak): the
steady state a scenario starts from, waiting for a condition in simulated
time, a node isolated, a forced takeover, `carpha check` on each node."""

from __future__ import annotations

from typing import Callable, Optional

from ..actions.base import Context
from ..engine import transitions
from ..engine.handover import hand_over
from .harness import CRON_SECONDS, TICK, WRITE_EVERY, Rehearsal


def steady_state(r: Rehearsal) -> None:
    """Boot: CARP elects the preferred node, carpha brings the group up and
    the peer's disk resynchronises; the timeline starts after that, at a
    seeded point of every timer's cycle."""
    r.start()
    r.run_for(90 + r.rng.uniform(0, 5), client=False)
    r.timeline.clear()
    r.start()
    r.next_cron = r.rng.uniform(1, CRON_SECONDS)
    r.next_write = r.sim_clock.now() + r.rng.uniform(0, WRITE_EVERY)


def first_time(r: Rehearsal, predicate: Callable[[], bool], limit: float, step: float = TICK) -> Optional[float]:
    """Simulated seconds until `predicate` first holds, checked after every
    command any node runs (not only between driver ticks), or None."""
    started = r.sim_clock.now()
    key = f"first_time@{started}"
    r.mark_when(key, predicate)
    try:
        while r.sim_clock.now() - started < limit and r.marks[key][1] is None:
            if predicate():
                return round(r.sim_clock.now() - started, 3)
            r.run_for(step)
        return r.seconds_until(key, started)
    finally:
        del r.marks[key]


def steady_in_sync(r: Rehearsal):
    """The steady state with the preferred node's mirror COMPLETE, 3 s on;
    returns (the preferred node, its peer)."""
    steady_state(r)
    a, b = r.pair()
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(3)
    return a, b


def settle_live(r: Rehearsal, limit: float = 300) -> Optional[float]:
    """Until exactly one node serves with its mirror COMPLETE, both halves ACTIVE."""
    return first_time(r, lambda: r.converged() and any(r.mirror_complete(n) for n in r.pair()), limit, 1.0)


def isolated_then_served_by_peer(r: Rehearsal):
    """The steady state, then the preferred node loses every link (to its
    peer and to the witness) and fences itself; returns (it, its peer) once
    the peer serves."""
    a, b = steady_in_sync(r)
    r.record(a, "scenario", f"{a} loses every link")
    r.cluster.cut(a, b)
    r.cut_witness(a)
    first_time(r, lambda: r.serving() == [b], 120)
    return a, b


def force_takeover(r: Rehearsal, node: str) -> None:
    """`carpha takeover GROUP --accept-data-loss` on `node`, as an
    administrator runs it when the peer's record cannot be read (a plain
    takeover is refused then: unknown is not "fine")."""
    config = r.configs[node]
    ctx = Context(config, config.groups[r.group.name], node, r.runner(node), r.log)
    r.record(node, "scenario", f"carpha takeover {r.group.name} --accept-data-loss")
    with r.by_hand(node):
        hand_over(ctx, transitions.MASTER, accept_data_loss=True)


def from_journal(r: Rehearsal, node: str, record: dict, event: str, detail: str) -> None:
    """A timeline entry at the time `node` journaled `record`."""
    r.timeline.append({"t": round(record["time"] - r.t0, 3), "node": node, "event": event, "detail": detail})
    r.timeline.sort(key=lambda e: e["t"])


def check_codes(r: Rehearsal, stages: list, stage: str, nodes) -> dict:
    """`carpha check`'s exit code on each live node of `nodes` (its first
    line in the timeline) and each group's own level there, appended to
    `stages` for the verdict."""
    from ..ops import check
    found, groups = {}, {}
    for node, config in r.configs.items():
        if r.cluster[node].up and node in nodes:
            result = check.evaluate(config, r.runner(node), r.log)
            found[node] = result["status"]
            groups[node] = {name: check.worst(check.Finding(**f) for f in result["findings"] if f["group"] == name)
                            for name in result["groups"]}
            r.record(node, "check", check.plugin_output(result).splitlines()[0])
    stages.append({"stage": stage, "codes": found, "groups": groups})
    return found
