"""The `no-watchdog` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from . import isolate_master


def run(r: Rehearsal) -> dict:
    """isolate-master on a config without a watchdog: the software fence
    holds both invariants, and the takeover is no slower than that fence's
    lease allows (the figure before the watchdog existed)."""
    verdict = isolate_master.run(r)
    verdict["scenario"] = "no-watchdog"
    return verdict
