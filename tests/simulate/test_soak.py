"""The random fault soak (carpha.soak), short: a few seeds of a few dozen
steps each; `make soak` runs thousands."""

import pytest

from carpha import soak


def test_the_plan_is_the_seeds_and_replays():
    assert soak.plan(4, 30) == soak.plan(4, 30)
    assert soak.plan(4, 30) != soak.plan(5, 30)
    assert soak.plan(4, 10) == soak.plan(4, 30)[:10]       # a prefix replays a prefix


@pytest.mark.parametrize("seed", [1, 2, 4, 6])
def test_random_faults_never_put_the_group_on_two_nodes_nor_lose_an_acknowledged_write(seed):
    outcome = soak.run(seed, 40)
    assert outcome.violation is None, f"{outcome.violation}; replay: python -m carpha.soak --seed {seed} --steps 40"


@pytest.mark.xfail(strict=True, reason="known liveness failure: after faults both records can mark the other "
                                       "node's replica out of date, and nobody serves until an administrator's "
                                       "takeover --accept-data-loss (see the session note)")
def test_after_healing_a_node_holding_every_acknowledged_write_serves():
    outcome = soak.run(3, 10)
    assert outcome.violation is None
    assert outcome.liveness is None, outcome.liveness
