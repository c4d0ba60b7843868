"""The `master-crash-watchdog` scenario of `carpha simulate`: what it rehearses is run()'s
docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..outage import crash_and_time, takeover_parts


def run(r: Rehearsal) -> dict:
    """master-crash at the shipped defaults with ichwd on both nodes: the
    standby prepares its storage while its gate counts down from its last
    evidence of serverA, and serves when it opens."""
    crashed, takeover = crash_and_time(r)
    peer = r.pair()[1]
    parts = takeover_parts(r, peer, crashed)
    r.run_for(20)
    verdict = r.verdict("master-crash-watchdog", takeover, extra_ok=takeover is not None and takeover <= 8)
    verdict["takeover_parts"] = parts
    return verdict
