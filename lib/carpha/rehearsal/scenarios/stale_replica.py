"""The `stale-replica` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ...actions.base import Context
from ...engine import transitions
from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """serverB's half is cut off (its ggated dies), serverA keeps writing on
    its own disk, then serverA crashes: serverB must refuse to promote; an
    administrator's `takeover --accept-data-loss` promotes it, and the
    verdict counts exactly the writes that loses."""
    from ...actions import storage
    from ...freebsd import commands as cmd
    from ...engine.handover import hand_over
    steady_state(r)
    master, peer = r.pair()
    peer_config = r.configs[peer]
    peer_ctx = Context(peer_config, peer_config.groups[r.group.name], peer, r.runner(peer), r.log)
    r.run_for(3)
    r.cluster.resync_rate = 1024 * 1024      # a slow resync: serverA dies before it is done
    r.record(peer, "scenario", "ggated dies: serverA loses serverB's half of the mirror")
    r.cluster[peer].execute(list(cmd.pkill_argv(storage.ggated_argv(peer_ctx))), 10, {})
    disconnected_at = len([b for b in r.cluster.acknowledged if b.split(":")[1] in r.group.jails])
    # serverA's mirror drops serverB's half when the ggate timeout expires;
    # serverA's next heartbeat (not its next worker pass) publishes that the
    # replica is stale, and serverA dies just after, writing alone meanwhile.
    dropped = first_time(r, lambda: not r.mirror_complete(master), 60)
    published = first_time(r, lambda: r.published(master).get("replica_in_sync") is False, 60)
    r.run_for(5)
    r.record(master, "scenario", "crash (power cut)")
    r.cluster.crash(master)
    r.run_for(60)
    refused = r.serving() == [] and r.held_because(peer, "our replica is out of date")
    r.record(peer, "scenario", f"carpha takeover {r.group.name} --accept-data-loss")
    with r.by_hand(peer):
        hand_over(peer_ctx, transitions.MASTER, accept_data_loss=True)
    r.run_for(10)
    group = r.group
    disk = r.cluster[peer].disks[group.storage.providers[peer]]
    ours = [b for b in r.cluster.acknowledged if b.split(":")[1] in group.jails]
    # serverA returns: its disk holds the discarded writes and may carry the
    # same genid/syncid as serverB's mirror; it is blanked before serverB
    # sees it, and copied in full.
    r.cluster.resync_rate = 64 * 1024 * 1024
    r.boot(master)
    resynced = first_time(r, lambda: r.mirror_complete(peer), 300, 1.0)
    blanked = any(e["node"] == master and e["detail"] == f"gmirror clear {group.storage.providers[master]}"
                  for e in r.timeline)
    before, after = ours[:disconnected_at], ours[disconnected_at:]
    verdict = r.verdict("stale-replica", None, extra_ok=published is not None and refused
                        and r.serving() == [peer] and resynced is not None and blanked)
    verdict["published_after_drop_seconds"] = published if dropped is not None else None
    # Writes acknowledged while serverB's half was in sync must all survive;
    # those made on serverA alone afterwards are the loss the administrator
    # accepted, counted exactly.
    verdict["invariants"]["acknowledged_writes_lost"] = sum(1 for b in before if b not in disk.blocks)
    verdict["accepted_writes_lost"] = sum(1 for b in after if b not in disk.blocks)
    verdict["invariants"]["converged"] = verdict["invariants"]["converged"] and verdict["accepted_writes_lost"] > 0
    return verdict
