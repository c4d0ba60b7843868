"""Planners are pure: (context, observation) -> steps. These tests pin the
FreeBSD traps each planner must handle, without running anything."""

import logging
import os

import pytest

from carpha.engine import transitions
from carpha.actions import addresses, jails, replica, storage
from carpha.actions.base import ActionFailed, Conflict, Context, Step, Wait, WriteFile
from carpha.config import loads
from carpha.host.runner import Runner
from conftest import ROOT

EXAMPLE = open(os.path.join(ROOT, "examples", "three-servers.yaml")).read()


def ctx_for(node="serverB", text=EXAMPLE):
    config = loads(text, "carpha.yaml", node=node)
    return Context(config, config.groups["web"], node, Runner(executor=None, dry_run=True),
                   logging.getLogger("test"))


def argvs(steps):
    return [s.argv for s in steps if isinstance(s, Step)]


def iface(inet=(), inet6=(), carp=()):
    return {"flags": ["UP"], "mtu": 1500, "ether": "58:9c:fc:00:00:02", "status": "active",
            "inet": [{"address": a, "prefixlen": p, "vhid": v} for a, p, v in inet],
            "inet6": [{"address": a, "prefixlen": p, "vhid": v} for a, p, v in inet6],
            "carp": [{"state": s, "vhid": v, "advbase": 1, "advskew": 100} for s, v in carp]}


# --- addresses ---------------------------------------------------------------

def test_claim_adds_missing_v4_and_v6_aliases_with_their_prefixes():
    seen = {"em0": iface(inet=[("192.0.2.2", 24, None)])}
    assert argvs(addresses.plan_claim(ctx_for(), seen)) == [
        ("ifconfig", "em0", "inet", "192.0.2.10/24", "alias"),
        ("ifconfig", "em0", "inet6", "2001:db8::10", "prefixlen", "64", "alias"),
    ]


def test_claim_never_re_adds_a_present_address():
    # re-adding is a delete+add that flaps routes and drops a vhid (reference 3.2)
    seen = {"em0": iface(inet=[("192.0.2.10", 24, None)], inet6=[("2001:db8::10", 64, None)])}
    assert addresses.plan_claim(ctx_for(), seen) == []


def test_claim_leaves_an_address_that_carp_owns_alone():
    seen = {"em0": iface(inet=[("192.0.2.10", 24, 1)], inet6=[("2001:db8::10", 64, None)])}
    assert addresses.plan_claim(ctx_for(), seen) == []


def test_claim_refuses_an_address_configured_on_another_interface():
    seen = {"em0": iface(), "em1": iface(inet=[("192.0.2.10", 24, None)])}
    with pytest.raises(Conflict, match="192.0.2.10 is configured on em1, not em0"):
        addresses.plan_claim(ctx_for(), seen)


def test_claim_refuses_a_missing_interface():
    with pytest.raises(Conflict, match="interface em0 does not exist on serverB"):
        addresses.plan_claim(ctx_for(), {"lo0": iface()})


def test_release_removes_only_our_plain_aliases():
    seen = {"em0": iface(inet=[("192.0.2.10", 24, None), ("192.0.2.9", 24, 1)],
                         inet6=[("2001:db8::10", 64, 1)])}
    assert argvs(addresses.plan_release(ctx_for(), seen)) == [("ifconfig", "em0", "inet", "192.0.2.10", "-alias")]


def test_release_of_absent_addresses_plans_nothing():
    # deleting a missing address exits 1 (SIOCDIFADDR): never try
    assert addresses.plan_release(ctx_for(), {"em0": iface()}) == []


# --- CARP hand-over (handover.plan_carp) --------------------------------------

def observed_vhid(advskew=100, **peers):
    return dict({"state": "MASTER", "vhid": 1, "advbase": 1, "advskew": advskew}, **peers)


def test_release_and_takeover_on_13x_pass_no_peer():
    from carpha.engine.handover import plan_carp
    assert plan_carp(ctx_for(), transitions.BACKUP, None, observed_vhid()) == [
        ("ifconfig", "em0", "vhid", "1", "advskew", "240"),
        ("ifconfig", "em0", "vhid", "1", "state", "backup")]
    assert plan_carp(ctx_for(), transitions.MASTER, 100, observed_vhid(240)) == [
        ("ifconfig", "em0", "vhid", "1", "advskew", "100"),
        ("ifconfig", "em0", "vhid", "1", "state", "master")]


def test_every_carp_command_repeats_an_observed_unicast_peer():
    # 14.x ifconfig resets peer/peer6 to multicast unless given (reference 2.2)
    from carpha.engine.handover import plan_carp
    seen = observed_vhid(peer="192.0.2.1", peer6="ff02::12")
    assert plan_carp(ctx_for(), transitions.BACKUP, None, seen) == [
        ("ifconfig", "em0", "vhid", "1", "advskew", "240", "peer", "192.0.2.1"),
        ("ifconfig", "em0", "vhid", "1", "state", "backup", "peer", "192.0.2.1")]
    seen = observed_vhid(240, peer="224.0.0.18", peer6="2001:db8::1")
    assert plan_carp(ctx_for(), transitions.MASTER, 100, seen) == [
        ("ifconfig", "em0", "vhid", "1", "advskew", "100", "peer6", "2001:db8::1"),
        ("ifconfig", "em0", "vhid", "1", "state", "master", "peer6", "2001:db8::1")]


# --- storage ------------------------------------------------------------------

def mirror(state="COMPLETE", components=(("ada1", "ACTIVE", 1),), genid=0, syncid=1, balance="load",
           configured=None):
    return {"name": "data", "state": state, "genid": genid, "syncid": syncid, "balance": balance,
            "component_count": len(components) if configured is None else configured,
            "components": [{"name": n, "state": s, "priority": p, "genid": genid, "syncid": syncid, "flags": []}
                           for n, s, p in components]}


def standby(**changes):
    seen = {"mounts": [], "ggated": True, "mirrors": None, "ggate": []}
    seen.update(changes)
    return seen


def test_promote_on_a_standby_fences_loads_waits_forgets_checks_and_mounts_in_order():
    steps = storage.plan_promote(ctx_for(), standby())
    assert [type(s).__name__ for s in steps] == ["Step", "Step", "Wait", "Step", "Step", "Step"]
    assert argvs(steps) == [
        ("pkill", "-f", "-x", r"ggated -p 3080 -F /var/run/carpha/ggated\.web\.pid /var/run/carpha/ggated\.web\.exports"),
        ("kldload", "-n", "geom_mirror"),
        ("gmirror", "forget", "data"),
        ("fsck", "-p", "-t", "ufs", "/dev/mirror/data"),
        ("mount", "-t", "ufs", "-o", "noatime", "/dev/mirror/data", "/data"),
    ]


def test_promote_when_already_serving_plans_nothing():
    seen = standby(ggated=False, mirrors={"data": mirror()},
                   mounts=[{"device": "/dev/mirror/data", "mountpoint": "/data", "fstype": "ufs", "options": []}])
    assert storage.plan_promote(ctx_for(), seen) == []


def test_promote_forgets_only_components_that_are_gone_not_ones_that_resync():
    syncing = mirror("DEGRADED", [("ada1", "ACTIVE", 1), ("ggate0", "SYNCHRONIZING", 0)], configured=2)
    seen = standby(ggated=False, mirrors={"data": syncing},
                   mounts=[{"device": "/dev/mirror/data", "mountpoint": "/data", "fstype": "ufs", "options": []}])
    assert storage.plan_promote(ctx_for(), seen) == []
    gone = mirror("DEGRADED", [("ada1", "ACTIVE", 1)], configured=2)
    seen["mirrors"] = {"data": gone}
    assert argvs(storage.plan_promote(ctx_for(), seen)) == [("gmirror", "forget", "data")]


def test_promote_uses_kldload_n_never_gmirror_load():
    # `gmirror load` is not idempotent (reference 4.4)
    steps = argvs(storage.plan_promote(ctx_for(), standby(ggated=False)))
    assert ("kldload", "-n", "geom_mirror") in steps and ("gmirror", "load") not in steps


def test_promote_refuses_to_stack_a_mount_over_an_occupied_mountpoint():
    seen = standby(ggated=False, mirrors={"data": mirror()},
                   mounts=[{"device": "/dev/ada0p4", "mountpoint": "/data", "fstype": "ufs", "options": []}])
    with pytest.raises(Conflict, match="/data already has /dev/ada0p4 mounted"):
        storage.plan_promote(ctx_for(), seen)


def test_promote_refuses_a_local_component_that_is_still_synchronizing():
    seen = standby(ggated=False, mirrors={"data": mirror("DEGRADED", [("ada1", "SYNCHRONIZING", 1)])})
    with pytest.raises(Conflict, match="ada1 is SYNCHRONIZING: its data is incomplete"):
        storage.plan_promote(ctx_for(), seen)


def test_fsck_policy_yes_falls_back_to_a_full_check_and_none_skips_it():
    text = EXAMPLE.replace("options: [noatime]", "options: [noatime]\n        fsck: 'yes'")
    steps = storage.plan_promote(ctx_for(text=text), standby(ggated=False, mirrors={"data": mirror()}))
    fsck = next(s for s in steps if s.argv[0] == "fsck")
    assert fsck.argv == ("fsck", "-p", "-t", "ufs", "/dev/mirror/data")
    assert fsck.fallback.argv == ("fsck", "-y", "-t", "ufs", "/dev/mirror/data")
    assert fsck.again_on == fsck.fallback.again_on == 16        # "PLEASE RERUN FSCK": run it once more
    text = EXAMPLE.replace("options: [noatime]", "options: [noatime]\n        fsck: none")
    steps = storage.plan_promote(ctx_for(text=text), standby(ggated=False, mirrors={"data": mirror()}))
    assert not any(s.argv[0] == "fsck" for s in steps)


def test_demote_stops_the_mirror_before_detaching_the_peer_disk_then_unloads_and_exports():
    seen = {"mounts": [{"device": "/dev/mirror/data", "mountpoint": "/data", "fstype": "ufs", "options": []}],
            "ggated": False, "ggate": [{"unit": 0, "device": "ggate0"}],
            "mirrors": {"data": mirror(components=[("ada1", "ACTIVE", 1), ("ggate0", "ACTIVE", 0)])}}
    steps = storage.plan_demote(ctx_for("serverA"), seen)
    assert argvs(steps) == [
        ("umount", "/data"),
        ("gmirror", "stop", "data"),
        ("ggatec", "destroy", "-f", "-u", "0"),
        ("kldunload", "geom_mirror"),
        ("ggated", "-p", "3080", "-F", "/var/run/carpha/ggated.web.pid", "/var/run/carpha/ggated.web.exports"),
    ]
    exports = next(s for s in steps if isinstance(s, WriteFile))
    assert exports.content == "192.0.2.2\tRW\t/dev/ada1\n"   # only the peer may attach
    assert steps[0].fallback.argv == ("umount", "-f", "/data")
    assert steps[1].fallback.argv == ("gmirror", "stop", "-f", "data")


def test_demote_keeps_geom_mirror_loaded_when_another_mirror_uses_it():
    seen = {"mounts": [], "ggated": True, "ggate": [],
            "mirrors": {"data": mirror(), "boot": dict(mirror(), name="boot")}}
    assert argvs(storage.plan_demote(ctx_for(), seen)) == [("gmirror", "stop", "data")]


def test_demote_of_a_standby_already_exporting_plans_nothing():
    assert storage.plan_demote(ctx_for(), {"mounts": [], "ggated": True, "ggate": [], "mirrors": None}) == []


def test_the_ggated_match_is_an_exact_literal_regex_of_its_argv():
    from carpha.freebsd import commands as cmd
    assert cmd.ere_literal("a.b[c]*+?{1}|^$\\(x)") == r"a\.b\[c\]\*\+\?\{1\}\|\^\$\\\(x\)"
    assert cmd.pgrep_argv(("ggated", "-p", "3080", "/x.y")) == ("pgrep", "-f", "-x", r"ggated -p 3080 /x\.y")


# --- replica ------------------------------------------------------------------

def test_attach_creates_the_ggate_without_a_sweep_and_inserts_nothing_yet():
    # No -t: a write to a dead peer waits until carpha drops the half on
    # purpose (replica_drop); -t N could fail it 4 s after issue.
    seen = {"mirror": mirror(), "ggate": False, "dump": None}
    assert argvs(replica.plan_attach(ctx_for("serverA"), seen)) == [
        ("ggatec", "create", "-o", "rw", "-p", "3080", "-u", "0", "192.0.2.2", "/dev/ada1")]


def test_attach_ranks_the_local_disk_first_before_the_peers_disk_appears():
    # Regression: the list is sorted when a disk attaches, a tie in front;
    # configure -p afterwards does not re-sort (g_mirror_update_disk()).
    seen = {"mirror": mirror("COMPLETE", [("ada1", "ACTIVE", 0)]), "ggate": False, "dump": None}
    assert argvs(replica.plan_attach(ctx_for("serverA"), seen))[:1] == [
        ("gmirror", "configure", "-p", "1", "data", "ada1")]


def test_attach_inserts_a_stale_peer_disk_and_prefers_local_reads():
    seen = {"mirror": mirror("COMPLETE", [("ada1", "ACTIVE", 1)], genid=2, syncid=7), "ggate": True,
            "dump": {"name": "data", "genid": 1, "syncid": 9}}
    assert argvs(replica.plan_attach(ctx_for("serverA"), seen)) == [
        ("gmirror", "insert", "-p", "0", "data", "ggate0"),
        ("gmirror", "configure", "-b", "prefer", "data"),
    ]


def test_attach_forgets_a_departed_component_before_inserting():
    seen = {"mirror": mirror("DEGRADED", [("ada1", "ACTIVE", 1)], balance="prefer", configured=2),
            "ggate": True, "dump": {}}
    assert argvs(replica.plan_attach(ctx_for("serverA"), seen)) == [
        ("gmirror", "forget", "data"), ("gmirror", "insert", "-p", "0", "data", "ggate0")]


def test_attach_forgets_when_more_halves_are_active_than_the_mirror_counts():
    # Regression: after `forget` at promotion the kernel tastes the returning
    # disk in, and Components: 1 with two ACTIVE halves stays DEGRADED.
    seen = {"mirror": mirror("DEGRADED", [("ada1", "ACTIVE", 1), ("ggate0", "ACTIVE", 0)], balance="prefer",
                             configured=1), "ggate": True, "dump": None}
    assert argvs(replica.plan_attach(ctx_for("serverA"), seen)) == [("gmirror", "forget", "data")]


def test_attach_takes_out_and_reinserts_a_peer_disk_that_attached_ahead_of_the_local_one():
    seen = {"mirror": mirror("COMPLETE", [("ggate0", "SYNCHRONIZING", 1), ("ada1", "ACTIVE", 1)],
                             balance="prefer"), "ggate": True, "dump": None}
    assert argvs(replica.plan_attach(ctx_for("serverA"), seen)) == [
        ("gmirror", "remove", "data", "ggate0"), ("gmirror", "insert", "-p", "0", "data", "ggate0")]


def test_attach_after_resolve_waits_until_the_peer_blanked_its_disk():
    seen = {"mirror": mirror(), "ggate": False, "dump": None, "rebuild_owed": True,
            "peer_not_blank": "not attaching serverB's disk until serverB says it blanked it"}
    with pytest.raises(ActionFailed, match="blanked"):
        replica.plan_attach(ctx_for("serverA"), seen)


def test_attach_refuses_a_peer_disk_fresher_than_the_running_mirror():
    seen = {"mirror": mirror(genid=0, syncid=3), "ggate": True, "dump": {"name": "data", "genid": 0, "syncid": 4}}
    with pytest.raises(Conflict, match="fresher than mirror/data .*0/4 > 0/3"):
        replica.plan_attach(ctx_for("serverA"), seen)


def test_attach_refuses_a_peer_disk_carrying_another_mirrors_metadata():
    seen = {"mirror": mirror(), "ggate": True, "dump": {"name": "backup", "genid": 0, "syncid": 1}}
    with pytest.raises(Conflict, match="metadata of another mirror \\('backup', not 'data'\\)"):
        replica.plan_attach(ctx_for("serverA"), seen)


def test_attach_refuses_a_peer_disk_whose_metadata_cannot_be_read():
    seen = {"mirror": mirror(), "ggate": True, "dump": None}
    with pytest.raises(Conflict, match="freshness is unknown"):
        replica.plan_attach(ctx_for("serverA"), seen)


def test_attach_when_replica_is_in_place_plans_nothing():
    seen = {"mirror": mirror(components=[("ada1", "ACTIVE", 1), ("ggate0", "SYNCHRONIZING", 0)], balance="prefer"),
            "ggate": True, "dump": None}
    assert replica.plan_attach(ctx_for("serverA"), seen) == []


# --- jails ----------------------------------------------------------------------

def test_start_jails_uses_onestart_for_each_missing_jail_in_order():
    steps = jails.plan_start(ctx_for(), {"jails": {"db"}, "services": set()})
    assert argvs(steps) == [("service", "jail", "onestart", "www")]


def test_stop_jails_in_reverse_order_with_jail_r_as_fallback():
    steps = jails.plan_stop(ctx_for(), {"jails": {"www", "db"}, "services": set()})
    assert argvs(steps) == [("service", "jail", "onestop", "db"), ("service", "jail", "onestop", "www")]
    assert steps[0].fallback.argv == ("jail", "-r", "db")


def test_the_assembly_wait_refuses_a_local_half_that_is_still_resynchronising():
    # format of `gmirror list` (shared sample gmirror_list), one consumer syncing
    listing = """Geom name: data
State: DEGRADED
Components: 2
Balance: load
Slice: 4096
Flags: NONE
GenID: 0
SyncID: 3
ID: 412366882
Providers:
1. Name: mirror/data
   Mediasize: 4000787029504 (3.6T)
   Sectorsize: 512
   Mode: r0w0e0
Consumers:
1. Name: ada1
   Mediasize: 4000787030016 (3.6T)
   Sectorsize: 512
   Mode: r1w1e1
   State: SYNCHRONIZING
   Priority: 1
   Flags: DIRTY, SYNCHRONIZING
   GenID: 0
   SyncID: 3
   Synchronized: 42%
   ID: 2084047887

"""
    ctx = ctx_for()
    ctx.runner = Runner(executor=lambda argv, timeout, env: (0, listing, ""))
    wait = next(s for s in storage.plan_promote(ctx, standby()) if isinstance(s, Wait))
    with pytest.raises(Conflict, match="local component ada1 is SYNCHRONIZING"):
        wait.ready(ctx)


def test_claim_waits_for_ipv6_duplicate_address_detection_before_going_on():
    from carpha import clock
    from carpha.actions import base
    from carpha.sim.clock import SimClock
    steps = addresses.plan_claim(ctx_for(), {"em0": iface(inet=[("192.0.2.2", 24, None)])})
    assert isinstance(steps[-1], Wait) and steps[-1].ready is addresses._dad_done
    head = "em0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
    tentative = head + "\tinet6 2001:db8::10 prefixlen 64 tentative\n"
    done = head + "\tinet6 2001:db8::10 prefixlen 64\n"
    answers = [tentative, tentative, done]
    ctx = ctx_for()
    ctx.runner = Runner(executor=lambda argv, timeout, env: (0, answers.pop(0), ""))
    previous = clock.use(SimClock())
    try:
        base._wait(ctx, steps[-1])                    # polls until the flag clears
    finally:
        clock.use(previous)
    assert answers == []
