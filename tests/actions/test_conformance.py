"""Every action through the OCF-tester cycle, on simulated FreeBSD hosts
built from the example config: acquire, acquire again (no mutating
command), release, release again, dry run (nothing changes), a failing
command surfaces as a failed step, and an action killed before any of its
commands converges when run again. Then both whole transitions killed at
every step and re-run."""

import pytest

from carpha.engine import transitions, worker
from carpha.actions import addresses, jails, storage
from carpha.actions.base import ActionFailed, apply
from simworld import Killed, World
ACQUIRE = [storage.PROMOTE, addresses.CLAIM, jails.START]
RELEASE = [jails.STOP, addresses.RELEASE, storage.DEMOTE]
BY_NAME = {a.name: a for a in ACQUIRE + RELEASE}


def bring_up(world, upto):
    for action in ACQUIRE[:upto]:
        apply(action, world.ctx())


@pytest.mark.parametrize("index", range(3), ids=[a.name for a in ACQUIRE])
def test_acquire_changes_then_acquire_again_runs_no_mutating_command(world, index):
    bring_up(world, index)
    action = ACQUIRE[index]
    assert apply(action, world.ctx()).changed
    again = world.ctx()
    assert not apply(action, again).changed
    assert again.runner.changes() == []


@pytest.mark.parametrize("index", range(3), ids=[a.name for a in RELEASE])
def test_release_changes_then_release_again_runs_no_mutating_command(world, index):
    bring_up(world, 3)
    for action in RELEASE[:index]:
        apply(action, world.ctx())
    action = RELEASE[index]
    assert apply(action, world.ctx()).changed
    again = world.ctx()
    assert not apply(action, again).changed
    assert again.runner.changes() == []


@pytest.mark.parametrize("name", [a.name for a in ACQUIRE + RELEASE])
def test_dry_run_prints_the_plan_and_changes_nothing(world, name):
    action = BY_NAME[name]
    if action in RELEASE:
        bring_up(world, 3)
    else:
        bring_up(world, ACQUIRE.index(action))
    before = world.snapshot()
    ctx = world.ctx(dry_run=True)
    outcome = apply(action, ctx)
    assert outcome.changed and outcome.steps
    assert all(call.dry_run for call in ctx.runner.calls if call.kind == "change")
    assert world.snapshot() == before


@pytest.mark.parametrize("name", [a.name for a in ACQUIRE + RELEASE])
def test_a_failing_command_surfaces_as_a_failed_step_naming_it(world, name):
    action = BY_NAME[name]
    bring_up(world, 3 if action in RELEASE else ACQUIRE.index(action))
    probe = world.ctx()
    first = next(s for s in action.plan(probe, action.observe(probe)) if hasattr(s, "argv"))
    failing = {first.argv} | ({first.fallback.argv} if first.fallback else set())
    with pytest.raises(ActionFailed) as info:
        apply(action, world.ctx(fail=failing))
    assert first.reason in str(info.value) and "simulated failure" in str(info.value)


@pytest.mark.parametrize("name", [a.name for a in ACQUIRE + RELEASE])
def test_an_action_killed_at_any_step_converges_when_run_again(tmp_path, name):
    action = BY_NAME[name]

    def prepared(workdir):
        w = World(workdir)
        apply(storage.DEMOTE, w.ctx("serverB"))
        bring_up(w, 3 if action in RELEASE else ACQUIRE.index(action))
        return w

    reference = prepared(tmp_path / "ref")
    counter = reference.ctx()
    apply(action, counter)
    expected, total = reference.snapshot(), len(counter.runner.changes())
    reference.close()
    assert total > 0
    for kill_at in range(total):
        w = prepared(tmp_path / f"k{kill_at}")
        try:
            with pytest.raises(Killed):
                apply(action, w.ctx(kill_at=kill_at))
            apply(action, w.ctx())
            check = w.ctx()
            assert action.plan(check, action.observe(check)) == [], f"killed at step {kill_at}"
            assert w.snapshot() == expected, f"killed at step {kill_at}"
        finally:
            w.close()


def serving(world, node="serverA"):
    snap = world.snapshot(node)
    return snap["jails"] == ["db", "www"] and ("/dev/mirror/data", "/data") in snap["mounts"] and \
        ("em0", "192.0.2.10", 0) in snap["addresses"]


def test_the_move_to_master_killed_at_every_step_converges_when_the_worker_runs_again(tmp_path):
    reference = World(tmp_path / "ref")
    apply(storage.DEMOTE, reference.ctx("serverB"))
    counter = reference.ctx()
    transitions.run(counter, transitions.MASTER)
    total = len(counter.runner.changes())
    assert serving(reference)
    reference.close()
    for kill_at in range(total):
        w = World(tmp_path / f"m{kill_at}")
        try:
            apply(storage.DEMOTE, w.ctx("serverB"))
            with pytest.raises(Killed):
                transitions.run(w.ctx(kill_at=kill_at), transitions.MASTER)
            result = worker.reconcile_group(w.ctx())
            assert result.role == transitions.MASTER and serving(w), f"killed at step {kill_at}"
            mirror = w.snapshot()["mirrors"]["data"]
            assert mirror[1] == ["ada1", "ggate0"], f"killed at step {kill_at}: {mirror}"
        finally:
            w.close()


def test_the_move_to_backup_killed_at_every_step_converges_when_run_again(tmp_path):
    def serving_world(workdir):
        w = World(workdir)
        apply(storage.DEMOTE, w.ctx("serverB"))
        transitions.run(w.ctx(), transitions.MASTER)
        return w

    reference = serving_world(tmp_path / "ref")
    counter = reference.ctx()
    transitions.run(counter, transitions.BACKUP)
    total, expected = len(counter.runner.changes()), reference.snapshot()
    reference.close()
    assert expected["jails"] == [] and "ggated" in expected["processes"]
    for kill_at in range(total):
        w = serving_world(tmp_path / f"b{kill_at}")
        try:
            with pytest.raises(Killed):
                transitions.run(w.ctx(kill_at=kill_at), transitions.BACKUP)
            transitions.run(w.ctx(), transitions.BACKUP)
            assert w.snapshot() == expected, f"killed at step {kill_at}"
        finally:
            w.close()


def test_a_worker_killed_between_claiming_and_announcing_announces_on_the_next_run(world, tmp_path):
    counter = world.ctx()
    transitions.run(counter, transitions.MASTER)
    garp_at = next(i for i, argv in enumerate(counter.runner.changes()) if argv[0] == "carpha-garp")
    fresh = World(tmp_path / "fresh")
    try:
        apply(storage.DEMOTE, fresh.ctx("serverB"))
        with pytest.raises(Killed):
            transitions.run(fresh.ctx(kill_at=garp_at), transitions.MASTER)
        again = fresh.ctx()
        worker.reconcile_group(again)
        assert any(argv[0] == "carpha-garp" for argv in again.runner.changes())
        once_more = fresh.ctx()
        worker.reconcile_group(once_more)
        assert not any(argv[0] == "carpha-garp" for argv in once_more.runner.changes())
    finally:
        fresh.close()


def run_hook(ctx, name):
    return [apply(action, ctx) for action in transitions.HOOKS[name]]


def test_the_claim_hook_announces_what_it_added_with_the_promotions_own_step(world):
    bring_up(world, 1)
    first = world.ctx()
    run_hook(first, "claim-addresses")
    assert [argv[0] for argv in first.runner.changes()][-1] == "carpha-garp"
    again = world.ctx()
    assert not any(outcome.changed for outcome in run_hook(again, "claim-addresses"))
    assert again.runner.changes() == []


def test_a_claim_hook_killed_before_announcing_announces_when_run_again(world):
    bring_up(world, 1)
    probe = world.ctx(dry_run=True)
    run_hook(probe, "claim-addresses")
    planned = [call.argv for call in probe.runner.calls if call.kind == "change"]
    garp_at = next(i for i, argv in enumerate(planned) if argv[0] == "carpha-garp")
    with pytest.raises(Killed):
        run_hook(world.ctx(kill_at=garp_at), "claim-addresses")
    again = world.ctx()
    run_hook(again, "claim-addresses")
    assert [argv[0] for argv in again.runner.changes()] == ["carpha-garp"]


def test_a_dry_run_of_the_claim_hook_shows_the_announcement_too(world):
    bring_up(world, 1)
    ctx = world.ctx(dry_run=True)
    run_hook(ctx, "claim-addresses")
    assert any(call.argv[0] == "carpha-garp" for call in ctx.runner.calls if call.kind == "change")
