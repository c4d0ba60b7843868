"""The `takeover-peer-unknown` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ...exits import CarphaError
from ...actions.base import Context
from ...engine import transitions
from ...engine.handover import hand_over
from ..harness import Rehearsal
from ..steps import isolated_then_served_by_peer


def run(r: Rehearsal) -> dict:
    """serverA is isolated and fences; serverB serves and acknowledges
    writes; serverB dies; serverA boots, still cut off from the witness. A
    plain `carpha takeover web` there is refused (serverB's record is
    unknown), and says what to do."""
    a, b = isolated_then_served_by_peer(r)
    r.run_for(15)                              # serverB writes alone
    r.record(b, "scenario", "crash (power cut)")
    r.cluster.crash(b)
    r.cluster.crash(a)
    r.cluster.heal(a, b)
    r.boot(a)                                  # its witness path still broken
    r.run_for(10)
    config = r.configs[a]
    ctx = Context(config, config.groups[r.group.name], a, r.runner(a), r.log)
    r.record(a, "scenario", f"carpha takeover {r.group.name}")
    refusal = ""
    try:
        with r.by_hand(a):
            hand_over(ctx, transitions.MASTER)
    except CarphaError as error:
        refusal = str(error)
    r.record(a, "takeover", refusal or "not refused")
    r.run_for(10)
    said = "cannot be read" in refusal and "--accept-data-loss" in refusal
    verdict = r.verdict("takeover-peer-unknown", None, extra_ok=said, expect_served=False)
    verdict["refusal"] = refusal
    return verdict
