"""The simulated host behind carpha.host.runner.Runner, and the simulated clock
behind carpha.clock."""

import pytest

from carpha import clock
from carpha.host.runner import CommandFailed, CommandMissing
from carpha.sim import Cluster, SimClock, two_node_cluster


def test_runner_query_returns_the_simulated_output():
    cluster = two_node_cluster()
    result = cluster["a"].runner().query(["jls", "-j", "web", "jid"], timeout=5)
    assert (result.returncode, result.stdout) == (0, "1\n")


def test_runner_change_applies_and_failures_are_typed():
    cluster = two_node_cluster()
    runner = cluster["a"].runner()
    runner.change(["ifconfig", "em0", "inet", "192.0.2.20/32", "alias"], timeout=5)
    assert "192.0.2.20" in runner.query(["ifconfig", "em0"], timeout=5).stdout
    with pytest.raises(CommandFailed) as failed:
        runner.change(["ifconfig", "em0", "inet", "192.0.2.21", "-alias"], timeout=5)
    assert failed.value.returncode == 1
    assert "Can't assign requested address" in failed.value.stderr


def test_a_dry_run_runner_queries_but_does_not_change():
    cluster = two_node_cluster()
    runner = cluster["a"].runner(dry_run=True)
    runner.change(["ifconfig", "em0", "inet", "192.0.2.20/32", "alias"], timeout=5)
    assert "192.0.2.20" not in runner.query(["ifconfig", "em0"], timeout=5).stdout
    assert runner.changes() == [("ifconfig", "em0", "inet", "192.0.2.20/32", "alias")]


def test_an_unknown_program_is_missing():
    cluster = two_node_cluster()
    with pytest.raises(CommandMissing):
        cluster["a"].runner().query(["hastctl", "status"], timeout=5)


def test_absolute_program_paths_dispatch_on_the_basename():
    cluster = two_node_cluster()
    result = cluster["a"].runner().query(["/sbin/gmirror", "status", "-s"], timeout=5)
    assert result.stdout.startswith("mirror/data  COMPLETE  ")


def test_carpha_clock_sleep_runs_the_simulated_cluster():
    sim = SimClock()
    cluster = Cluster(sim)
    a = cluster.add_host("a")
    a.add_carp("em0", 1)
    previous = clock.use(sim)
    try:
        start = clock.monotonic()
        clock.sleep(3.5)
        assert clock.monotonic() - start == pytest.approx(3.5)
        assert clock.now() == pytest.approx(sim.epoch + 3.5)
    finally:
        clock.use(previous)
    assert a.carp_state(1) == "MASTER"


def test_a_saved_cluster_loads_back_identical(tmp_path):
    cluster = two_node_cluster()
    cluster.write("a", "web")
    cluster.save(str(tmp_path))
    again = Cluster.load(str(tmp_path))
    for name in ("a", "b"):
        for argv in (["ifconfig"], ["mount"], ["jls"], ["ggatec", "list", "-v"]):
            assert again[name].execute(argv, 5, {}) == cluster[name].execute(argv, 5, {})
    assert again["a"].execute(["gmirror", "list"], 5, {}) == cluster["a"].execute(
        ["gmirror", "list"], 5, {})
    assert again.clock.now() == cluster.clock.now()
    again.crash("a")
    again.advance(5)
    assert again["b"].carp_state(1) == "MASTER"
