"""carpha's own CARP commands on FreeBSD 14.x with unicast CARP: every
`ifconfig IF vhid N ...` without `peer` puts the vhid back on multicast
(reference 2.2), so release, takeover and the advskew restore must pass the
observed peer again. Asserted on the simulated hosts' vhids, not on what
carpha believes."""

import pytest

from carpha import clock
from carpha.engine import transitions, worker
from carpha.engine.handover import hand_over, switch_over


@pytest.fixture
def unicast(world):
    """serverA and serverB on 14.x, each advertising to the other."""
    for node, other in (("serverA", "192.0.2.2"), ("serverB", "192.0.2.1")):
        host = world.cluster[node]
        host.release = 14
        host.set_carp_peer("em0", 1, peer=other)
    return world


def vhid(world, node):
    return world.cluster[node].interfaces["em0"].vhids[1]


def test_release_on_14x_keeps_the_unicast_peer(unicast):
    hand_over(unicast.ctx(), transitions.BACKUP)
    a = vhid(unicast, "serverA")
    assert (a.state, a.advskew, a.peer, a.peer6) == ("BACKUP", 240, "192.0.2.2", "ff02::12")
    unicast.cluster.advance(10)
    # still unicast, serverB's adverts keep serverA BACKUP
    assert (a.state, vhid(unicast, "serverB").state) == ("BACKUP", "MASTER")


def test_takeover_on_14x_restores_the_advskew_and_keeps_the_unicast_peer(unicast):
    hand_over(unicast.ctx(), transitions.BACKUP)
    unicast.cluster.advance(10)
    hand_over(unicast.ctx(), transitions.MASTER)
    a = vhid(unicast, "serverA")
    assert (a.state, a.advskew, a.peer) == ("MASTER", 100, "192.0.2.2")
    unicast.cluster.advance(10)
    assert (a.state, vhid(unicast, "serverB").state) == ("MASTER", "BACKUP")


def test_the_workers_advskew_restore_on_14x_keeps_the_unicast_peer(unicast):
    hand_over(unicast.ctx(), transitions.BACKUP)
    unicast.cluster.advance(10)
    unicast.cluster.crash("serverB")
    unicast.cluster.advance(10)                     # serverA takes over by itself
    assert vhid(unicast, "serverA").state == "MASTER"
    worker.reconcile_group(unicast.ctx())           # serving again: advskew back to 100
    a = vhid(unicast, "serverA")
    assert (a.advskew, a.peer) == (100, "192.0.2.2")


def test_switchover_on_14x_leaves_the_peer_serving_with_both_peers_unicast(unicast):
    transitions.run(unicast.ctx(), transitions.MASTER)
    unicast.cluster.advance(60)                     # resync completes

    def pause(seconds):                             # serverB's worker, as its devd hook would run it
        worker.reconcile_group(unicast.ctx("serverB"))
        clock.sleep(seconds)

    assert switch_over(unicast.ctx(), echo=lambda _: None, pause=pause)
    assert [vhid(unicast, n).peer for n in ("serverA", "serverB")] == ["192.0.2.2", "192.0.2.1"]
    assert vhid(unicast, "serverB").state == "MASTER"


def test_release_on_13x_passes_no_peer_keyword(world):
    ctx = world.ctx()
    hand_over(ctx, transitions.BACKUP)
    carp = [argv for argv in ctx.runner.changes() if "vhid" in argv]
    assert carp == [("ifconfig", "em0", "vhid", "1", "advskew", "240"),
                    ("ifconfig", "em0", "vhid", "1", "state", "backup")]
