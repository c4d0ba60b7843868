"""The `promote-after-fence` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ...exits import CarphaError
from ...actions.base import Context
from ...engine import transitions
from ...engine.handover import hand_over
from ..harness import Rehearsal
from ..steps import isolated_then_served_by_peer


def run(r: Rehearsal) -> dict:
    """serverA fences itself (isolated; CARP keeps it MASTER, so it refuses
    and never demotes its storage: geom_mirror stays loaded after the
    fence's `gmirror stop -f`); serverB serves, then dies; serverA's links
    come back and it refuses its stale disk. `carpha takeover web
    --accept-data-loss` on serverA must work without a reboot: the
    promotion reloads geom_mirror so the local disk is tasted again."""
    a, b = isolated_then_served_by_peer(r)
    r.run_for(10)
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.record(a, "scenario", "the links come back")
    r.cluster.heal(a, b)
    r.restore_witness(a)
    r.run_for(40)                 # serverA refuses: serverB recorded its half out of date
    loaded = "geom_mirror" in r.cluster[a].modules
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha takeover {r.group.name} --accept-data-loss")
    try:
        with r.by_hand(a):
            hand_over(ctx, transitions.MASTER, accept_data_loss=True)
    except CarphaError as error:
        r.record(a, "takeover", f"failed: {error}")
    r.run_for(10)
    verdict = r.verdict("promote-after-fence", None, extra_ok=loaded and r.serving() == [a])
    # serverB's writes while serverA was fenced are the loss accepted
    disk = r.cluster[a].disks[r.group.storage.providers[a]]
    ours = [x for x in r.cluster.acknowledged if x.split(":")[1] in r.group.jails]
    verdict["accepted_writes_lost"] = sum(1 for x in ours if x.startswith(f"{b}:") and x not in disk.blocks)
    verdict["invariants"]["acknowledged_writes_lost"] = sum(
        1 for x in ours if x.startswith(f"{a}:") and x not in disk.blocks)
    verdict["geom_mirror_loaded_after_fence"] = loaded
    return verdict
