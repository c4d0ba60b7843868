"""The random fault soak (carpha.rehearsal.soak), short: a few seeds of a few dozen
steps each; `make soak` runs thousands."""

import pytest

from carpha.rehearsal import soak


def test_the_plan_is_the_seeds_and_replays():
    assert soak.plan(4, 30) == soak.plan(4, 30)
    assert soak.plan(4, 30) != soak.plan(5, 30)
    assert soak.plan(4, 10) == soak.plan(4, 30)[:10]       # a prefix replays a prefix


@pytest.mark.parametrize("seed", [1, 2, 4, 6])
def test_random_faults_never_put_the_group_on_two_nodes_nor_lose_an_acknowledged_write(seed):
    outcome = soak.run(seed, 40)
    assert outcome.violation is None, f"{outcome.violation}; replay: python -m carpha.rehearsal.soak --seed {seed} --steps 40"


@pytest.mark.parametrize("seed, steps", [(3, 9), (2, 40)])
def test_after_healing_a_node_holding_every_acknowledged_write_serves(seed, steps):
    # seed 3, 9 steps: an abandoned promotion no longer marks the peer's
    # half stale; seed 2: a refusing master hands CARP over, not only demotes.
    outcome = soak.run(seed, steps)
    assert outcome.ok, f"{outcome.violation or outcome.liveness}; replay: python -m carpha.rehearsal.soak --seed {seed} " \
                       f"--steps {steps}"


def test_a_release_the_peer_cannot_answer_ends_and_a_mark_older_than_our_service_is_void():
    # Seed 7: serverB's mark on serverA's half predates serverA's later
    # generation. Seed 1: serverA released while serverB's half was stale;
    # serverB refused and yielded, so serverA's release ends and it serves.
    for seed in (7, 1):
        outcome = soak.run(seed, 60)
        assert outcome.ok, f"seed {seed}: {outcome.violation or outcome.liveness}"
        assert outcome.served_at_end == ["serverA"]


def test_a_takeover_of_a_live_peer_waits_until_the_peer_let_go():
    # Seed 9, 326 steps: `carpha takeover` on serverA while serverB served;
    # serverB's let-go stalled on serverA's half going away, and both nodes
    # served for seconds before the takeover waited for serverB's record.
    outcome = soak.run(9, 326)
    assert outcome.violation is None, outcome.violation
