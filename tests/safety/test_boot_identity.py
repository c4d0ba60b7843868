"""Boot identity (carpha.safety.boot): one answer per boot whatever the clock
does, so carpha's share of net.inet.carp.demotion stays exact across a
clock step (reference 10: kern.boottime moves with tc_setclock())."""

import logging
import os
import shutil

import pytest

from carpha.safety import boot, maintenance
from carpha.engine import holds, worker
from carpha.host.runner import Runner
from simworld import EXAMPLE_WITH_WITNESS, World, peer_records_our_half

LOG = logging.getLogger("carpha.tests")


@pytest.fixture
def lease_world(tmp_path):
    w = World(tmp_path, EXAMPLE_WITH_WITNESS)      # a lease: a hold stands until a fresh view ends it
    yield w
    w.close()


def test_kern_boot_id_is_the_boot_identity_and_changes_only_with_a_reboot(lease_world):
    w = lease_world
    host, config = w.cluster["serverA"], w.configs["serverA"]
    runner = w.ctx().runner
    first = boot.boot_id(runner, config)
    assert first.startswith("kern.boot_id Format: Length:16 Dump:0x")
    host.step_clock(-7200)
    assert boot.boot_id(runner, config) == first
    assert not os.path.exists(os.path.join(config.paths.run_dir, boot.MARKER))    # no marker needed
    w.cluster.crash("serverA")
    w.cluster.boot("serverA")
    assert boot.boot_id(w.ctx().runner, config) != first


def test_without_kern_boot_id_the_first_caller_of_a_boot_writes_a_private_marker(lease_world):
    w = lease_world
    host, config = w.cluster["serverA"], w.configs["serverA"]
    host.without_boot_id()
    runner = w.ctx().runner
    first = boot.boot_id(runner, config)
    path = os.path.join(config.paths.run_dir, boot.MARKER)
    assert first == "marker " + open(path).read().strip()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert boot.boot_id(runner, config) == first
    shutil.rmtree(config.paths.run_dir)          # reboot: rc.d/cleanvar empties /var/run
    assert boot.boot_id(runner, config) != first


def test_a_symlinked_marker_is_refused_not_followed(lease_world, tmp_path):
    w = lease_world
    config = w.configs["serverA"]
    w.cluster["serverA"].without_boot_id()
    os.makedirs(config.paths.run_dir, mode=0o700, exist_ok=True)
    target = tmp_path / "elsewhere"
    target.write_text("0123456789abcdef0123456789abcdef\n")
    os.symlink(target, os.path.join(config.paths.run_dir, boot.MARKER))
    with pytest.raises(boot.BootIdUnknown, match="refusing to follow a symlink"):
        boot.boot_id(w.ctx().runner, config)


def test_two_first_writers_of_a_boot_agree_on_one_token(tmp_path):
    from carpha.store import files
    path = str(tmp_path / boot.MARKER)
    assert files.create_once(path, "a" * 32 + "\n") == "a" * 32 + "\n"
    assert files.create_once(path, "b" * 32 + "\n") == "a" * 32 + "\n"    # link(2) never replaces
    assert sorted(os.listdir(tmp_path)) == [boot.MARKER]                  # no temp file left


@pytest.mark.parametrize("rc,out,err,token", [
    (0, "Format: Length:16 Dump:0x00ff\n", "", "Format: Length:16 Dump:0x00ff"),
    (1, "", "sysctl: unknown oid 'kern.boot_id'\n", None),
])
def test_kernel_token_reads_sysctl_output_as_an_opaque_token(rc, out, err, token):
    assert boot.kernel_token(rc, out, err) == token


@pytest.mark.parametrize("rc,out,err,message", [
    (0, "", "", "printed nothing"),                         # ENXIO: not seeded yet
    (1, "", "sysctl: sysctl fmt -1 1024 22\n", "exit 1: sysctl: sysctl fmt -1 1024 22"),
])
def test_a_probe_that_cannot_tell_raises_boot_id_unknown(rc, out, err, message):
    with pytest.raises(boot.BootIdUnknown, match=message):
        boot.kernel_token(rc, out, err)


def test_a_failed_probe_leaves_the_demotion_alone_and_never_raises_out_of_the_worker(lease_world):
    w = lease_world
    host, config = w.cluster["serverA"], w.configs["serverA"]
    holds.boot_hold(config, w.ctx().runner, LOG)
    broken = Runner(executor=lambda argv, timeout, env: (0, "", "") if "kern.boot_id" in argv
                    else host.execute(argv, timeout, env), echo=lambda line: None)
    peer_records_our_half(config.paths.run_dir, in_sync=True)
    worker.reconcile(config, "serverA", lambda: broken, LOG)
    assert host.sysctl["net.inet.carp.demotion"] == 240                  # unknown boot: left as it is
    assert maintenance.read(config.paths.state_dir).hold is None          # the hold logic still ran
    holds.sync_demotion(config, w.ctx().runner, LOG)                    # known again: released
    assert host.sysctl["net.inet.carp.demotion"] == 0


def test_boot_hold_that_cannot_tell_the_boot_holds_and_says_so(lease_world):
    w = lease_world
    host, config = w.cluster["serverA"], w.configs["serverA"]
    broken = Runner(executor=lambda argv, timeout, env: (0, "", "") if "kern.boot_id" in argv
                    else host.execute(argv, timeout, env), echo=lambda line: None)
    with pytest.raises(boot.BootIdUnknown, match="boot-hold: cannot tell this boot apart"):
        holds.boot_hold(config, broken, LOG)
    assert host.sysctl["net.inet.carp.demotion"] == 0                    # not added blind
    assert maintenance.read(config.paths.state_dir).hold.startswith("booted")
    peer_records_our_half(config.paths.run_dir, in_sync=False)
    holds.sync_demotion(config, w.ctx().runner, LOG)                    # the worker raises it
    assert host.sysctl["net.inet.carp.demotion"] == 240
