"""`carpha check` and `carpha status` for a NAS group (storage.kind
local-gmirror, carpha.engine.nas), against the simulated hosts: role against
reality as carpha.engine.nas decides it on the node, and the mirror's health."""

import json

import pytest

from carpha.ops import check, servedhere, statusview
from carpha.engine import nas, transitions, worker
from carpha.actions.base import Context
from simworld import EXAMPLE_WITH_WITNESS, LOG, World

OWNS = "its mirror is here and this node owns the group"
ELSEWHERE = "its mirror is not on this node"
NODES = ("serverA", "serverB", "serverC")


def reconcile(w, node):
    worker.reconcile(w.configs[node], node, lambda: w.ctx(node).runner, LOG)


def settle(w):
    for _ in range(2):
        for node in NODES:
            reconcile(w, node)
    w.cluster.advance(60)


@pytest.fixture
def world(tmp_path):
    """web on serverA/serverB, the NAS served by its owner serverC (witness kind none)."""
    w = World(tmp_path)
    settle(w)
    yield w
    w.close()


def nas_ctx(w, node):
    config = w.configs[node]
    return Context(config, config.groups["nas"], node, w.ctx(node).runner, LOG)


def evaluate(w, node):
    return check.evaluate(w.configs[node], w.ctx(node).runner, LOG)


def nas_findings(result):
    return [(f["level"], f["text"]) for f in result["findings"] if f["group"] == "nas"]


def status(w, node):
    return statusview.status_report(w.configs[node], w.ctx(node).runner, LOG)


def move_drives(w, src, dst, drives=None):
    """`drives` (default: all) of `src` into free bays of `dst`; their names there."""
    names = []
    for drive in sorted(drives or w.cluster[src].disks):
        names.append(w.cluster.free_disk_name(dst))
        w.cluster.move_disk(src, dst, drive, names[-1])
    w.cluster.advance(10)             # gmirror's launch wait
    return names


def test_the_owner_serving_its_nas_is_ok_with_its_resync_perfdata(world):
    result = evaluate(world, "serverC")
    assert nas_findings(result) == [(check.OK, f"serving because {OWNS}: mirror/nas COMPLETE, 1 mounted, "
                                               "1 addresses, services mountd nfsd samba_server")]
    assert "'nas_resync'=100%;;;0;100" in result["perfdata"]
    assert result["status"] == check.WARNING        # only the node's "witness.kind none" warning


def test_a_node_without_the_drives_serving_nothing_is_ok(world):
    result = evaluate(world, "serverB")
    assert nas_findings(result) == [(check.OK, f"not served here: {ELSEWHERE}")]
    assert "nas_resync" not in result["perfdata"]


def test_the_owner_missing_a_service_or_its_address_is_critical_and_repair_restores_them(world):
    host = world.cluster["serverC"]
    host.run("service", "samba_server", "onestop")
    host.run("ifconfig", "em0", "inet", "192.0.2.30", "-alias")
    result = evaluate(world, "serverC")
    assert result["status"] == check.CRITICAL
    assert sorted(nas_findings(result)) == [
        (check.CRITICAL, f"to be served here ({OWNS}) but address 192.0.2.30 missing"),
        (check.CRITICAL, f"to be served here ({OWNS}) but service samba_server not running")]
    repaired = check.repair(world.configs["serverC"], lambda: world.ctx("serverC").runner, LOG)
    assert "nas: service samba_server onestart" in repaired
    assert any(r.startswith("nas: ifconfig em0 inet 192.0.2.30/24 alias") for r in repaired)
    assert nas_findings(evaluate(world, "serverC"))[0][0] == check.OK


def test_repair_dry_run_plans_the_nas_toward_the_decision_of_carpha_nas(world):
    world.cluster["serverC"].run("service", "nfsd", "onestop")
    lines = check.plan_repair(world.configs["serverC"], world.ctx("serverC", dry_run=True).runner, LOG)
    assert "# nas: toward MASTER" in lines and "would run: service nfsd onestart" in lines
    lines = check.plan_repair(world.configs["serverB"], world.ctx("serverB", dry_run=True).runner, LOG)
    assert "# nas: toward BACKUP" in lines
    assert world.cluster["serverC"].services["nfsd"].get("pid") is None     # a dry run changes nothing


def test_a_degraded_nas_mirror_is_a_warning_and_its_resync_a_warning_with_percent_perfdata(world):
    host = world.cluster["serverC"]
    host.run("gmirror", "deactivate", "nas", "ada2")
    found = nas_findings(evaluate(world, "serverC"))
    assert found == [(check.WARNING, "mirror/nas DEGRADED, degraded: a drive is missing (ada1 ACTIVE)")]
    host.run("gmirror", "activate", "nas", "ada2")
    host.run("gmirror", "rebuild", "nas", "ada2")
    world.cluster.advance(1)
    result = evaluate(world, "serverC")
    percent = result["groups"]["nas"]["mirror"]["resync_percent"]
    assert 0 <= percent < 100
    assert nas_findings(result) == [(check.WARNING, f"mirror/nas resynchronising {percent}% "
                                                    f"(ada2 SYNCHRONIZING {percent}%, ada1 ACTIVE)")]
    assert f"'nas_resync'={percent}%;;;0;100" in result["perfdata"]
    report = status(world, "serverC")
    assert report["groups"]["nas"]["resync_percent"] == percent and report["check"] == "WARNING"
    assert f"resync [" in statusview.format_status("serverC", report["groups"])
    world.cluster.advance(300)
    assert nas_findings(evaluate(world, "serverC"))[0][0] == check.OK


def test_drives_pulled_from_a_serving_node_leave_it_critical_until_it_lets_go(world):
    world.cluster["serverB"].run("kldload", "geom_mirror")
    move_drives(world, "serverC", "serverB")
    found = nas_findings(evaluate(world, "serverC"))
    prefix = f"not to be served here ({ELSEWHERE}) but "
    assert sorted(found) == [(check.CRITICAL, prefix + "/nas mounted"),
                             (check.CRITICAL, prefix + "holds address 192.0.2.30"),
                             (check.CRITICAL, prefix + "service mountd, nfsd, samba_server running")]
    reconcile(world, "serverC")                      # what the DEVFS event's worker pass does
    assert nas_findings(evaluate(world, "serverC")) == [(check.OK, f"not served here: {ELSEWHERE}")]


def test_the_mirror_here_with_its_owner_up_and_no_word_is_a_warning_saying_what_to_do(world):
    world.cluster["serverB"].run("kldload", "geom_mirror")
    move_drives(world, "serverC", "serverB")
    reconcile(world, "serverB")
    why = nas.decide(True, False, None, None).reason          # carpha.engine.nas's own words
    result = evaluate(world, "serverB")
    assert nas_findings(result) == [(check.WARNING, f"mirror/nas runs here but is not served: {why}; to serve "
                                                    "it here: carpha takeover nas; to pull its drives: "
                                                    "carpha release nas")]
    text = statusview.format_status("serverB", status(world, "serverB")["groups"])
    assert "  group nas: local-gmirror, not served here\n" f"    decision:  do not serve: {why}\n" in text
    # a node of the group mounting it behind carpha's back is serving what it must not
    world.cluster["serverB"].run("fsck", "-p", "-t", "ufs", "/dev/mirror/nas")
    world.cluster["serverB"].run("mount", "-t", "ufs", "/dev/mirror/nas", "/nas")
    assert (check.CRITICAL, f"not to be served here ({why}) but /nas mounted") in \
        nas_findings(evaluate(world, "serverB"))


def test_an_administrators_takeover_then_the_drives_is_ok_on_both_nodes_and_status_says_why(world):
    hand = nas.hand_over(nas_ctx(world, "serverB"), transitions.MASTER)
    assert hand[0] == transitions.BACKUP                      # no drives yet
    move_drives(world, "serverC", "serverB")
    reconcile(world, "serverB")
    reconcile(world, "serverC")
    served = nas_findings(evaluate(world, "serverB"))
    assert len(served) == 1 and served[0][0] == check.OK
    assert served[0][1].startswith("serving because its mirror is here and an administrator said so (carpha "
                                   "takeover at ")
    assert nas_findings(evaluate(world, "serverC")) == [(check.OK, f"not served here: {ELSEWHERE}")]
    report = status(world, "serverB")["groups"]["nas"]
    assert report["served"] and report["decision"]["role"] == transitions.MASTER
    assert report["resync_percent"] == 100
    json.dumps(report)                                        # --json prints it
    text = statusview.format_status("serverB", {"nas": report})
    assert text.splitlines()[1:3] == ["  group nas: local-gmirror, served here",
                                      f"    decision:  serve here: {report['decision']['reason']}"]
    assert "    services:  mountd running, nfsd running, samba_server running" in text
    assert "    storage:   mirror/nas COMPLETE (" in text
    assert "takeover:  " in text and "cron found CARP MASTER" not in text


def test_services_of_the_nas_running_on_a_node_without_its_drives_are_critical(world):
    world.cluster["serverB"].run("service", "nfsd", "onestart")
    assert (check.CRITICAL, f"not to be served here ({ELSEWHERE}) but service nfsd running") in \
        nas_findings(evaluate(world, "serverB"))


def test_run_if_master_runs_where_the_nas_is_served_only(world):
    def runs(node):
        ran = []
        ctx = nas_ctx(world, node)
        ctx.runner.executor = lambda argv, timeout, env, real=ctx.runner.executor: (
            (ran.append(argv), (0, "", ""))[1] if argv[0] == "touch" else real(argv, timeout, env))
        servedhere.run_if_master(ctx, ["touch", "/nas/.backup"], 10)
        return ran
    assert runs("serverC") and not runs("serverB")


def test_on_the_witness_node_the_witness_shares_services_may_run_without_the_nas(tmp_path):
    w = World(tmp_path, EXAMPLE_WITH_WITNESS)
    try:
        settle(w)
        nas.hand_over(nas_ctx(w, "serverC"), transitions.BACKUP)      # carpha release nas
        host = w.cluster["serverC"]
        assert host.services["nfsd"].get("pid") and host.services["mountd"].get("pid")
        result = evaluate(w, "serverC")
        assert nas_findings(result) == [(check.OK, f"not served here: {ELSEWHERE}")]
        host.run("service", "samba_server", "onestart")
        assert nas_findings(evaluate(w, "serverC")) == [
            (check.CRITICAL, f"not to be served here ({ELSEWHERE}) but service samba_server running")]
    finally:
        w.close()


def test_the_owner_getting_its_drives_back_during_maintenance_is_held_and_says_so_without_a_hint(world):
    from carpha.safety import maintenance
    away = move_drives(world, "serverC", "serverB")   # serverB has no geom_mirror loaded: not tasted
    reconcile(world, "serverC")
    maintenance.enable(world.configs["serverC"].paths.state_dir, "disk swap", 3600)
    move_drives(world, "serverB", "serverC", away)
    found = nas_findings(evaluate(world, "serverC"))
    assert len(found) == 1 and found[0][0] == check.WARNING, found
    assert found[0][1].startswith("mirror/nas runs here but is not served: ") and "disk swap" in found[0][1]
    assert "taking no automatic action" in found[0][1] and "carpha takeover" not in found[0][1]


def test_an_unreadable_mirror_is_unknown_and_nothing_is_guessed(world):
    result = check.evaluate(world.configs["serverC"], world.ctx("serverC", fail={("gmirror", "list")}).runner, LOG)
    found = nas_findings(result)
    assert found and all(level == check.UNKNOWN for level, _ in found)
    assert any(t.startswith("cannot read mirror: gmirror list: exit 1") for _, t in found)
    text = statusview.format_status("serverC", statusview.status_report(
        world.configs["serverC"], world.ctx("serverC", fail={("gmirror", "list")}).runner, LOG)["groups"])
    assert "    decision:  error: gmirror list: exit 1" in text
