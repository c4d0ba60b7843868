"""Maintenance mode, flap damping and the settle time as the worker applies
them, on simulated hosts (the simulated clock drives carpha's time)."""

import logging
import json
import os

import pytest

from carpha.store import journal
from carpha.safety import maintenance
from carpha.engine import holds, promotion, transitions, worker
from carpha.actions.base import Context
from carpha.actions import storage
from carpha.actions.base import apply
from simworld import World, view_with


def last_run(w, node="serverA"):
    records = journal.read(w.configs[node].paths.state_dir, "1@em0")
    return [r for r in records if r["kind"] == "run"][-1]


def demotion(w, node="serverA"):
    return w.cluster[node].sysctl["net.inet.carp.demotion"]


def test_maintenance_holds_the_node_and_keeps_carp_demoted_until_it_is_off(world):
    state_dir = world.configs["serverA"].paths.state_dir
    maintenance.enable(state_dir, "replacing ada1", 3600, now=world.cluster.clock.now())
    ctx = world.ctx()
    result = worker.reconcile(world.configs["serverA"], "serverA", lambda: world.ctx().runner, ctx.log)["web"]
    assert result.error == maintenance.blocks_automatic_action(state_dir, world.cluster.clock.now())
    assert world.snapshot()["jails"] == [] and demotion(world) == 240
    assert last_run(world)["result"] == "held" and "replacing ada1" in last_run(world)["reason"]
    worker.reconcile(world.configs["serverA"], "serverA", lambda: world.ctx().runner, ctx.log)
    assert demotion(world) == 240                      # raised once, not once per pass
    maintenance.disable(state_dir)
    worker.reconcile(world.configs["serverA"], "serverA", lambda: world.ctx().runner, ctx.log)
    assert demotion(world) == 0
    # with the demotion gone serverA (preferred, preempt) is MASTER again and serves
    world.cluster.advance(10)
    worker.reconcile(world.configs["serverA"], "serverA", lambda: world.ctx().runner, ctx.log)
    assert world.snapshot()["jails"] == ["db", "www"]


def test_maintenance_does_not_stop_an_administrators_takeover(world):
    from carpha.engine.handover import hand_over
    maintenance.enable(world.configs["serverA"].paths.state_dir, "testing", 600, now=world.cluster.clock.now())
    hand_over(world.ctx(), transitions.MASTER)
    assert world.snapshot()["jails"] == ["db", "www"]


def test_more_transitions_than_the_limit_hold_the_group_and_exit_75(world):
    a = world.cluster["serverA"]
    results = []
    for i in range(8):
        state = "backup" if i % 2 == 0 else "master"
        a.execute(["ifconfig", "em0", "vhid", "1", "state", state], 5, {})
        results.append(worker.reconcile_group(world.ctx()))
    held = [r for r in results if r.exit_code == 75]
    assert held, [r.role for r in results]
    assert "transitions in the last 60 s (limit 6): holding the group as it is" in held[0].error
    runs = [r for r in journal.read(world.configs["serverA"].paths.state_dir, "1@em0") if r["kind"] == "run"]
    assert any(r["result"] == "held" and r["reason"] == held[0].error for r in runs)
    snapshot = world.snapshot()
    world.cluster.advance(61)                         # the window passes: cron re-evaluates
    a.execute(["ifconfig", "em0", "vhid", "1", "state", "master"], 5, {})
    assert worker.reconcile_group(world.ctx()).exit_code == 0
    assert world.snapshot()["jails"] == ["db", "www"] and snapshot != world.snapshot()


def test_a_master_that_loses_carp_while_settling_touches_no_storage(world):
    a = world.cluster["serverA"]
    ctx = world.ctx()
    calls = []

    from carpha.safety import damping
    real_settle = damping.settle

    def settle(check, seconds, sleep=None):
        a.execute(["ifconfig", "em0", "vhid", "1", "state", "backup"], 5, {})   # CARP moves away meanwhile
        calls.append(seconds)
        return real_settle(check, seconds)

    damping.settle, saved = settle, damping.settle
    try:
        result = worker.reconcile_group(ctx)
    finally:
        damping.settle = saved
    assert calls == [2]
    assert result.role == transitions.BACKUP
    assert not any(argv[0] in ("kldload", "mount", "fsck") for argv in ctx.runner.changes())


def test_a_master_put_in_maintenance_lets_go_when_its_demotion_moves_carp(world):
    """Maintenance raises the demotion; the peer preempts; this node must let
    go (holding would leave the group on both nodes)."""
    a, b = world.cluster["serverA"], world.cluster["serverB"]
    transitions.run(world.ctx(), transitions.MASTER)
    maintenance.enable(world.configs["serverA"].paths.state_dir, "kernel upgrade", 3600,
                       now=world.cluster.clock.now())
    log = world.ctx().log
    worker.reconcile(world.configs["serverA"], "serverA", lambda: world.ctx().runner, log)   # raises demotion
    world.cluster.advance(5)
    assert b.carp_state(1, "em0") == "MASTER" and a.carp_state(1, "em0") == "BACKUP"
    worker.reconcile(world.configs["serverA"], "serverA", lambda: world.ctx().runner, log)
    assert world.snapshot()["jails"] == [] and ("/dev/mirror/data", "/data") not in world.snapshot()["mounts"]


def test_damping_never_holds_a_node_in_the_serving_state_after_carp_left(world):
    a = world.cluster["serverA"]
    for i in range(8):
        a.execute(["ifconfig", "em0", "vhid", "1", "state", "backup" if i % 2 == 0 else "master"], 5, {})
        worker.reconcile_group(world.ctx())
        if a.carp_state(1, "em0") != "MASTER":
            assert world.snapshot()["jails"] == [], f"still serving after pass {i} while BACKUP"


def test_switchover_is_refused_while_the_peers_replica_resynchronises(world):
    from carpha.exits import CarphaError
    from carpha.engine.handover import switch_over
    transitions.run(world.ctx(), transitions.MASTER)          # serverB's half inserted: resync running
    mirror = world.cluster["serverA"].mirrors["data"]
    assert mirror.status() == "DEGRADED"
    with pytest.raises(CarphaError) as info:
        switch_over(world.ctx(), echo=lambda _: None)
    assert info.value.exit_code == 75
    assert str(info.value).startswith("switchover refused: serverB's replica is not in sync: mirror/data is DEGRADED")
    assert world.snapshot()["jails"] == ["db", "www"]        # nothing was touched


def test_switchover_is_refused_when_the_peer_does_not_answer(world):
    from carpha.exits import CarphaError
    from carpha.engine.handover import switch_over
    transitions.run(world.ctx(), transitions.MASTER)
    world.cluster.advance(60)
    world.cluster.crash("serverB")             # the mirror has not noticed yet: still COMPLETE
    with pytest.raises(CarphaError) as info:
        switch_over(world.ctx(), echo=lambda _: None)
    assert info.value.exit_code == 69 and "serverB (192.0.2.2) does not answer" in str(info.value)
    assert world.snapshot()["jails"] == ["db", "www"]


def test_switchover_takes_the_group_back_when_the_peer_does_not_serve(world):
    from carpha.exits import CarphaError
    from carpha.engine.handover import switch_over
    transitions.run(world.ctx(), transitions.MASTER)
    world.cluster.advance(60)                                  # resync completes
    maintenance.enable(world.configs["serverB"].paths.state_dir, "not now", 3600,
                       now=world.cluster.clock.now())          # reachable, but will not promote
    lines = []
    with pytest.raises(CarphaError) as info:
        switch_over(world.ctx(), timeout=20, echo=lines.append)
    assert info.value.exit_code == 69 and "did not take over web within 20 s; serverA serves it again" in str(info.value)
    assert lines[-1] == "web: serverB did not serve 192.0.2.10 within 20 s; taking the group back"
    assert world.snapshot()["jails"] == ["db", "www"]


@pytest.mark.parametrize("node,peer_status,allowed", [
    ("serverB", {"serving": True, "released": False}, False),     # the peer serves: never
    ("serverB", {"serving": False, "released": False}, False),    # idle peer: only the preferred node may
    ("serverB", {"serving": False, "released": True}, True),      # released on purpose
    ("serverA", {"serving": False, "released": False}, True),     # preferred node, idle peer
    ("serverA", {"serving": True, "released": False}, False),
])
def test_the_witness_lets_a_live_peer_hand_over_only_explicitly_or_to_the_preferred_node(tmp_path, node,
                                                                                       peer_status, allowed):
    import dataclasses
    from carpha.engine import promotion
    from carpha.config import loads
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "carpha.yaml", node=node)
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, run_dir=str(tmp_path)))
    view_with(str(tmp_path), {"web": {**peer_status, "generation": 1, "replica_in_sync": True}})
    ctx = Context(config, config.groups["web"], node, None, None)
    ok, why, may_change = promotion.witness_allows(ctx)
    assert ok is allowed, why
    assert may_change is (not allowed)       # refused: the record advanced 0.5 s ago, worth waiting on


def test_a_node_that_cannot_write_its_record_never_promotes(tmp_path):
    import dataclasses
    from carpha.engine import promotion
    from carpha.config import loads
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "carpha.yaml", node="serverA")
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, run_dir=str(tmp_path)))
    view_with(str(tmp_path), {"web": {"serving": False, "released": True, "generation": 1,
                                      "replica_in_sync": True}}, own_ok=False)
    ok, why, may_change = promotion.witness_allows(Context(config, config.groups["web"], "serverA", None, None))
    assert may_change is False               # a record we cannot write is not worth waiting on
    assert not ok and why.startswith("witness unreachable: cannot write our record")


def test_heartbeat_refuses_a_witness_directory_that_is_not_a_mount(tmp_path):
    import subprocess, sys
    from carpha.safety import witness_view
    from conftest import LIB
    from simworld import EXAMPLE_WITH_WITNESS
    share, run_dir, state_dir = tmp_path / "share", tmp_path / "run", tmp_path / "db"
    share.mkdir()
    text = "node: serverB\n" + EXAMPLE_WITH_WITNESS.replace("/mnt/carpha-witness", str(share)).replace(
        "# paths:", "paths:").replace("#   state_dir: /var/db/carpha", f"  state_dir: {state_dir}").replace(
        "#   run_dir: /var/run/carpha", f"  run_dir: {run_dir}")
    config = tmp_path / "carpha.yaml"
    config.write_text(text)
    config.chmod(0o600)
    result = subprocess.run([sys.executable, "-m", "carpha", "-c", str(config), "heartbeat", "--beats", "1"],
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_NO_SYSLOG": "1"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    view = witness_view.load_view(str(run_dir))
    assert view is not None and not view.own_ok and "mount" in view.own_error
    assert not (share / "serverB.json").exists()     # local disk is no witness: nothing written


def test_takeover_onto_a_replica_the_peer_recorded_stale_needs_accept_data_loss(tmp_path):
    import dataclasses
    from carpha.config import loads
    from carpha.exits import CarphaError
    from carpha.engine.handover import hand_over
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "carpha.yaml", node="serverB")
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, run_dir=str(tmp_path)))
    view_with(str(tmp_path), {"web": {"serving": True, "released": False, "generation": 3,
                                      "replica_in_sync": False, "out_of_sync_since_generation": 2}})
    ctx = Context(config, config.groups["web"], "serverB", None, None)
    with pytest.raises(CarphaError) as info:
        hand_over(ctx, transitions.MASTER)
    assert info.value.exit_code == 75
    assert str(info.value) == ("takeover refused: our replica is out of date: serverA recorded it out of sync "
                               "since generation 2; promoting would lose the writes made since "
                               "(carpha takeover web --accept-data-loss)")


@pytest.mark.parametrize("claimed,served,peer_served,stale", [
    (0, 0, None, True),    # never served: the peer's mark stands
    (4, 2, None, True),    # a later claim whose promotion was abandoned wrote nothing (soak seed 8)
    (4, 4, None, False),   # served 4 after the peer's last claim (3): the newest writes are ours
    (3, 3, None, True),    # the peer's own generation: its mark speaks of it
    (4, 4, 2, False),      # the peer claimed 3 but last served 2 (soak seed 1): ours are newer
    (2, 2, 2, True),
    (1, 1, 1, False),      # marked since 2 by an intent that never served (the peer last served 1)
])
def test_a_peers_stale_mark_is_void_only_once_we_served_a_later_generation(tmp_path, claimed, served,
                                                                          peer_served, stale):
    from carpha.store import state
    view_with(str(tmp_path), {"web": {"serving": False, "released": False, "generation": 3,
                                      "served_generation": peer_served,
                                      "replica_in_sync": False, "out_of_sync_since_generation": 2}})
    state.save(str(tmp_path), state.GroupState("web", generation=claimed, served_generation=served))
    from carpha.safety import witness_view
    reason = promotion.stale_replica(witness_view.load_view(str(tmp_path)), "web", str(tmp_path))
    assert (reason is not None) is stale


def test_release_is_refused_while_the_peers_half_is_recorded_out_of_date(world):
    from carpha.store import state
    from carpha.exits import CarphaError
    from carpha.engine.handover import hand_over
    transitions.run(world.ctx(), transitions.MASTER)
    ctx = world.ctx()
    paths = ctx.config.paths
    state.save(paths.state_dir, state.load(paths.state_dir, "web").with_changes(
        role=transitions.MASTER, generation=2, replica_in_sync=False, out_of_sync_since_generation=2))
    before = world.snapshot()
    with pytest.raises(CarphaError) as info:
        hand_over(ctx, transitions.BACKUP)
    assert info.value.exit_code == 75 and str(info.value).startswith(
        "release refused: serverB's replica is out of date (out of sync since generation 2)")
    assert world.snapshot() == before and before["jails"] == ["db", "www"]
    assert not state.load(paths.state_dir, "web").released


@pytest.mark.parametrize("peer_status,view_kwargs,ready,words", [
    ({"serving": True, "replica_in_sync": False}, {}, False, "records our half of the mirror out of sync"),
    ({"serving": True, "replica_in_sync": True}, {}, True, "in sync"),
    ({"serving": False, "replica_in_sync": False}, {}, True, "serves nothing"),
    ({"serving": False, "replica_in_sync": True}, {"own_ok": False}, False, "no fresh heartbeat view"),
    ({"serving": False, "replica_in_sync": True}, {"peer_silent_for": 31}, False, "not advancing"),
])
def test_a_demotion_hold_ends_only_on_a_fresh_view_of_a_live_peer_that_does_not_need_us_to_wait(
        tmp_path, peer_status, view_kwargs, ready, words):
    import dataclasses
    from carpha.safety import maintenance
    from carpha.engine import holds
    from carpha.config import loads
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "carpha.yaml", node="serverA")
    config = dataclasses.replace(config, paths=dataclasses.replace(
        config.paths, run_dir=str(tmp_path / "run"), state_dir=str(tmp_path / "db")))
    view_with(config.paths.run_dir, {"web": {**peer_status, "generation": 2, "released": False}}, **view_kwargs)
    assert holds.readiness(config, "serverA")[0] is ready
    assert words in holds.readiness(config, "serverA")[1]
    maintenance.set_hold(config.paths.state_dir, "booted")
    holds.update_hold(config, "serverA", logging.getLogger("t"))
    assert (maintenance.read(config.paths.state_dir).hold is None) is ready


def test_a_role_applied_before_a_reboot_is_forgotten_so_the_next_promotion_is_guarded_and_counted(world):
    from carpha.store import state
    config = world.configs["serverA"]
    run = lambda: worker.reconcile(config, "serverA", lambda: world.ctx().runner, world.ctx().log)  # noqa: E731
    run()
    assert state.load(config.paths.state_dir, "web").generation == 1
    world.cluster.crash("serverA")
    world.cluster.advance(30)
    world.cluster.boot("serverA")
    world.cluster.advance(10)                  # serverA is CARP MASTER again (preferred, preempt)
    run()
    saved = state.load(config.paths.state_dir, "web")
    # the saved MASTER of the last boot is not "already applied": a new
    # promotion, through the guards, with a new generation
    assert (saved.role, saved.generation) == ("MASTER", 2)
    assert world.snapshot()["jails"] == ["db", "www"]
    assert any(r.get("kind") == "run" and r.get("result") == "ok" and r.get("did")
               for r in journal.read(config.paths.state_dir, "1@em0")[-3:])


@pytest.mark.parametrize("peer_status,view_kwargs,held", [
    ({"serving": True, "replica_in_sync": False}, {}, True),               # evidence: we are behind
    ({"serving": True, "replica_in_sync": False}, {"own_ok": False}, False),  # no evidence: no new hold
    ({"serving": True, "replica_in_sync": True}, {}, False),
])
def test_a_standby_seen_behind_holds_its_demotion_whatever_made_it_fall_behind(
        tmp_path, peer_status, view_kwargs, held):
    import dataclasses
    from carpha.safety import maintenance
    from carpha.engine import holds
    from carpha.config import loads
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "carpha.yaml", node="serverA")
    config = dataclasses.replace(config, paths=dataclasses.replace(
        config.paths, run_dir=str(tmp_path / "run"), state_dir=str(tmp_path / "db")))
    view_with(config.paths.run_dir, {"web": {**peer_status, "generation": 2, "released": False}}, **view_kwargs)
    holds.update_hold(config, "serverA", logging.getLogger("t"))
    hold = maintenance.read(config.paths.state_dir).hold
    assert (hold is not None) is held
    if held:
        assert hold == "replica behind: serverA serves web and records our half of the mirror out of sync"


def test_a_hold_outlives_a_heartbeat_that_stops_publishing(tmp_path):
    """freezegun: the view is fresh for 3 intervals, then no evidence ends a hold."""
    import dataclasses
    from freezegun import freeze_time
    from carpha.safety import maintenance
    from carpha.engine import holds
    from carpha.config import loads
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "carpha.yaml", node="serverA")
    config = dataclasses.replace(config, paths=dataclasses.replace(
        config.paths, run_dir=str(tmp_path / "run"), state_dir=str(tmp_path / "db")))
    with freeze_time("2026-11-25 03:00:00") as frozen:
        view_with(config.paths.run_dir, {"web": {"serving": False, "replica_in_sync": False, "generation": 2,
                                                 "released": False}})
        assert holds.readiness(config, "serverA")[0]
        frozen.tick(3 * config.witness.interval_seconds + 0.5)
        ready, why, _ = holds.readiness(config, "serverA")
        assert not ready and why == "no fresh heartbeat view that reaches the witness"
        maintenance.set_hold(config.paths.state_dir, "booted")
        holds.update_hold(config, "serverA", logging.getLogger("t"))
        assert maintenance.read(config.paths.state_dir).hold == "booted"


def test_a_serving_node_never_holds_itself_back_and_a_takeover_ends_a_hold_for_good(tmp_path):
    import dataclasses
    from carpha.engine import handover, holds
    from carpha.safety import maintenance
    from carpha.store import state
    from carpha.host.runner import Runner
    from carpha.config import loads
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "carpha.yaml", node="serverA")
    config = dataclasses.replace(config, paths=dataclasses.replace(
        config.paths, run_dir=str(tmp_path / "run"), state_dir=str(tmp_path / "db")))
    behind = {"web": {"serving": True, "replica_in_sync": False, "generation": 2, "released": False}}
    view_with(config.paths.run_dir, behind)
    state.save(config.paths.state_dir, state.GroupState("web", role="MASTER", generation=3))
    holds.update_hold(config, "serverA", logging.getLogger("t"))
    assert maintenance.read(config.paths.state_dir).hold is None
    # a standby in the same view is held; an administrator's takeover ends
    # the hold and lowers the demotion at once, without holding it again
    state.save(config.paths.state_dir, state.GroupState("web", role="BACKUP", generation=3))
    holds.update_hold(config, "serverA", logging.getLogger("t"))
    assert maintenance.read(config.paths.state_dir).hold is not None
    dump = "Format: Length:16 Dump:0x000102030405060708090a0b0c0d0e0f\n"   # sysctl -n -x kern.boot_id
    runner = Runner(executor=lambda argv, timeout, env: (0, dump, ""), echo=lambda line: None)
    maintenance.record_demotion(config.paths.state_dir, 240, holds.boot_id(runner, config))
    handover._end_hold(Context(config, config.groups["web"], "serverA", runner, logging.getLogger("t")))
    record = maintenance.read(config.paths.state_dir)
    assert (record.hold, record.demotion) == (None, 0)
    assert ("sysctl", "net.inet.carp.demotion=-240") in [c.argv for c in runner.calls]


@pytest.mark.parametrize("kernel_boot_id", [True, False], ids=["kern.boot_id", "run-dir marker"])
def test_a_clock_step_after_boot_hold_neither_doubles_nor_forgets_carphas_demotion(tmp_path, kernel_boot_id):
    # kern.boottime moves with a step (kern_tc.c tc_setclock()): it must not name the boot
    from simworld import EXAMPLE_WITH_WITNESS, peer_records_our_half
    w = World(tmp_path, EXAMPLE_WITH_WITNESS)      # a lease: the hold stands until a fresh view ends it
    log = logging.getLogger("t")
    try:
        host, config = w.cluster["serverA"], w.configs["serverA"]
        if not kernel_boot_id:
            host.without_boot_id()                 # a release without kern.boot_id
        runner = w.ctx().runner
        holds.boot_hold(config, runner, log)
        assert host.sysctl["net.inet.carp.demotion"] == 240
        boottime = host.sysctl["kern.boottime"]
        host.step_clock(3600)                      # ntpd steps the clock an hour after boot
        assert host.sysctl["kern.boottime"] != boottime
        peer_records_our_half(config.paths.run_dir, in_sync=False)
        holds.sync_demotion(config, runner, log)  # the hold stands: not raised a second time
        assert host.sysctl["net.inet.carp.demotion"] == 240
        holds.boot_hold(config, runner, log)      # nor by boot-hold run again by hand
        assert host.sysctl["net.inet.carp.demotion"] == 240
        peer_records_our_half(config.paths.run_dir, in_sync=True)
        holds.sync_demotion(config, runner, log)  # released, exactly: not forgotten
        assert host.sysctl["net.inet.carp.demotion"] == 0
        record = maintenance.read(config.paths.state_dir)
        assert (record.hold, record.demotion) == (None, 0)
    finally:
        w.close()


def test_a_promotion_abandoned_after_mount_but_before_serving_marks_nothing(tmp_path):
    # Mounted, then let go before any address or jail: no client wrote here,
    # so the peer's half is not recorded out of date (soak seed 7).
    from carpha.store import state
    from carpha.engine import replica_state
    from carpha.actions import storage
    from carpha.actions.base import apply
    from simworld import World
    w = World(tmp_path)
    try:
        ctx = w.ctx()
        apply(storage.PROMOTE, ctx)
        assert ("/dev/mirror/data", "/data") in w.snapshot()["mounts"]
        replica_state.record_replica(ctx)
        saved = state.load(ctx.config.paths.state_dir, "web")
        assert saved.out_of_sync_since_generation is None
        ctx.change(("ifconfig", "em0", "inet", "192.0.2.10/24", "alias"))    # now a client could write
        replica_state.record_replica(ctx)
        assert state.load(ctx.config.paths.state_dir, "web").out_of_sync_since_generation is not None
    finally:
        w.close()


def test_a_role_lost_between_actions_abandons_before_the_next_change(tmp_path):
    # transitions.run re-checks before every step, not before each action's
    # observation: CARP lost right after the mount still stops the move
    # before any address or jail.
    from carpha.actions.base import Abandoned
    from carpha.engine import transitions
    from simworld import World
    w = World(tmp_path)
    try:
        ctx = w.ctx()
        checks = []

        def still_master():
            checks.append(w.snapshot()["mounts"])
            if ("/dev/mirror/data", "/data") in checks[-1]:
                raise Abandoned("web: CARP is now BACKUP")

        before = w.snapshot()["addresses"]
        with pytest.raises(Abandoned):
            transitions.run(ctx, transitions.MASTER, between=still_master)
        after = w.snapshot()
        assert ("/dev/mirror/data", "/data") in after["mounts"]
        assert after["addresses"] == before and after["jails"] == []
        assert len(checks) >= 2                     # one before each storage step, then the refusal
    finally:
        w.close()
