"""The `isolate-master-watchdog` scenario of `carpha simulate`: isolate-master with the shipped
watchdog defaults on both nodes (the registry's WITH_WATCHDOG adds them to the config)."""

from __future__ import annotations

from ..harness import Rehearsal
from . import isolate_master


def run(r: Rehearsal) -> dict:
    verdict = isolate_master.run(r)
    verdict["scenario"] = "isolate-master-watchdog"
    return verdict
