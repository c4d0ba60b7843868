"""The simulated commands as real executables on PATH, sharing one saved
cluster: the way end-to-end tests run carpha's hooks as processes."""

import os
import subprocess
import sys

import pytest

from carpha.host.runner import CommandTimedOut, Runner
from carpha.sim import Cluster, install_commands, two_node_cluster


@pytest.fixture
def world(tmp_path):
    bin_dir = str(tmp_path / "bin")
    state = str(tmp_path / "state")
    os.makedirs(state)
    install_commands(bin_dir)
    cluster = two_node_cluster()
    cluster.save(state)

    def run(host, *argv, timeout=30):
        env = {"PATH": bin_dir, "LANG": "C", "CARPHA_SIM_DIR": state, "CARPHA_SIM_HOST": host}
        return subprocess.run(list(argv), env=env, capture_output=True, text=True,
                              timeout=timeout, cwd="/")

    return bin_dir, state, cluster, run


def test_install_writes_one_executable_per_command_using_this_python(world):
    bin_dir = world[0]
    names = sorted(os.listdir(bin_dir))
    for name in ("ifconfig", "gmirror", "ggatec", "ggated", "jail", "jls", "service", "fsck",
                 "fsck_ufs", "mount", "umount", "sysctl", "kldload", "kldstat", "logger",
                 "kill", "pgrep", "pkill", "daemon"):
        assert name in names
        path = os.path.join(bin_dir, name)
        assert os.access(path, os.X_OK)
        with open(path) as handle:
            assert handle.readline() == f"#!{sys.executable}\n"


def test_an_executable_prints_what_the_model_prints_in_process(world):
    _, state, cluster, run = world
    proc = run("a", "gmirror", "status")
    expected = cluster["a"].execute(["gmirror", "status"], 5, {})
    assert (proc.returncode, proc.stdout, proc.stderr) == expected


def test_exit_status_and_stderr_come_through(world):
    run = world[3]
    proc = run("a", "ifconfig", "em0", "inet", "192.0.2.99", "-alias")
    assert proc.returncode == 1
    assert proc.stderr == "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"


def test_state_persists_across_invocations(world):
    _, state, _, run = world
    assert run("b", "kldstat", "-q", "-m", "g_mirror").returncode == 1
    assert run("b", "kldload", "geom_mirror").returncode == 0
    assert run("b", "kldstat", "-q", "-m", "g_mirror").returncode == 0
    assert run("b", "logger", "-t", "carpha", "hello").returncode == 0
    reloaded = Cluster.load(state)
    assert "geom_mirror" in reloaded["b"].modules
    assert reloaded["b"].syslog[-1][1:3] == ["carpha", "hello"]


def test_concurrent_invocations_serialise_on_the_lock(world):
    bin_dir, state, _, _ = world
    env = {"PATH": bin_dir, "CARPHA_SIM_DIR": state, "CARPHA_SIM_HOST": "a"}
    procs = [subprocess.Popen(["logger", "-t", "t", f"m{i}"], env=env) for i in range(6)]
    assert [p.wait(timeout=30) for p in procs] == [0] * 6
    messages = {m for _, tag, m, _ in Cluster.load(state)["a"].syslog if tag == "t"}
    assert messages == {f"m{i}" for i in range(6)}


def test_a_test_can_advance_the_saved_cluster_between_commands(world):
    _, state, _, run = world
    cluster = Cluster.load(state)
    cluster.crash("a")
    cluster.advance(5)
    cluster.save(state)
    assert "carp: MASTER vhid 1" in run("b", "ifconfig", "em0").stdout


def test_the_real_runner_drives_the_executables_and_a_hang_times_out(world, tmp_path):
    bin_dir, state, _, _ = world
    cluster = two_node_cluster(ggate_timeout=0)
    cluster.crash("b")
    cluster.save(state)
    runner = Runner(path=bin_dir, echo=lambda line: None,
                    extra_env={"CARPHA_SIM_DIR": state, "CARPHA_SIM_HOST": "a"})
    assert runner.query(["jls", "-j", "web", "jid"], timeout=10).stdout == "1\n"
    before = cluster.clock.t
    with pytest.raises(CommandTimedOut):
        runner.change(["service", "jail", "stop", "web"], timeout=3)
    # The hung process saved its state (exec.stop ran for 1 s, then its
    # write blocked) and released the lock before hanging.
    assert Cluster.load(state).clock.t == pytest.approx(before + 1)
    assert runner.query(["jls", "-j", "web", "jid"], timeout=10).stdout == "1\n"


def test_without_the_environment_an_executable_refuses_to_run(world):
    bin_dir = world[0]
    proc = subprocess.run([os.path.join(bin_dir, "ifconfig")], env={}, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 64 and "CARPHA_SIM_DIR" in proc.stderr
