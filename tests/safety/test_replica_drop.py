"""Dropping a stalled peer half on purpose (carpha.safety.replica_drop): only a
half whose ggate queue stayed busy for drop_after_seconds, only once this
node's record saying the replica is outdated was written, and the waiting
writes then complete on the local half."""

import logging

import pytest

from carpha.safety import replica_drop, witness_record
from carpha.safety.replica_drop import StallWatch, stalled, to_drop
from carpha.sim import two_node_cluster

LOG = logging.getLogger("carpha.tests")


def status(serving=True, in_sync=False):
    return witness_record.GroupStatus(serving=serving, generation=3, replica_in_sync=in_sync,
                               out_of_sync_since_generation=None if in_sync else 3)


def test_a_unit_is_stalled_only_when_busy_at_every_look_for_drop_after():
    watch = StallWatch()
    watch.look([{"unit": 0, "queue_count": 2}], 100.0)
    watch.look([{"unit": 0, "queue_count": 1}], 104.0)
    assert stalled(watch.waiting_since, {"web": 0}, 104.0, {"web": 6}) == set()
    watch.look([{"unit": 0, "queue_count": 1}], 106.0)
    assert stalled(watch.waiting_since, {"web": 0}, 106.0, {"web": 6}) == {"web"}


def test_an_empty_queue_or_an_unreadable_listing_starts_the_wait_over():
    watch = StallWatch()
    watch.look([{"unit": 0, "queue_count": 2}], 100.0)
    watch.look([{"unit": 0, "queue_count": 0}], 103.0)     # it answered meanwhile
    watch.look([{"unit": 0, "queue_count": 4}], 104.0)
    assert watch.waiting_since == {0: 104.0}
    watch.look(None, 110.0)                                 # no evidence: no drop
    assert watch.waiting_since == {}


@pytest.mark.parametrize("written, published, expected", [
    (True, {"web": status()}, ["web"]),
    (False, {"web": status()}, []),                        # the record saying so was not written
    (True, {"web": status(in_sync=True)}, []),             # what was written says in sync
    (True, {"web": status(serving=False)}, []),            # not serving: nothing to protect
    (True, {}, []),
])
def test_a_half_is_dropped_only_after_a_written_record_says_it_is_outdated(written, published, expected):
    assert to_drop({"web"}, published, written) == expected


def fake_config(tmp_path):
    """Just what replica_drop.drop reads of a config."""
    class Group:
        class storage:
            class ggate:
                unit = 0

    class Config:
        groups = {"web": Group}

        class paths:
            state_dir = str(tmp_path)
    return Config


def test_dropping_the_half_completes_the_waiting_writes_on_the_local_half(tmp_path):
    # No -t: the write waits for ever; the drop (ggatec destroy -f) cancels
    # its remote request with ENXIO and the mirror completes it on ada1.
    cluster = two_node_cluster(ggate_timeout=0)
    a = cluster["a"]
    cluster.crash("b")
    assert cluster.write("a", "web") is False
    block = cluster.pending_blocks()[-1]
    cluster.advance(60)
    assert block not in cluster.acknowledged

    Config = fake_config(tmp_path)
    lines = replica_drop.drop(Config, ["web"], a.runner(), LOG, 1.0)
    assert lines == ["ggatec destroy -f -u 0: exit 0"]
    assert block in cluster.acknowledged and block in a.disks["ada1"].blocks
    assert "ggate0" not in [c.prov for c in a.mirrors["data"].components]
    # and the state keeps saying so, for when this node no longer serves
    from carpha.store import state
    saved = state.load(str(tmp_path), "web")
    assert (saved.replica_in_sync, saved.out_of_sync_since_generation) == (False, 1)


def test_a_drop_that_cannot_run_says_so_and_does_not_raise(tmp_path):
    from carpha.host.runner import Runner

    Config = fake_config(tmp_path)
    runner = Runner(executor=lambda argv, timeout, env: (1, "", "error: Device not configured.\n"),
                    echo=lambda line: None)
    assert replica_drop.drop(Config, ["web"], runner, LOG, 1.0) == ["ggatec destroy -f -u 0: exit 1"]
