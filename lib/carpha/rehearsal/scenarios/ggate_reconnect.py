"""The `ggate-reconnect` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_in_sync


def _peer_half_attached(r: Rehearsal, node: str) -> bool:
    """The peer's disk is a component of `node`'s running mirror again."""
    name = f"ggate{r.group.storage.ggate.unit}"
    return name in r.node_state(node)["mirror"].get("components", {})


def run(r: Rehearsal) -> dict:
    """The standby reboots: serverA's heartbeat drops its stalled half, and
    when serverB is back and exports its disk again, serverA's back-off
    retries attach it within seconds (no wait for cron's minute); the
    resync then runs to COMPLETE."""
    master, peer = steady_in_sync(r)
    r.record(peer, "scenario", "reboot (power cycle)")
    r.cluster.crash(peer)
    gone = first_time(r, lambda: not _peer_half_attached(r, master), 60, 0.5)
    r.run_for(10)
    r.boot(peer)
    returned = r.sim_clock.now()
    crons_before = r.next_cron
    attached = first_time(r, lambda: _peer_half_attached(r, master), 120, 0.1)
    cron_ran = r.next_cron != crons_before and attached is not None and attached > (
        r.t0 + crons_before - returned)
    resynced = first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    ok = gone is not None and attached is not None and attached <= 15 and resynced is not None
    verdict = r.verdict("ggate-reconnect", None, extra_ok=ok)
    verdict["attached_seconds_after_return"] = attached
    verdict["cron_ran_before_attach"] = cron_ran
    return verdict
