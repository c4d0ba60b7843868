"""Self-fencing (carpha.engine.fence): forced steps in the order that stops
acknowledgements first, each capped, all run whatever the others do, the
whole within the bound config check proved; demotion once per boot."""

import logging
import os

import pytest

from carpha import clock
from carpha.engine import fence
from carpha.store import journal, state
from carpha.safety import maintenance
from carpha.config import fencing_steps, loads
from carpha.host.runner import CommandTimedOut, Runner
from carpha.sim.clock import SimClock
from conftest import ROOT

TEXT = open(os.path.join(ROOT, "examples", "three-servers.yaml")).read()
LOG = logging.getLogger("carpha.tests")

MOUNT_P = ("/dev/ada0p2\t/\tufs\trw\t1\t1\n"
           "devfs\t/dev\tdevfs\trw\t0\t0\n"
           "/dev/mirror/data\t/data\tufs\trw,noatime\t2\t2\n"
           "devfs\t/data/jails/www/dev\tdevfs\trw\t0\t0\n"
           "devfs\t/data/jails/db/dev\tdevfs\trw\t0\t0\n")


@pytest.fixture
def sim_clock():
    sim = SimClock()
    previous = clock.use(sim)
    yield sim
    clock.use(previous)


def config_in(tmp_path):
    import dataclasses
    config = loads(TEXT, "carpha.yaml", node="serverA")
    paths = dataclasses.replace(config.paths, state_dir=str(tmp_path / "db"), run_dir=str(tmp_path / "run"))
    return dataclasses.replace(config, paths=paths)


def runner_where(sim_clock, hangs=(), fails=()):
    """Commands whose argv starts with an entry of `hangs` block past any
    timeout (in disk wait); those in `fails` exit 1. Each hang costs its cap."""
    def execute(argv, timeout, env):
        if any(argv[:len(h)] == h for h in hangs):
            sim_clock.advance(timeout)
            raise CommandTimedOut(argv, timeout)
        if argv == ("mount", "-p"):
            return 0, MOUNT_P, ""
        return (1, "", "failed\n") if any(argv[:len(f)] == f for f in fails) else (0, "", "")
    return Runner(executor=execute, echo=lambda line: None)


def fence_now(config, runner, boot="1700000000"):
    return fence.fence(config, "serverA", ["web"], runner, LOG, reason="test", boot=boot)


def test_the_fence_drops_addresses_first_then_kills_jails_then_unblocks_io_then_unmounts_deepest_first(
        tmp_path, sim_clock):
    runner = runner_where(sim_clock)
    fence_now(config_in(tmp_path), runner)
    assert [c.argv for c in runner.calls] == [
        ("ifconfig", "em0", "inet", "192.0.2.10", "-alias"),
        ("ifconfig", "em0", "inet6", "2001:db8::10", "-alias"),
        # SIGKILL first: jail -R would SIGTERM and wait up to 10 s (term_procs)
        ("pkill", "-KILL", "-j", "db"),
        ("pkill", "-KILL", "-j", "www"),
        ("ggatec", "destroy", "-f", "-u", "0"),
        ("jail", "-R", "db"),
        ("jail", "-R", "www"),
        ("mount", "-p"),
        # jail -R leaves each jail's devfs mounted under /data: those first
        ("umount", "-f", "/data/jails/db/dev"),
        ("umount", "-f", "/data/jails/www/dev"),
        ("umount", "-f", "/data"),
        ("gmirror", "stop", "-f", "data"),
        ("sysctl", "net.inet.carp.demotion=240"),
    ]
    assert len(runner.calls) == fencing_steps(config_in(tmp_path).groups, "serverA")


def test_every_step_runs_and_the_whole_fence_stays_within_its_bound_when_every_command_hangs(
        tmp_path, sim_clock):
    config = config_in(tmp_path)
    hang_all = [("ifconfig",), ("pkill",), ("jail",), ("ggatec",), ("mount",), ("umount",), ("gmirror",),
                ("sysctl",)]
    runner = runner_where(sim_clock, hangs=hang_all)
    report = fence_now(config, runner)
    assert len(runner.calls) == 11        # mount -p hung: only the configured mount point is unmounted
    assert all(c.returncode is None for c in runner.calls)
    assert report.seconds == pytest.approx(11 * config.witness.fence_step_seconds)
    assert report.seconds <= fence.config_budget(config, "serverA") and not report.over_budget


def test_the_fence_records_serving_no_more_and_journals_what_ran(tmp_path, sim_clock):
    config = config_in(tmp_path)
    state.save(config.paths.state_dir, state.GroupState("web", role="MASTER", generation=3))
    fence_now(config, runner_where(sim_clock, fails=[("jail", "-R", "db")]))
    saved = state.load(config.paths.state_dir, "web")
    assert (saved.role, saved.generation) == ("BACKUP", 3)
    record = [r for r in journal.read(config.paths.state_dir, "1@em0") if r["kind"] == "fence"][-1]
    assert record["reason"] == "test" and "jail -R db: exit 1: failed" in record["ran"]


def test_the_demotion_is_raised_once_per_boot_and_held(tmp_path, sim_clock):
    config = config_in(tmp_path)
    first = runner_where(sim_clock)
    fence_now(config, first)
    again = runner_where(sim_clock)
    fence_now(config, again)
    assert ("sysctl", "net.inet.carp.demotion=240") in [c.argv for c in first.calls]
    assert not any(c.argv[0] == "sysctl" for c in again.calls), "already raised in this boot"
    record = maintenance.read(config.paths.state_dir)
    assert (record.demotion, record.boot, record.hold) == (240, "1700000000", "fenced: test")
    after_reboot = runner_where(sim_clock)
    fence_now(config, after_reboot, boot="1700000500")
    assert ("sysctl", "net.inet.carp.demotion=240") in [c.argv for c in after_reboot.calls]


def test_a_failed_demotion_is_not_recorded_as_applied(tmp_path, sim_clock):
    config = config_in(tmp_path)
    fence_now(config, runner_where(sim_clock, fails=[("sysctl",)]))
    record = maintenance.read(config.paths.state_dir)
    assert (record.demotion, record.hold) == (0, "fenced: test")
    # the worker's next pass raises it: a hold wants the demotion
    step = maintenance.plan_demotion(config.paths.state_dir, "1700000000", 0.0)
    assert step.argv == ("sysctl", "net.inet.carp.demotion=240")


def test_unmount_order_takes_every_mount_under_the_group_deepest_first_and_nothing_else():
    class FS:
        def __init__(self, mountpoint):
            self.mountpoint = mountpoint
    mounts = [{"mountpoint": p} for p in ("/", "/data", "/data2", "/data/jails/www/dev", "/data/x")]
    assert fence.unmount_order([FS("/data")], mounts) == ["/data/jails/www/dev", "/data/x", "/data"]
    assert fence.unmount_order([FS("/data")], None) == ["/data"]


def test_groups_condemned_together_are_fenced_in_one_run_within_the_node_budget(tmp_path, sim_clock):
    import dataclasses
    import importlib.util
    spec = importlib.util.spec_from_file_location("config_cases", os.path.join(ROOT, "tests", "config",
                                                                             "test_config.py"))
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    config = loads(cases.BASE, "carpha.yaml", node="serverA")           # groups web and mail
    config = dataclasses.replace(config, paths=dataclasses.replace(
        config.paths, state_dir=str(tmp_path / "db"), run_dir=str(tmp_path / "run")))
    runner = runner_where(sim_clock)
    fence.fence(config, "serverA", ["web", "mail"], runner, LOG, reason="test", boot="1")
    argvs = [c.argv for c in runner.calls]
    assert argvs.count(("mount", "-p")) == 1
    assert [a for a in argvs if a[0] == "sysctl"] == [("sysctl", "net.inet.carp.demotion=240")]
    assert {a[-1] for a in argvs if a[:2] == ("gmirror", "stop")} == {"data", "mail"}
    assert len(argvs) <= fencing_steps(config.groups, "serverA")


def test_the_fence_measures_its_own_duration_on_the_monotonic_clock(tmp_path):
    """freezegun: each hung step costs exactly its cap on the frozen clock,
    and the fence reports what it took against the bound config check used."""
    from freezegun import freeze_time
    with freeze_time("2026-11-25 03:00:00") as frozen:
        config = config_in(tmp_path)

        def hang(argv, timeout, env):
            frozen.tick(timeout)
            raise CommandTimedOut(argv, timeout)
        report = fence_now(config, Runner(executor=hang, echo=lambda line: None))
        assert report.seconds == pytest.approx(11.0)
        assert fence.config_budget(config, "serverA") == 13 and not report.over_budget


def test_more_mounts_than_the_bound_counts_make_a_fence_over_budget_and_it_says_so(tmp_path, sim_clock, caplog):
    config = config_in(tmp_path)
    many = MOUNT_P + "".join(f"/dev/md{i}\t/data/extra{i}\tufs\trw\t0\t0\n" for i in range(5))

    def execute(argv, timeout, env):
        if argv == ("mount", "-p"):
            return 0, many, ""
        sim_clock.advance(timeout)            # every step hangs to its cap
        raise CommandTimedOut(argv, timeout)
    report = fence_now(config, Runner(executor=execute, echo=lambda line: None))
    assert report.over_budget and report.seconds == pytest.approx(17.0)
    assert "fence took 17.0 s, over its bound of 13 s" in caplog.text
