"""What the config says about the witness lease: the groups it guards, the
one peer, and the timing rules that keep one master (`witness_timing_problems`,
`witness_warnings`).

Why fence_after + interval + worst-case fencing < takeover_after keeps one
master: let T be the start of our last successful write. The peer cannot see
that counter before T, so it promotes no earlier than T + takeover_after on
its clock. We count staleness from T on ours, check once per beat (at most
`interval` late: a beat's I/O and ping are bounded by io_timeout < interval)
and finish fencing by T + fence_after + interval + F, F being the sum of the
fencing steps' timeouts. The two monotonic clocks only need the same rate
(they agree to parts per million). A kernel too wedged to run the fencing
steps needs a hardware watchdog (watchdogd(8)); that is outside this module.
"""

from __future__ import annotations

from typing import List

from ..exits import CONFIG, CarphaError

NONE_WARNING = "witness.kind: none: two masters are possible when the nodes cannot hear each other"


def leased_groups(config, node: str) -> list:
    """`node`'s groups the lease guards: not a local-gmirror group, which
    moves with its drives (carpha.engine.nas)."""
    return [g for g in config.groups.values() if node in g.nodes and g.storage.kind != "local-gmirror"]


def peer_of(config, node: str) -> str:
    """The one peer `node` shares its groups with (the lease records one
    peer per node)."""
    peers = sorted({other for g in leased_groups(config, node) for other in g.nodes if other != node})
    if len(peers) != 1:
        raise CarphaError(f"witness lease: {node} must share its groups with exactly one peer, "
                          f"found {', '.join(peers) or 'none'}", exit_code=CONFIG)
    return peers[0]



def witness_timing_problems(config) -> List[str]:
    """One `witness.<key>: ...` line per timing that allows two masters
    (lease only: the other kinds do not fence). `carpha config check`
    applies the same rule (config.fencing_problems)."""
    from ..config import fencing_problems
    w = config.witness
    problems = [f"witness.fence_after_seconds: {p}" for p in fencing_problems(w, config.groups, config.node)]
    if w.kind == "lease" and not w.interval_seconds < w.fence_after_seconds:
        problems.append(
            f"witness.interval_seconds: {w.interval_seconds:g} is not below fence_after_seconds"
            f" {w.fence_after_seconds:g} (a master would go stale between two renewals)")
    return problems


def witness_warnings(config) -> List[str]:
    return [NONE_WARNING] if config.witness.kind == "none" else []
