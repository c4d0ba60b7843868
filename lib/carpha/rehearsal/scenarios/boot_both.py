"""The `boot-both` scenario of `carpha simulate`: both nodes lose power and boot again; one of them
serves."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    steady_state(r)
    nodes = list(r.configs)
    r.run_for(3)
    for node in nodes:
        r.record(node, "scenario", "power cut")
        r.cluster.crash(node)
    r.run_for(5, client=False)
    for node in nodes:
        r.boot(node)
    takeover = first_time(r, lambda: len(r.serving()) == 1, 60)
    r.run_for(30)
    return r.verdict("boot-both", takeover)
