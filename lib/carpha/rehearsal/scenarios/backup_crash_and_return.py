"""The `backup-crash-and-return` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from typing import Dict

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """serverB (the standby) dies: serverA's writes wait on its half until
    serverA's heartbeat has recorded that half outdated on the witness, then
    go on alone; serverB returns and is resynchronised."""
    steady_state(r)
    master, peer = r.pair()
    r.run_for(3)
    r.record(peer, "scenario", "crash (power cut)")
    r.cluster.crash(peer)
    seen_at_drop: Dict[str, dict] = {}
    host = r.cluster[master]

    def dropped() -> bool:
        gone = not host.ggate
        if gone:
            seen_at_drop.setdefault("record", r.published(master))
        return gone
    r.mark_when("dropped", dropped)
    r.run_for(20)
    r.boot(peer)

    resynced = first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(5)
    record = seen_at_drop.get("record", {})
    verdict = r.verdict("backup-crash-and-return", None, extra_ok=resynced is not None
                        and record.get("replica_in_sync") is False)
    verdict["published_at_drop"] = record
    return verdict
