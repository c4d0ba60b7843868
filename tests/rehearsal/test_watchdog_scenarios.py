"""The hardware-watchdog lease in `carpha simulate`: each scenario's
verdict comes from the simulated world (who runs jails, holds addresses,
can write which copy; which writes were acknowledged; when the board
reset), never from what carpha believes it did."""

import pytest

from carpha.rehearsal import harness, scenarios, simulate, steps

VERDICTS = {}


def verdict(name, seed=1):
    if (name, seed) not in VERDICTS:
        VERDICTS[name, seed] = simulate.run_scenario(name, seed=seed)
    return VERDICTS[name, seed]


def assert_safe(v):
    inv = v["invariants"]
    assert inv["jails_on_one_node"] and inv["addresses_on_one_node"] and inv["mirror_mounted_once"]
    assert v["max_nodes_serving_at_once"] == 1
    assert inv["acknowledged_writes_lost"] == 0, f"replay with --seed {v['seed']}"


def test_a_master_crash_with_the_watchdog_has_a_write_acknowledged_by_the_new_master_within_8_seconds():
    v = verdict("master-crash-watchdog")
    assert_safe(v)
    assert v["invariants"]["converged"]
    assert v["takeover_seconds"] <= 8
    parts = v["takeover_parts"]
    assert list(parts) == ["detection", "decision", "mirror", "fsck", "mount", "gate_wait", "announce", "jails",
                          "first_write"]       # to the first client write the new master acknowledges
    assert sum(parts.values()) == pytest.approx(v["takeover_seconds"], abs=0.01)
    assert parts["mirror"] < 1, "the mirror waited for the missing half (kern.geom.mirror.timeout)"


def test_the_standby_prepares_before_its_gate_and_serves_only_after_it():
    v = verdict("master-crash-watchdog")
    peer = [e for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "run"]
    kenv = next(i for i, e in enumerate(peer) if e["detail"].startswith("kenv kern.geom.mirror.timeout=0"))
    load = next(i for i, e in enumerate(peer) if e["detail"] == "kldload -n geom_mirror")
    mount = next(e for e in peer if e["detail"].startswith("mount "))
    alias = next(e for e in peer if e["detail"].startswith("ifconfig em0 inet 192.0.2.10/24 alias"))
    assert kenv < load, "the timeout must be lowered before the taste"
    crash = next(e["t"] for e in v["timeline"] if e["detail"] == "crash (power cut)")
    # margin 2.1 s + 4.81 s (ichwd: 4 ticks x 0.6 s, run down twice, + one 10 ms beat),
    # counted from the last evidence, at most one interval before the crash
    assert mount["t"] < alias["t"] and alias["t"] - crash >= 2.1 + 4.81 - 0.5 - 0.25


@pytest.mark.parametrize("seed", range(1, 51))
def test_an_isolated_master_with_the_watchdog_is_reset_and_never_shares_the_group(seed):
    v = verdict("isolate-master-watchdog", seed)
    assert_safe(v)
    assert v["invariants"]["converged"], f"replay with --seed {seed}"


def test_an_isolated_master_drops_its_addresses_then_its_board_resets_it_before_the_peer_serves():
    v = verdict("isolate-master-watchdog")
    said = [(e["t"], e["detail"]) for e in v["timeline"] if e["event"] == "watchdog" and e["node"] == "serverA"]
    assert "addresses down" in said[0][1] and said[1][1] == "the board's watchdog fired: reset"
    served = v["takeover_seconds"] + next(e["t"] for e in v["timeline"] if "loses every link" in e["detail"])
    assert said[0][0] < said[1][0] < served


def test_a_hung_master_is_reset_by_its_board_and_the_peer_serves_only_after_that():
    v = verdict("hung-master")
    assert_safe(v)
    assert v["invariants"]["converged"]
    assert v["reset_seconds"] == pytest.approx(4.85, abs=0.3)     # the last pet at most 0.1 s before
    assert v["takeover_seconds"] >= v["reset_seconds"]


def test_a_link_blip_fails_nothing_over_fences_nothing_and_restarts_no_jail():
    v = verdict("blip")
    assert_safe(v)
    assert v["invariants"]["converged"]
    # The addresses went down while there was no evidence and came back.
    kinds = [e["detail"] for e in v["timeline"] if e["event"] == "watchdog"]
    assert kinds and kinds[-1] == "round-trip evidence is back: petting again"


def test_a_stalled_witness_share_fails_nothing_over_and_the_petting_goes_on():
    v = verdict("nfs-stall")
    assert_safe(v)
    assert v["invariants"]["converged"]
    assert not [e for e in v["timeline"] if e["event"] in ("watchdog", "fence")]


def test_without_a_watchdog_the_software_fence_holds_and_is_no_slower():
    v = verdict("no-watchdog")
    assert_safe(v)
    assert v["invariants"]["converged"]
    # takeover_after (30 s) then the mirror, fsck and jails, as before the watchdog (39.6 s for seed 1)
    assert 30 <= v["takeover_seconds"] <= 41


def test_a_planned_switchover_with_the_watchdog_waits_for_no_gate(tmp_path):
    path = tmp_path / "carpha.yaml"
    path.write_text(open(harness.DEFAULT_CONFIG).read() + scenarios.WATCHDOG_SECTION)
    v = simulate.run_scenario("switchover", str(path))
    assert_safe(v)
    assert v["invariants"]["converged"]
    # The releasing node's record says it stopped: the target's addresses
    # follow its mount at once (a gate would hold them margin + 4.8 s).
    for target in ("serverB", "serverA"):
        runs = [e for e in v["timeline"] if e["node"] == target and e["event"] == "run"]
        mounted = next(e["t"] for e in runs if e["detail"].startswith("mount -t ufs"))
        claimed = next(e["t"] for e in runs if e["t"] >= mounted and e["detail"].endswith(" alias"))
        assert claimed - mounted < 0.5


def test_a_node_whose_watchdog_cannot_be_petted_never_serves_and_its_peer_does_not_count_on_it():
    import shutil
    import tempfile
    workdir = tempfile.mkdtemp(dir=harness.scratch_dir())
    text = open(harness.DEFAULT_CONFIG).read() + scenarios.WATCHDOG_SECTION
    r = harness.Rehearsal(text, "three-servers.yaml", workdir, watchdogs={"serverA": "none"})
    try:
        steps.steady_state(r)
        r.run_for(30)
        fenced = [e["detail"] for e in r.timeline if e["node"] == "serverA" and e["event"] == "fence"]
        assert fenced and "the watchdog cannot be petted" in fenced[0]
        # Nobody serves: serverA fences itself, and serverB has no
        # calibration of serverA's board to wait on. Loud, not two masters.
        assert r.serving() == [] and r.max_serving <= 1
    finally:
        r.close()
        shutil.rmtree(workdir, ignore_errors=True)
