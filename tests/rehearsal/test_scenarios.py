"""Every `carpha simulate` scenario, asserting its invariants. The
simulated clock drives carpha's own timeouts, so timing bounds are checked
in simulated seconds."""

import json
import os
import subprocess
import sys

import pytest

from carpha.ops import check
from carpha.rehearsal import harness, scenarios, simulate
from conftest import LIB, ROOT

VERDICTS = {}


def verdict(name):
    if name not in VERDICTS:
        VERDICTS[name] = simulate.run_scenario(name)
    return VERDICTS[name]


def assert_safe(v):
    inv = v["invariants"]
    assert inv["jails_on_one_node"], "a jail ran on two nodes"
    assert inv["addresses_on_one_node"], "an address was on two nodes"
    assert inv["mirror_mounted_once"], "the mirror was mounted on two nodes"
    assert v["max_nodes_serving_at_once"] == 1


def test_master_crash_moves_the_group_to_the_peer_without_losing_a_write():
    v = verdict("master-crash")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"]
    # The witness lease first: serverB promotes only once serverA's record
    # has been silent for takeover_after_seconds (30 s; serverA's last beat
    # was up to 2 s before the crash). Then gmirror waits
    # kern.geom.mirror.timeout (4 s) for the missing half; fsck, mount and
    # the first jail follow.
    assert 28 <= v["takeover_seconds"] <= 50, v["takeover_seconds"]
    held = [e["detail"] for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "worker"]
    assert held and held[0].startswith("event: web -> MASTER")
    assert v["final"]["serverB"]["jails"] == ["db", "www"]
    assert v["final"]["serverB"]["mirror"]["state"] == "COMPLETE"


def test_master_crash_timeline_shows_fence_promote_mount_claim_start_in_order():
    runs = [e["detail"] for e in verdict("master-crash")["timeline"] if e["node"] == "serverB" and e["event"] == "run"]
    def index(prefix):
        return next(i for i, d in enumerate(runs) if d.startswith(prefix))
    assert index("pkill -f -x") < index("kldload -n geom_mirror") < index("gmirror forget data") \
        < index("fsck -p -t ufs /dev/mirror/data") < index("mount -t ufs") < index("ifconfig em0 inet 192.0.2.10/24 alias") \
        < index("carpha-garp") < index("service jail onestart www")


def test_backup_crash_and_return_degrades_then_resynchronises():
    v = verdict("backup-crash-and-return")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"], v["final"]
    assert v["final"]["serverA"]["mirror"]["state"] == "COMPLETE"
    assert set(v["final"]["serverA"]["mirror"]["components"]) == {"ada1", "ggate0"}
    # No ggate sweep: serverA's heartbeat dropped serverB's half on purpose
    # (ENXIO: syncid bumped, not genid); back, the kernel tastes it in for a
    # full copy (lower syncid) and carpha counts it as the mirror's (forget).
    runs = [e["detail"] for e in v["timeline"] if e["node"] == "serverA" and e["event"] == "run"]
    dropped = runs.index("ggatec destroy -f -u 0")
    created = runs.index("ggatec create -o rw -p 3080 -u 0 192.0.2.2 /dev/ada1")
    assert dropped < created and "gmirror forget data" in runs[created:]
    crash = next(e["t"] for e in v["timeline"] if e["event"] == "scenario" and "crash" in e["detail"])
    drop = next(e["t"] for e in v["timeline"] if e["event"] == "run" and e["detail"] == "ggatec destroy -f -u 0")
    assert drop - crash <= 6 + 2 + 0.5        # drop_after_seconds + one beat
    # when the half went, serverA's record on the witness already said so
    assert v["published_at_drop"]["replica_in_sync"] is False


def test_planned_release_moves_the_group_and_it_stays_moved():
    v = verdict("planned-release")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"]
    assert v["final"]["serverB"]["jails"] == ["db", "www"] and v["final"]["serverA"]["jails"] == []


def test_flap_of_100_transitions_ends_in_the_last_state_with_no_double_start():
    v = verdict("flap")
    assert_safe(v)
    assert v["invariants"]["converged"]
    assert v["final"]["serverA"]["carp"]["web"] == "MASTER"


def test_boot_both_ends_with_exactly_one_node_serving():
    v = verdict("boot-both")
    assert_safe(v)
    assert v["invariants"]["converged"]
    assert v["invariants"]["acknowledged_writes_lost"] == 0


def test_a_backup_in_maintenance_does_not_take_over_and_says_why():
    v = verdict("maintenance-backup")
    assert_safe_or_idle(v)
    assert v["invariants"]["converged"], "serverB must hold and journal the maintenance reason"
    b = v["final"]["serverB"]
    assert b["jails"] == [] and b["mounts"] == [] and b["addresses"] == [] and b["mirror"] == {}


def assert_safe_or_idle(v):
    inv = v["invariants"]
    assert inv["jails_on_one_node"] and inv["addresses_on_one_node"] and inv["mirror_mounted_once"]
    assert v["max_nodes_serving_at_once"] <= 1


def test_simulate_cli_prints_json_and_exits_0_when_invariants_hold():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_NO_SYSLOG": "1"}
    result = subprocess.run([sys.executable, "-m", "carpha.cli.main", "simulate", "--scenario", "master-crash", "--json"],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert set(data) >= {"scenario", "timeline", "final", "invariants", "takeover_seconds"}
    assert set(data["invariants"]) == {"jails_on_one_node", "addresses_on_one_node", "mirror_mounted_once",
                                       "acknowledged_writes_lost", "converged"}


def test_switchover_there_and_back_loses_no_acknowledged_write():
    v = verdict("switchover")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"] and v["final"]["serverA"]["jails"] == ["db", "www"]
    assert all(seconds < 60 for seconds in v["switchover_seconds"]), v["switchover_seconds"]
    said = [e["detail"] for e in v["timeline"] if e["event"] == "switchover"]
    assert said[0] == "web: serverA lets go (jails, addresses, mirror), then hands CARP to serverB"
    assert said[-1].startswith("web: serverA serves 192.0.2.10 after ")


def test_a_peer_link_partition_keeps_the_jails_on_the_master_only():
    v = verdict("peer-link-partition")
    assert_safe(v)
    assert v["invariants"]["converged"], "serverB must be CARP MASTER yet refuse, then all heals"
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    held = [e["detail"] for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "worker"]
    assert any("held: witness: serverA's record advanced" in d for d in held)


def test_with_the_witness_down_a_master_crash_is_not_followed_by_a_blind_promotion():
    v = verdict("witness-down-then-master-crash")
    assert_safe_or_idle(v)
    assert v["invariants"]["converged"], "serverA served until it died; serverB held and said why"
    held = [e["detail"] for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "worker"]
    assert any("held: witness unreachable: cannot write our record" in d for d in held)


def test_a_stale_replica_is_refused_until_the_loss_is_accepted_and_the_loss_is_counted():
    v = verdict("stale-replica")
    assert_safe(v)
    assert v["invariants"]["converged"], "serverB refused, then served after --accept-data-loss"
    assert v["invariants"]["acknowledged_writes_lost"] == 0     # nothing written while in sync is lost
    assert v["accepted_writes_lost"] > 0                        # the writes made on serverA alone
    held = [e["detail"] for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "worker"]
    assert any("held: our replica is out of date: serverA recorded it out of sync" in d for d in held)


def test_an_isolated_master_fences_itself_before_the_peer_takes_over_and_no_write_is_lost():
    v = verdict("isolate-master")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"]
    # 13 forced steps x 1 s + fence_after 8 + interval 2 (examples/three-servers.yaml)
    assert v["fencing_bound_seconds"] == 23
    assert v["fence_seconds"] <= 23
    # the fence starts once the record is fence_after (8 s) stale, checked
    # every beat (2 s); the simulated commands themselves take no time
    assert v["fence_seconds"] <= 8 + 2
    # serverB waits for serverA's lease: 30 s after serverA's last renewal,
    # which was at most one interval (2 s) before the cut
    assert 28 <= v["takeover_seconds"] <= 45
    fence = [e for e in v["timeline"] if e["node"] == "serverA" and e["event"] == "run"]
    assert [e["detail"].split()[:2] for e in fence[:4]] == [
        ["ifconfig", "em0"], ["ifconfig", "em0"], ["pkill", "-KILL"], ["pkill", "-KILL"]]
    # the link back: serverA stays a demoted standby until serverB has
    # resynchronised its half (`converged` checks that order in the world);
    # then the preferred node may take the group back
    assert v["final"]["serverB"]["mirror"] == {} or v["final"]["serverB"]["mirror"]["state"] in (
        "COMPLETE", "DEGRADED")


def test_a_rebooted_preferred_node_takes_the_group_back_only_once_its_replica_is_in_sync():
    v = verdict("reboot-preferred")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["took_back_after_sync"], "serverA served before serverB's mirror was COMPLETE"
    assert v["invariants"]["converged"] and v["final"]["serverA"]["jails"] == ["db", "www"]
    boot = next(e["t"] for e in v["timeline"] if e["detail"] == "boot")
    hold = next(e for e in v["timeline"] if e["node"] == "serverA" and e["event"] == "run")
    assert (hold["t"], hold["detail"]) == (boot, "sysctl net.inet.carp.demotion=240")


def test_a_clock_step_after_boot_keeps_carphas_demotion_exact_until_the_replica_is_in_sync():
    v = verdict("clock-step")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"], v["demotion"]
    # serverA's net.inet.carp.demotion: raised once at boot, still 240 after
    # the step (not added again), back to 0 only after serverB recorded its
    # half in sync (not forgotten), and serverA serves again
    assert v["demotion"] == {"at_boot": 240, "after_step": 240, "highest": 240, "final": 0}
    assert v["recorded_in_sync_seconds"] <= v["released_seconds"]
    assert v["final"]["serverA"]["jails"] == ["db", "www"]
    step = next(e["t"] for e in v["timeline"] if e["detail"].startswith("ntpd steps the clock"))
    released = [e for e in v["timeline"] if e["node"] == "serverA" and e["event"] == "run"
                and e["detail"].startswith("sysctl net.inet.carp.demotion=")]
    assert [e["detail"] for e in released] == ["sysctl net.inet.carp.demotion=240",
                                               "sysctl net.inet.carp.demotion=-240"]
    assert released[0]["t"] < step < released[1]["t"]


def test_a_split_brain_is_held_until_resolved_then_the_peers_half_is_copied_in_full():
    v = verdict("split-brain-heal")
    assert_safe(v)
    assert v["generations_at_heal"] == {"serverA": 2, "serverB": 2}     # promoted apart, same number
    assert v["refused_before_resolve"], "serverA touched serverB's disk before `carpha resolve`"
    assert v["invariants"]["acknowledged_writes_lost"] == 0           # only serverB's writes are lost...
    assert v["accepted_writes_lost"] > 0                               # ...as the administrator chose
    assert v["invariants"]["converged"], v["final"]
    assert v["final"]["serverA"]["mirror"] == {"name": "data", "state": "COMPLETE",
                                               "components": {"ada1": "ACTIVE", "ggate0": "ACTIVE"}}
    timeline = v["timeline"]
    alert = next(e for e in timeline if e["event"] == "alert")
    assert alert["node"] == "serverA" and alert["detail"].startswith("split brain in web (generation 2)")
    resolved = next(e["t"] for e in timeline if e["event"] == "resolve")
    attached = [e for e in timeline if e["node"] == "serverA" and e["event"] == "run"
                and e["detail"].startswith(("ggatec create", "gmirror insert", "gmirror rebuild"))]
    assert attached and all(e["t"] > resolved for e in attached)
    # the diverged half never joins unsynchronised: serverB blanks its disk
    # (a clean disk with equal genid/syncid would be tasted in ACTIVE), and
    # only then does serverA attach it, through a full insert
    assert [e["detail"].split()[:2] for e in attached] == [["ggatec", "create"], ["gmirror", "insert"]]
    blanked = next(e for e in timeline if e["node"] == "serverB" and e["detail"] == "gmirror clear ada1")
    assert resolved < blanked["t"] <= attached[0]["t"]
    assert v["reads_from_diverged_half"] == 0
    status = next(e["detail"] for e in timeline if e["event"] == "status")
    assert status.startswith("split brain: generation 2: serverA and serverB both promoted web")


@pytest.mark.parametrize("seed", range(1, 51))
def test_an_isolated_master_loses_no_write_and_never_shares_the_group_whatever_the_phases(seed):
    # Every timer's phase (heartbeats, client, cron, the moment of the cut)
    # is drawn from the seed; the invariants must hold for each.
    v = simulate.run_scenario("isolate-master", seed=seed)
    assert v["seed"] == seed
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0, f"replay with --seed {seed}"
    assert v["invariants"]["converged"], f"replay with --seed {seed}"


def test_the_same_seed_replays_the_same_run_and_another_seed_moves_the_phases():
    import re

    def events(v):
        return [(e["t"], e["node"], e["event"], re.sub(r"(/[\w.-]+)*/carpha-sim-[^/]+/", "", e["detail"]))
                for e in v["timeline"]]
    one, again, other = (simulate.run_scenario("master-crash", seed=s) for s in (7, 7, 8))
    assert events(one) == events(again)
    assert events(one) != events(other)


def test_a_jail_that_ignores_sigterm_and_hangs_on_the_dead_peer_is_still_gone_within_the_fence_bound():
    v = verdict("fence-stuck-jail")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"], v["final"]
    assert v["jails_gone_seconds"] <= v["fencing_bound_seconds"]
    runs = [e["detail"] for e in v["timeline"] if e["node"] == "serverA" and e["event"] == "run"]
    # SIGKILL before the I/O is unblocked, jail -R only once the jail is empty
    assert runs.index("pkill -KILL -j www") < runs.index("ggatec destroy -f -u 0") < runs.index("jail -R www")


def test_failover_after_failover_needs_no_hand_and_ends_with_both_halves_active_each_time():
    v = verdict("double-failover")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"], v["final"]
    assert len(v["takeover_seconds_per_cycle"]) == 3 and all(v["takeover_seconds_per_cycle"])
    assert all(t is not None for t in v["complete_after_return_seconds"])
    serving = [n for n, s in v["final"].items() if s["jails"]][0]
    assert v["final"][serving]["mirror"]["components"] == {"ada1": "ACTIVE", "ggate0": "ACTIVE"}
    assert v["final"][serving]["mirror"]["state"] == "COMPLETE"
    # no refusal on the way: the second and third failovers were automatic
    assert not any(e["event"] == "worker" and "held" in e["detail"] and e["node"] == serving
                   for e in v["timeline"])


# --- the promotion protocol -------------------------------------------------------

@pytest.mark.parametrize("name", ["promote-while-preferred-boots", "switchover-flap-partition",
                                  "release-dead-standby", "refusing-master-yields", "release-idle-node",
                                  "probe-fails-once", "promote-after-fence"])
def test_a_promotion_protocol_hole_ends_live_with_no_write_lost_and_never_two_serving(name):
    v = verdict(name)
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0, f"replay: carpha simulate --scenario {name}"
    assert v["invariants"]["converged"], v["final"]
    assert v["reads_from_diverged_half"] == 0


def test_an_intent_to_serve_is_on_the_witness_before_the_jails_start():
    v = verdict("promote-while-preferred-boots")
    runs = [e for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "run"]
    first_alias = next(e["t"] for e in runs if e["detail"].startswith("ifconfig em0 inet 192.0.2.10"))
    # serverA booted inside serverB's promotion and never served
    assert not any(e["node"] == "serverA" and e["detail"].startswith("service jail onestart")
                   for e in v["timeline"] if e["t"] < first_alias + 30)


def test_a_takeover_that_cannot_read_the_peers_record_is_refused_and_says_what_to_do():
    v = verdict("takeover-peer-unknown")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["invariants"]["converged"]                 # nobody serves: the refusal is correct
    assert "serverB's witness record cannot be read" in v["refusal"]
    assert "carpha takeover web --accept-data-loss" in v["refusal"]


def test_a_release_with_the_standby_dead_leaves_the_replica_recorded_out_of_date():
    v = verdict("release-dead-standby")
    assert v["published_after_release"]["replica_in_sync"] is False
    assert v["final"]["serverA"]["jails"] == ["db", "www"]


def test_a_release_on_an_idle_node_says_nothing_about_the_peers_replica():
    v = verdict("release-idle-node")
    assert v["published_by_idle_release"]["out_of_sync_since_generation"] is None


def test_a_fenced_node_promotes_again_without_a_reboot():
    v = verdict("promote-after-fence")
    assert v["geom_mirror_loaded_after_fence"]
    runs = [e["detail"] for e in v["timeline"] if e["node"] == "serverA" and e["event"] == "run"]
    assert runs.index("kldunload geom_mirror") < runs.index("kldload -n geom_mirror")
    assert v["accepted_writes_lost"] > 0


def test_ggate_reconnect_attaches_the_returning_standby_within_seconds_not_at_cron():
    v = verdict("ggate-reconnect")
    assert_safe(v)
    assert v["invariants"]["acknowledged_writes_lost"] == 0 and v["invariants"]["converged"]
    # serverB's disk is back in serverA's mirror within seconds of its boot,
    # by the heartbeat's back-off, not by cron's minute
    assert v["attached_seconds_after_return"] is not None and v["attached_seconds_after_return"] <= 15
    assert not v["cron_ran_before_attach"]
    said = [e["detail"] for e in v["timeline"] if e["node"] == "serverA" and e["event"] == "heartbeat"]
    assert "web: attaching the peer's half again" in said
    assert v["final"]["serverA"]["mirror"]["state"] == "COMPLETE"


def test_multi_vhid_group_moves_as_one_and_is_never_split():
    v = verdict("multi-vhid")
    assert_safe(v)           # never the group's addresses on two nodes
    assert v["invariants"]["acknowledged_writes_lost"] == 0 and v["invariants"]["converged"]
    # serverA's DMZ link down: its LAN vhid follows (preempt + ifdown
    # demotion), serverB serves both networks; serverA takes the group back
    # once its link is up and its half in sync
    assert v["takeover_seconds"] is not None and v["takeover_seconds"] <= 30
    assert v["taken_back_seconds"] is not None
    assert v["started_where_a_vhid_was_not_master"] == []
    claimed = [e["detail"] for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "run"
               and e["detail"].endswith(" alias")]
    assert claimed == ["ifconfig em0 inet 192.0.2.10/24 alias", "ifconfig em1 inet 198.51.100.10/24 alias"]


def test_multi_vhid_refuses_a_config_with_one_vhid(tmp_path):
    from carpha.exits import CarphaError
    rehearsal = harness.Rehearsal(open(harness.DEFAULT_CONFIG).read(), "three-servers.yaml", str(tmp_path))
    try:
        with pytest.raises(CarphaError, match="multi-vhid needs a group with two vhids"):
            scenarios.SCENARIOS["multi-vhid"](rehearsal)
    finally:
        rehearsal.close()


def test_nas_move_serves_from_serverb_and_serverc_back_without_drives_serves_nothing():
    v = verdict("nas-move")
    assert_safe(v)
    assert v["invariants"]["converged"] and v["invariants"]["acknowledged_writes_lost"] == 0
    assert v["nas_served_on"] == ["serverB"] and not v["nas_on_two_nodes"]
    # served as soon as the kernel assembled the moved drives (gmirror's
    # launch, then fsck, mount, the address, the services)
    assert v["nas_served_seconds_after_move"] is not None and v["nas_served_seconds_after_move"] <= 15
    runs = [e["detail"] for e in v["timeline"] if e["node"] == "serverB" and e["event"] == "run"]
    assert runs.index("mount -t ufs /dev/mirror/nas /nas") < runs.index("ifconfig em0 inet 192.0.2.30/24 alias") \
        < runs.index("service mountd onestart") < runs.index("service nfsd onestart") \
        < runs.index("service samba_server onestart")
    assert v["final"]["serverC"]["jails"] == [] and v["final"]["serverA"]["jails"] == ["db", "www"]
    # carpha check: the NAS OK where it went and on serverC back without its
    # drives (exit 0: the NAS is all serverC has); serverA and serverB warn
    # of the witness gone, and serverB does not call web served nowhere for
    # it: its peer's record cannot be read, and CARP says serverA is MASTER.
    moved, back = v["check_codes"]
    assert moved["stage"] == "NAS moved" and moved["groups"]["serverB"]["nas"] == check.OK
    assert back["stage"] == "serverC back without its drives" and back["codes"]["serverC"] == check.OK
    assert back["groups"]["serverB"]["nas"] == check.OK
    for stage in (moved, back):
        assert stage["codes"]["serverA"] == stage["codes"]["serverB"] == check.WARNING
        assert stage["groups"]["serverB"]["web"] == check.WARNING
