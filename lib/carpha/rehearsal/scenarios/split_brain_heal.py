"""The `split-brain-heal` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ...actions.base import Context
from ...store import journal
from ..harness import Rehearsal
from ..steps import first_time, force_takeover, from_journal, steady_state


def run(r: Rehearsal) -> dict:
    """Both sides promote the same generation without seeing each other: the
    witness share splits (each node sees an empty share of its own, so both
    renew their records and nobody fences), serverA dies and serverB is
    forced to serve; serverB dies, serverA comes back and is forced to serve
    from its own disk. Once serverB is back and the share heals, serverA
    must refuse to resynchronise in either direction (no ggatec create, no
    insert, an alert) until `carpha resolve web --keep serverA`; then
    serverB's disk is rebuilt from serverA's. serverB's writes are the loss
    the administrator accepted, counted exactly."""
    from ...ops.report import node_report
    from ...safety.splitbrain import resolve
    steady_state(r)
    a, b = r.pair()
    group = r.group
    first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(3)
    r.record("-", "scenario", "the witness share splits: each node sees an empty share of its own")
    for node in r.configs:
        r.split_witness(node)
    r.run_for(4)

    def ours():
        return [x for x in r.cluster.acknowledged if x.split(":")[1] in group.jails]

    r.record(a, "scenario", "crash (power cut)")
    r.cluster.crash(a)
    b_from = len(ours())
    force_takeover(r, b)
    b_served = r.serving() == [b]
    r.run_for(20)                                  # the client writes on serverB's disk alone
    b_to = len(ours())
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.run_for(5)
    r.boot(a)
    # The administrator does not wait for serverB's record (there is none
    # on serverA's share); the reboot forgot serverA's old MASTER role.
    force_takeover(r, a)                          # from serverA's own disk: serverB's writes are not on it
    a_served = r.serving() == [a]
    r.run_for(20)
    r.boot(b)
    b_back = r.sim_clock.now()
    r.run_for(70)                                  # serverB exports its disk; the share is still split
    a_state = r.configs[a].paths.state_dir
    unknown = [(rec, step) for rec in journal.read(a_state, group.carp.subsystem)
               if rec.get("kind") == "run" and rec["time"] > b_back
               for step in rec.get("did", []) if "while its generation is unknown" in step]
    if unknown:
        from_journal(r, a, unknown[0][0], "worker", unknown[0][1])
    generations = {n: r.saved_state(n).generation for n in (a, b)}
    r.record("-", "scenario", "the witness share heals")
    for node in r.configs:
        r.restore_witness(node)
    healed = r.sim_clock.now() - r.t0
    r.run_for(130)                                 # two cron passes on serverA
    alerts = [rec for rec in journal.read(a_state, group.carp.subsystem) if rec.get("kind") == "split-brain"]
    for rec in alerts:
        from_journal(r, a, rec, "alert", rec["reason"])
    a_ctx = Context(r.configs[a], r.configs[a].groups[group.name], a, r.runner(a), r.log)
    status = node_report(r.configs[a], r.runner(a), r.log)[group.name].get("split_brain")
    r.record(a, "status", f"split brain: {status}")
    touched = [e["detail"] for e in r.timeline if e["t"] >= healed and e["node"] == a and e["event"] == "run"
               and e["detail"].startswith(("ggatec create", "gmirror insert", "gmirror rebuild"))]
    held = (len(alerts) == 1 and status is not None and not touched and r.serving() == [a]
            and list(r.node_state(a)["mirror"].get("components", {})) == [group.storage.providers[a]])
    r.record(a, "scenario", f"carpha resolve {group.name} --keep {a}")
    with r.by_hand(a):
        _, said = resolve(a_ctx, a)
    r.record(a, "resolve", said)
    resynced = first_time(r, lambda: r.mirror_complete(a), 240, 1.0)
    r.run_for(5)
    disk_a = r.cluster[a].disks[group.storage.providers[a]]
    disk_b = r.cluster[b].disks[group.storage.providers[b]]
    acked = ours()
    on_b_alone = acked[b_from:b_to]
    others = acked[:b_from] + acked[b_to:]
    verdict = r.verdict("split-brain-heal", None, extra_ok=(
        b_served and a_served and generations[a] == generations[b] == 2 and bool(unknown) and held
        and resynced is not None and r.serving() == [a] and disk_a.blocks == disk_b.blocks))
    verdict["invariants"]["acknowledged_writes_lost"] = sum(1 for x in others if x not in disk_a.blocks)
    verdict["accepted_writes_lost"] = sum(1 for x in on_b_alone if x not in disk_a.blocks)
    verdict["invariants"]["converged"] = verdict["invariants"]["converged"] and verdict["accepted_writes_lost"] > 0
    verdict["generations_at_heal"] = generations
    verdict["refused_before_resolve"] = held
    verdict["resync_seconds"] = resynced
    return verdict
