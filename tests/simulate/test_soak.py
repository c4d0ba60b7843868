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


@pytest.mark.parametrize("seed, steps", [(3, 9), (2, 40)])
def test_after_healing_a_node_holding_every_acknowledged_write_serves(seed, steps):
    # seed 3, 9 steps: an abandoned promotion no longer marks the peer's
    # half stale; seed 2: a refusing master hands CARP over, not only demotes.
    outcome = soak.run(seed, steps)
    assert outcome.ok, f"{outcome.violation or outcome.liveness}; replay: python -m carpha.soak --seed {seed} " \
                       f"--steps {steps}"


@pytest.mark.xfail(strict=True, reason="known liveness failure found by the soak (seed 7, 60 steps): nobody "
                                       "serves after healing though serverA holds every acknowledged write")
def test_the_known_liveness_failure_of_seed_7():
    outcome = soak.run(7, 60)
    assert outcome.liveness is None, outcome.liveness
