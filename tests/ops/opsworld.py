"""A served pair for the operator commands' tests (imported by them: a conftest here would shadow tests/conftest)."""

import pytest

from carpha.engine import worker
from simworld import LOG, World


@pytest.fixture
def served(tmp_path):
    """serverA serves web, serverB exports its disk, the mirror in sync."""
    w = World(tmp_path)
    for _ in range(2):
        for node in ("serverA", "serverB"):
            worker.reconcile(w.configs[node], node, lambda node=node: w.ctx(node).runner, LOG)
    w.cluster.advance(60)                 # the resync completes
    yield w
    w.close()
