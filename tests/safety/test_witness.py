"""carpha.safety.witness: the lease on the witness share, peer silence on our own
monotonic clock, and the promote/fence decisions."""

import errno
import ipaddress
import json
import logging
import os
import threading
from types import SimpleNamespace

import pytest
from freezegun import freeze_time

from carpha import clock
from carpha.engine import lease
from carpha.safety import witness_files, witness_view
from carpha.config import Node, Paths, Timeouts, Witness
from carpha.engine.heartbeat import main_loop, replica_probe_for
from carpha.host.runner import CommandTimedOut, Runner
from carpha.sim.clock import SimClock
from carpha.engine.lease import Heartbeat, is_reachable, ping_argv
from carpha.safety.witness import (
    FenceInputs, PromoteInputs, fence_inputs, may_promote, may_promote_ping, must_fence, promote_inputs,
)
from carpha.safety.witness_config import witness_timing_problems, witness_warnings
from carpha.safety.witness_record import GroupStatus, Record

START = "2026-03-01 12:00:00"
LEASE = Witness("lease", "serverC", "/mnt/carpha-witness", takeover_after_seconds=15)   # 2 s, fence 8


@pytest.fixture
def share(tmp_path):
    path = tmp_path / "witness"
    path.mkdir()
    return str(path)


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "state")


def heartbeat(share, state_dir, node="serverB", peer="serverA", **options):
    options.setdefault("require_mount", False)      # tmp dirs are not NFS mounts
    return Heartbeat(share, node, peer, state_dir, **options)


def peer_writes(share, counter, written_at=1772366400.0, node="serverA"):
    witness_files.write_record(share, Record(node, counter, {"web": GroupStatus(True, 3, True)}, written_at))


def record_on_share(share, node):
    with open(os.path.join(share, f"{node}.json")) as f:
        return json.load(f)


def fail_writes(monkeypatch, code=errno.EIO):
    def broken(directory, record):
        raise OSError(code, os.strerror(code), os.path.join(directory, f"{record.node}.json"))
    monkeypatch.setattr(lease, "write_record", broken)


# --- records and the counter --------------------------------------------------


def test_each_beat_writes_our_record_with_the_counter_one_higher(share, state_dir):
    status = {"web": GroupStatus(serving=False, generation=2, replica_in_sync=False,
                                 out_of_sync_since_generation=1)}
    hb = heartbeat(share, state_dir, groups=lambda: status)
    assert [hb.beat().counter for _ in range(3)] == [1, 2, 3]
    data = record_on_share(share, "serverB")
    assert data["schema"] == 1 and data["node"] == "serverB" and data["counter"] == 3
    assert data["groups"] == {"web": {"serving": False, "generation": 2, "replica_in_sync": False,
                                      "out_of_sync_since_generation": 1, "released": False,
                                      "refusing": False, "served_generation": None, "split_brain": None, "split_brain_resolved": None,
                                      "disk_cleared_for": None}}
    assert witness_files.read_record(share, "serverB").groups == status


def test_a_crash_between_write_and_rename_leaves_the_old_record(share, state_dir, monkeypatch):
    hb = heartbeat(share, state_dir)
    hb.beat()
    written = []

    def die_before_rename(src, dst):
        with open(src) as f:
            written.append(f.read())        # the new record was complete in the temp file
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "rename", die_before_rename)
    beat = hb.beat()
    monkeypatch.undo()
    assert json.loads(written[0])["counter"] == 2
    assert not beat.own_ok and beat.own_error == "[Errno 5] Input/output error"
    assert witness_files.read_record(share, "serverB").counter == 1
    # A real crash leaves its half-written temp file behind: readers never see it.
    with open(os.path.join(share, ".serverB.json.4242.tmp"), "w") as f:
        f.write('{"schema": 1, "node": "serv')
    assert witness_files.read_record(share, "serverB").counter == 1
    assert hb.beat().counter == 2


def test_the_counter_resumes_from_the_local_copy_when_the_share_lost_our_record(share, state_dir):
    hb = heartbeat(share, state_dir)
    for _ in range(3):
        hb.beat()
    os.unlink(os.path.join(share, "serverB.json"))
    restarted = heartbeat(share, state_dir)          # a new process: nothing in memory
    assert restarted.beat().counter == 4
    # The share restored from an old snapshot: still only grows.
    witness_files.write_record(share, Record("serverB", 1, {}, 0.0))
    assert heartbeat(share, state_dir).beat().counter == 5


def test_the_counter_resumes_from_the_share_when_the_local_copy_is_lost(share, state_dir, tmp_path):
    for _ in range(3):
        heartbeat(share, state_dir).beat()
    assert heartbeat(share, str(tmp_path / "fresh-state")).beat().counter == 4


def test_our_own_garbled_record_is_overwritten_and_noted(share, state_dir):
    heartbeat(share, state_dir).beat()
    with open(os.path.join(share, "serverB.json"), "w") as f:
        f.write("junk")
    beat = heartbeat(share, state_dir).beat()
    assert beat.own_ok and beat.counter == 2
    assert beat.notes[0].endswith("serverB.json: garbled record: not JSON (Expecting value: line 1 column 1 (char 0))")


def test_a_symlinked_record_is_refused_and_its_target_untouched(share, state_dir, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text("precious\n")
    os.symlink(target, os.path.join(share, "serverB.json"))
    beat = heartbeat(share, state_dir).beat()
    assert not beat.own_ok
    assert beat.own_error == f"{share}/serverB.json: refusing to follow a symlink"
    assert target.read_text() == "precious\n"
    with pytest.raises(witness_files.UnsafePath, match="refusing to replace a symlink"):
        witness_files.write_record(share, Record("serverB", 9, {}, 0.0))


def test_a_symlinked_peer_record_is_reported_and_not_followed(share, state_dir, tmp_path):
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    peer_writes(str(decoy), 99)
    os.symlink(decoy / "serverA.json", os.path.join(share, "serverA.json"))
    beat = heartbeat(share, state_dir).beat()
    assert beat.own_ok and beat.peer_counter is None
    assert beat.peer_error == f"{share}/serverA.json: refusing to follow a symlink"


@pytest.mark.parametrize("content, why", [
    (b"{garbage", "not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[]", "not a JSON object"),
    (b'{"schema": 2, "node": "serverA", "counter": 5, "groups": {}, "written_at": 0}', "schema 2 is not 1"),
    (b'{"schema": 1, "node": "serverB", "counter": 5, "groups": {}, "written_at": 0}',
     "node 'serverB' is not 'serverA'"),
    (b'{"schema": 1, "node": "serverA", "counter": "6", "groups": {}, "written_at": 0}',
     "counter '6' is not a non-negative integer"),
    (b'{"schema": 1, "node": "serverA", "counter": true, "groups": {}, "written_at": 0}',
     "counter True is not a non-negative integer"),
    (b'{"schema": 1, "node": "serverA", "counter": 6, "groups": {"web": {"serving": 1}}, "written_at": 0}',
     "groups.web.serving 1 is not a boolean"),
])
def test_a_garbled_peer_record_is_reported_and_counts_as_not_advanced(share, state_dir, content, why):
    with freeze_time(START) as frozen:
        hb = heartbeat(share, state_dir)
        peer_writes(share, 4)
        hb.beat()
        frozen.tick(6)
        with open(os.path.join(share, "serverA.json"), "wb") as f:
            f.write(content)
        beat = hb.beat()
    assert beat.own_ok
    assert beat.peer_error == f"{share}/serverA.json: garbled record: {why}"
    assert beat.peer_counter == 4 and beat.peer_silent_for == 6.0


def test_a_fifo_in_place_of_the_peer_record_does_not_hang_the_beat(share, state_dir):
    os.mkfifo(os.path.join(share, "serverA.json"))
    beat = heartbeat(share, state_dir).beat()
    assert beat.own_ok and beat.peer_error == f"{share}/serverA.json: not a regular file"


def test_a_stale_nfs_handle_is_looked_up_again(share, state_dir, monkeypatch):
    peer_writes(share, 7)
    real_open, failures = witness_files.open_nofollow, []

    def stale_once(path, flags, mode=0o600):
        if not failures:
            failures.append(path)       # the name still maps to the file rename replaced
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE))
        return real_open(path, flags, mode)

    monkeypatch.setattr(witness_files, "open_nofollow", stale_once)
    assert witness_files.read_record(share, "serverA").counter == 7 and failures


def test_a_witness_path_that_is_not_a_mount_is_refused(share, state_dir):
    beat = heartbeat(share, state_dir, require_mount=True).beat()
    assert not beat.own_ok and f"{share} is not a mounted share" in beat.own_error
    assert not os.path.exists(os.path.join(share, "serverB.json"))


# --- peer silence on our monotonic clock ----------------------------------------


def test_peer_silence_is_measured_on_our_monotonic_clock(share, state_dir):
    with freeze_time(START) as frozen:
        hb = heartbeat(share, state_dir)
        assert hb.beat().peer_silent_for is None          # never seen
        peer_writes(share, 1)
        assert hb.beat().peer_silent_for == 0.0           # first sighting counts as an advance
        frozen.tick(5)
        beat = hb.beat()
        assert (beat.peer_counter, beat.peer_silent_for) == (1, 5.0)
        peer_writes(share, 2)
        frozen.tick(1)
        assert hb.beat().peer_silent_for == 0.0
        frozen.tick(3.5)
        assert hb.beat().peer_silent_for == 3.5


@pytest.mark.parametrize("peer_wall_clock", [0.0, 1772366400.0 - 10 * 365 * 86400, 1772366400.0 + 50 * 365 * 86400])
def test_the_peers_wall_clock_changes_no_decision(share, state_dir, peer_wall_clock):
    with freeze_time(START) as frozen:
        hb = heartbeat(share, state_dir, probe_peer=lambda timeout: False)
        # A peer that keeps writing is alive, however old its clock says the record is.
        for counter in range(1, 11):
            peer_writes(share, counter, written_at=peer_wall_clock)
            hb.beat()
            frozen.tick(2)
        now = clock.monotonic()
        assert may_promote(promote_inputs(hb.view(now), now, LEASE)) == (
            False, "witness: serverA's record advanced 2.0 s ago (takeover after 15 s)")
        # A peer that stopped is silent, however new its clock says the record is.
        for _ in range(8):
            hb.beat()
            frozen.tick(2)
        now = clock.monotonic()
        assert may_promote(promote_inputs(hb.view(now), now, LEASE)) == (
            True, "witness: serverA's record has not advanced for 18.0 s and serverA does not answer ping"
                  " (takeover after 15 s)")


def test_a_peer_never_seen_is_silent_only_after_takeover_after_of_watching(share, state_dir, tmp_path):
    with freeze_time(START) as frozen:
        hb = heartbeat(share, state_dir, probe_peer=lambda timeout: False)
        hb.beat()
        frozen.tick(14)
        hb.beat()
        now = clock.monotonic()
        assert may_promote(promote_inputs(hb.view(now), now, LEASE)) == (
            False, "witness: no record from serverA yet in 14.0 s of watching (takeover after 15 s)")
        frozen.tick(1)
        hb.beat()
        now = clock.monotonic()
        witness_view.save_view(str(tmp_path / "run"), hb.view(now))
        view = witness_view.load_view(str(tmp_path / "run"))    # as the worker reads it
        assert may_promote(promote_inputs(view, now, LEASE)) == (
            True, "witness: no record from serverA in 15.0 s of watching and serverA does not answer ping"
                  " (takeover after 15 s)")


# --- the decisions --------------------------------------------------------------

EIO_PROBLEM = "cannot write our record in /mnt/carpha-witness: [Errno 5] Input/output error"


@pytest.mark.parametrize("inputs, expected", [
    (PromoteInputs(False, 60.0, 15, False, 60.0, EIO_PROBLEM, "serverA"),
     (False, "witness unreachable: cannot write our record in /mnt/carpha-witness: [Errno 5] Input/output error")),
    (PromoteInputs(True, 3.2, 15, False, 60.0, peer="serverA"),
     (False, "witness: serverA's record advanced 3.2 s ago (takeover after 15 s)")),
    (PromoteInputs(True, 14.9, 15, False, 60.0, peer="serverA"),
     (False, "witness: serverA's record advanced 14.9 s ago (takeover after 15 s)")),
    (PromoteInputs(True, 15.0, 15, False, 60.0, peer="serverA"),
     (True, "witness: serverA's record has not advanced for 15.0 s and serverA does not answer ping"
            " (takeover after 15 s)")),
    (PromoteInputs(True, 20.0, 15, True, 60.0, peer="serverA"),
     (False, "witness: serverA's record has not advanced for 20.0 s, but serverA answers ping:"
             " not taking over from a live peer")),
    (PromoteInputs(True, None, 15, False, 10.0, peer="serverA"),
     (False, "witness: no record from serverA yet in 10.0 s of watching (takeover after 15 s)")),
    (PromoteInputs(True, None, 15, False, 15.0, peer="serverA"),
     (True, "witness: no record from serverA in 15.0 s of watching and serverA does not answer ping"
            " (takeover after 15 s)")),
    (PromoteInputs(True, None, 15, True, 99.0, peer="serverA"),
     (False, "witness: no record from serverA in 99.0 s of watching, but serverA answers ping:"
             " not taking over from a live peer")),
])
def test_may_promote(inputs, expected):
    assert may_promote(inputs) == expected


@pytest.mark.parametrize("inputs, expected", [
    (FenceInputs(False, 100.0, 100.0, 8, "serverB"), (False, "not serving: nothing to fence")),
    (FenceInputs(True, 1.0, 100.0, 8, "serverB"),
     (False, "witness: our record renewed 1.0 s ago (fence after 8 s)")),
    (FenceInputs(True, 7.9, 7.9, 8, "serverB"),
     (False, "witness: our record renewed 7.9 s ago (fence after 8 s)")),
    (FenceInputs(True, 100.0, 1.0, 8, "serverB"),
     (False, "witness: our record not renewed for 100.0 s, but serverB answered ping 1.0 s ago:"
             " it will not take over (fence after 8 s)")),
    (FenceInputs(True, 8.0, 8.0, 8, "serverB"),
     (True, "fencing: our record not renewed for 8.0 s and serverB unreachable for 8.0 s (fence after 8 s)")),
])
def test_must_fence(inputs, expected):
    assert must_fence(inputs) == expected


def test_the_witness_down_does_not_fence_a_running_master_but_stops_promotion(share, state_dir, monkeypatch):
    fail_writes(monkeypatch)
    with freeze_time(START) as frozen:
        master = heartbeat(share, state_dir, node="serverA", peer="serverB", probe_peer=lambda timeout: True)
        standby = heartbeat(share, state_dir + "-b", node="serverB", peer="serverA",
                            probe_peer=lambda timeout: False)
        for _ in range(30):
            master.beat()
            standby.beat()
            frozen.tick(2)
        now = clock.monotonic()
        assert must_fence(fence_inputs(master.view(now), now, serving=True, fence_after=8)) == (
            False, "witness: our record not renewed for 60.0 s, but serverB answered ping 2.0 s ago:"
                   " it will not take over (fence after 8 s)")
        assert may_promote(promote_inputs(standby.view(now), now, LEASE)) == (
            False, f"witness unreachable: cannot write our record in {share}: [Errno 5] Input/output error")


def test_a_master_cut_off_from_witness_and_peer_fences_after_fence_after(share, state_dir, monkeypatch):
    with freeze_time(START) as frozen:
        master = heartbeat(share, state_dir, node="serverA", peer="serverB", probe_peer=lambda timeout: True)
        master.beat()                                   # renewed and reached at t=0
        fail_writes(monkeypatch)
        master.probe_peer = lambda timeout: False
        decisions = []
        for _ in range(5):
            frozen.tick(2)
            master.beat()
            now = clock.monotonic()
            decisions.append(must_fence(fence_inputs(master.view(now), now, True, 8))[0])
        assert decisions == [False, False, False, True, True]


def test_a_hung_share_times_out_and_the_master_still_fences(share, state_dir, monkeypatch):
    release = threading.Event()
    real_write = witness_files.write_record

    def hang(directory, record):
        release.wait(5)                 # a hard NFS mount whose server went away
        real_write(directory, record)

    with freeze_time(START) as frozen:
        master = heartbeat(share, state_dir, node="serverA", peer="serverB",
                           io_timeout=0.05, probe_peer=lambda timeout: False)
        assert master.beat().counter == 1
        monkeypatch.setattr(lease, "write_record", hang)
        beat = master.beat()
        assert (beat.own_ok, beat.own_error) == (False, "timed out after 0.05 s")
        frozen.tick(4)
        assert master.beat().own_error == "witness I/O blocked for 4.0 s"
        frozen.tick(4.5)
        now = clock.monotonic()
        assert must_fence(fence_inputs(master.view(now), now, True, 8)) == (
            True, "fencing: our record not renewed for 8.5 s and serverB unreachable for 8.5 s (fence after 8 s)")
        release.set()                   # the server is back: the stuck write lands late
        assert master._job.done.wait(5)
        monkeypatch.undo()
        assert master.beat().counter == 3


def test_promotion_needs_a_fresh_heartbeat_view(tmp_path):
    assert may_promote(promote_inputs(None, 100.0, LEASE, run_dir="/var/run/carpha")) == (
        False, "witness unreachable: no heartbeat: no /var/run/carpha/witness-view.json"
               " (is carpha heartbeat running?)")
    view = witness_view.View("serverB", "serverA", "/mnt/carpha-witness", 1, started=0.0, updated=10.0,
                        own_ok=True, own_error=None, own_written_at=10.0, peer_counter=3,
                        peer_changed_at=1.0, peer_error=None, peer_reachable=False, peer_reached_at=None)
    assert may_promote(promote_inputs(view, 20.0, LEASE)) == (
        False, "witness unreachable: no heartbeat: its last view is 10.0 s old (limit 6 s)")
    assert may_promote(promote_inputs(view, 5.0, LEASE)) == (
        False, "witness unreachable: no heartbeat: its last view is from before this boot")
    assert may_promote(promote_inputs(view, 16.0, LEASE))[0] is True
    assert may_promote(promote_inputs(view, 16.0, LEASE, peer_reachable=True))[0] is False


def test_kind_ping_only_refuses_to_promote_while_isolated():
    assert may_promote_ping(True, "serverC") == (True, "witness serverC answers ping")
    assert may_promote_ping(False, "serverC") == (
        False, "witness unreachable: serverC does not answer ping: not promoting while isolated")


# --- ping -------------------------------------------------------------------------


def test_ping_argv_uses_freebsd_timeout_in_whole_seconds():
    assert ping_argv("192.0.2.3", 2) == ("ping", "-n", "-c", "1", "-t", "2", "192.0.2.3")
    assert ping_argv(ipaddress.ip_address("2001:db8::3"), 0.5)[-3:] == ("-t", "1", "2001:db8::3")
    assert ping_argv("192.0.2.3", 2.2)[-2] == "3"


def test_is_reachable_maps_ping_exit_status():
    seen = []

    def executor(rc):
        def run(argv, timeout, env):
            seen.append((tuple(argv), timeout))
            if rc is None:
                raise CommandTimedOut(argv, timeout)
            return rc, "", ""
        return run

    assert is_reachable(Runner(executor=executor(0)), "192.0.2.2", 1) is True
    assert is_reachable(Runner(executor=executor(2)), "192.0.2.2", 1) is False    # no reply
    assert is_reachable(Runner(executor=executor(None)), "192.0.2.2", 1) is False
    assert seen[0] == (("ping", "-n", "-c", "1", "-t", "1", "192.0.2.2"), 1)


# --- configuration checks ---------------------------------------------------------


EXAMPLE_TEXT = open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "three-servers.yaml")).read()


def example_with(**witness):
    """The example config (serverA: 2 jails, 2 addresses, 1 filesystem, a
    mirrored group) with witness keys added."""
    lines = "".join(f"  {k}: {v}\n" for k, v in witness.items())
    text = EXAMPLE_TEXT.replace("  path: /mnt/carpha-witness ", lines + "  path: /mnt/carpha-witness ")
    from carpha.config import loads
    return loads(text, "carpha.yaml", node="serverA")


def test_timing_problem_names_every_term_of_the_sum():
    import dataclasses
    # 2 addresses + 3 x 2 jails (pkill -KILL -j, jail -R, its devfs) + 1 filesystem + ggatec destroy
    # + gmirror stop + mount -p + demotion = 13 steps
    config = example_with()
    tight = dataclasses.replace(config, witness=dataclasses.replace(config.witness, takeover_after_seconds=21))
    assert witness_timing_problems(tight) == [
        "witness.fence_after_seconds: 8 + interval 2 + worst-case fencing 13 (13 steps x fence_step_seconds 1)"
        " = 23 s is not below takeover_after_seconds 21"]


def test_config_check_refuses_a_takeover_that_could_come_before_the_fence():
    from carpha.config import ConfigError
    with pytest.raises(ConfigError) as info:
        example_with(takeover_after_seconds=21)
    assert info.value.problems == [
        "carpha.yaml:17: witness.fence_after_seconds: 8 + interval 2 + worst-case fencing 13"
        " (13 steps x fence_step_seconds 1) = 23 s is not below takeover_after_seconds 21; to fix: raise"
        " witness.takeover_after_seconds from 21 to more than 23 (by more than 2), set"
        " witness.fence_step_seconds (not in the file: default 1) to below 0.846 (13 steps), set"
        " witness.fence_after_seconds (not in the file: default 8) to below 6, or give this node fewer"
        " addresses, jails (3 steps each), services or filesystems"]
    assert example_with(takeover_after_seconds=23.5).witness.takeover_after_seconds == 23.5
    from carpha.config import fencing_time
    relaxed = example_with(fence_step_seconds=1.5, takeover_after_seconds=60)
    assert fencing_time(relaxed.witness, relaxed.groups, "serverA") == 19.5


def test_an_interval_as_long_as_fence_after_is_a_problem():
    config = example_with(interval_seconds=8, fence_after_seconds=8.5, takeover_after_seconds=1000)
    import dataclasses
    slow = dataclasses.replace(config, witness=dataclasses.replace(config.witness, fence_after_seconds=8))
    assert witness_timing_problems(slow) == [
        "witness.interval_seconds: 8 is not below fence_after_seconds 8"
        " (a master would go stale between two renewals)"]


def test_kinds_without_a_lease_have_no_timing_problems_and_none_warns():
    import dataclasses
    config = example_with()
    for witness in (Witness("ping", "serverC"), Witness("none")):
        assert witness_timing_problems(dataclasses.replace(config, witness=witness)) == []
    assert witness_warnings(dataclasses.replace(config, witness=Witness("none"))) == [
        "witness.kind: none: two masters are possible when the nodes cannot hear each other"]
    assert witness_warnings(config) == []


# --- the loop ---------------------------------------------------------------------


@pytest.fixture
def sim_clock():
    previous = clock.use(SimClock())
    yield
    clock.use(previous)


def test_run_beats_every_interval_until_stop_after(share, state_dir, sim_clock):
    hb = heartbeat(share, state_dir)
    started = clock.monotonic()
    assert hb.run(2, stop_after=10) == 5
    assert clock.monotonic() - started == 10
    assert witness_files.read_record(share, "serverB").counter == 5


def loop_config(tmp_path, share):
    address = ipaddress.ip_address
    return SimpleNamespace(
        node="serverA",
        nodes={"serverA": Node("serverA", address("192.0.2.1")), "serverB": Node("serverB", address("192.0.2.2")),
               "serverC": Node("serverC", address("192.0.2.3"))},
        witness=Witness("lease", "serverC", share, takeover_after_seconds=700),
        timeouts=Timeouts(),
        paths=Paths(state_dir=str(tmp_path / "state"), run_dir=str(tmp_path / "run")),
        groups={"web": SimpleNamespace(name="web", nodes=("serverA", "serverB"),
                                       storage=SimpleNamespace(kind="none"))})


def test_main_loop_fences_a_serving_group_when_witness_and_peer_are_gone(tmp_path, share, sim_clock, monkeypatch):
    config = loop_config(tmp_path, share)
    runner = Runner(executor=lambda argv, timeout, env: (2, "", ""))    # no ping reply
    fenced = []
    fail_writes(monkeypatch)
    code = main_loop(config, "serverA", beats=6, runner=runner, require_mount=False,
                     on_fence=lambda groups, reason: fenced.append((groups, reason)),
                     statuses=lambda: {"web": GroupStatus(True, 3, True)},
                     log=logging.getLogger("test"))
    assert code == 0
    assert runner.calls[0].argv == ("sysctl", "-n", "-x", "kern.boot_id")     # this boot, once, at start
    assert runner.calls[1].argv == ("ping", "-n", "-c", "1", "-t", "1", "192.0.2.2")
    assert fenced == [
        (["web"], "fencing: our record not renewed for 8.0 s and serverB unreachable for 8.0 s (fence after 8 s)"),
        (["web"], "fencing: our record not renewed for 10.0 s and serverB unreachable for 10.0 s (fence after 8 s)")]
    view = witness_view.load_view(config.paths.run_dir)
    assert not view.own_ok and view.own_error == "[Errno 5] Input/output error"


def test_main_loop_renews_and_publishes_the_view(tmp_path, share, sim_clock):
    config = loop_config(tmp_path, share)
    runner = Runner(executor=lambda argv, timeout, env: (0, "", ""))
    fenced = []
    main_loop(config, "serverA", beats=3, runner=runner, require_mount=False,
              on_fence=lambda groups, reason: fenced.append(groups), log=logging.getLogger("test"))
    assert fenced == []
    assert record_on_share(share, "serverA")["counter"] == 3
    # No state file yet: the group is not served, and the record says so.
    assert record_on_share(share, "serverA")["groups"]["web"]["serving"] is False
    view = witness_view.load_view(config.paths.run_dir)
    assert view.own_ok and view.peer == "serverB" and view.peer_reachable is True


def test_main_loop_does_nothing_without_a_lease(tmp_path, share):
    config = loop_config(tmp_path, share)
    config.witness = Witness("ping", "serverC")
    assert main_loop(config, "serverA", beats=1, log=logging.getLogger("test")) == 0
    assert os.listdir(share) == []


def test_a_served_replica_is_published_as_the_mirror_shows_it_now_both_ways(tmp_path):
    from carpha.store import state
    state_dir = str(tmp_path)
    state.save(state_dir, state.GroupState("web", role="MASTER", generation=4, replica_in_sync=True))
    seen = {"web": False}
    published = witness_view.group_statuses(state_dir, ["web"], lambda groups: {group: seen[group] for group in groups})["web"]
    assert (published.replica_in_sync, published.out_of_sync_since_generation) == (False, 4)
    seen["web"] = None                       # cannot tell: the state's word stands
    assert witness_view.group_statuses(state_dir, ["web"], lambda groups: {group: seen[group] for group in groups})["web"].replica_in_sync
    state.save(state_dir, state.GroupState("web", role="MASTER", generation=4, replica_in_sync=False,
                                           out_of_sync_since_generation=2))
    seen["web"] = None                       # cannot tell: an earlier staleness keeps its generation
    published = witness_view.group_statuses(state_dir, ["web"], lambda groups: {group: seen[group] for group in groups})["web"]
    assert (published.replica_in_sync, published.out_of_sync_since_generation) == (False, 2)
    seen["web"] = False
    published = witness_view.group_statuses(state_dir, ["web"], lambda groups: {group: seen[group] for group in groups})["web"]
    assert (published.replica_in_sync, published.out_of_sync_since_generation) == (False, 2)
    # Both halves ACTIVE again: published in sync before the worker's next
    # pass, so a failover right after the resync finds its replica good.
    seen["web"] = True
    published = witness_view.group_statuses(state_dir, ["web"], lambda groups: {group: seen[group] for group in groups})["web"]
    assert (published.replica_in_sync, published.out_of_sync_since_generation) == (True, None)


def test_the_heartbeat_looks_at_every_served_mirror_in_one_gmirror_list(tmp_path):
    # A beat must stay inside one interval however many groups a node serves.
    from carpha.store import state
    from carpha.config import loads
    from carpha.host.runner import Runner
    from simworld import EXAMPLE_WITH_WITNESS
    text = EXAMPLE_WITH_WITNESS + """  mail:
    nodes: [serverA, serverB]
    preferred_node: serverA
    carp: {interface: em0, vhid: 2, address: 192.0.2.19/24}
    addresses: [em0 192.0.2.20/24]
    storage: {mirror: mail, providers: {serverA: ada2, serverB: ada2}, ggate: {port: 3081, unit: 1}}
"""
    config = loads(text, "carpha.yaml", node="serverA")
    for name in ("web", "mail"):
        state.save(str(tmp_path), state.GroupState(name, role="MASTER", generation=1, replica_in_sync=True))
    runner = Runner(executor=lambda argv, timeout, env: (0, "", ""), echo=lambda line: None)
    probe = replica_probe_for(config, "serverA", runner, logging.getLogger("t"), 0.5)
    published = witness_view.group_statuses(str(tmp_path), ["web", "mail"], probe)
    assert [c.argv for c in runner.calls] == [("gmirror", "list"), ("ggatec", "list", "-v")]
    assert all(c.returncode == 0 for c in runner.calls)
    # no mirror listed: neither replica is in sync, both published stale
    assert [published[g].replica_in_sync for g in ("web", "mail")] == [False, False]
