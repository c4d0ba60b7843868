"""The FreeBSD traps of ../shared/freebsd-reference.md sections 3-8, each
met on the simulated hosts and handled by carpha."""

import dataclasses
import ipaddress

import pytest

from carpha import config
from carpha.engine import transitions
from carpha.actions import addresses, jails, replica, storage
from carpha.actions.base import ActionFailed, Conflict, apply
from simworld import EXAMPLE, World


def vhid_of(host, address):
    return next(a.vhid for i in host.interfaces.values() for a in i.addrs if a.addr == address)


def test_3_2_claiming_an_address_carp_owns_never_re_adds_it_so_its_vhid_stays(tmp_path):
    # config check refuses the vhid's own address among the aliases; the
    # action must not touch it even so (a config built some other way).
    w = World(tmp_path)
    for node, cfg in w.configs.items():
        web = cfg.groups["web"]
        own = config.Alias("em0", ipaddress.ip_interface("192.0.2.9/24"))
        w.configs[node] = dataclasses.replace(cfg, groups={**cfg.groups, "web": dataclasses.replace(
            web, addresses=web.addresses + (own,))})
    try:
        host = w.cluster["serverA"]
        assert vhid_of(host, "192.0.2.9") == 1
        ctx = w.ctx()
        apply(addresses.CLAIM, ctx)
        assert not any("192.0.2.9" in argv for argv in ctx.runner.changes())
        assert vhid_of(host, "192.0.2.9") == 1           # re-adding would have dropped it
        apply(addresses.RELEASE, w.ctx())
        assert vhid_of(host, "192.0.2.9") == 1           # and release leaves CARP's address alone
    finally:
        w.close()


def test_4_4_promote_with_geom_mirror_already_loaded_never_runs_gmirror_load(world):
    host = world.cluster["serverA"]
    assert host.run("kldload", "-n", "geom_mirror")[0] == 0
    world.cluster.advance(5)
    assert host.run("gmirror", "load")[0] == 1           # the trap itself: not idempotent
    ctx = world.ctx()
    apply(storage.PROMOTE, ctx)
    assert ("gmirror", "load") not in ctx.runner.changes()
    assert "data" in host.mirrors


def test_4_3_a_peer_disk_fresher_than_our_mirror_is_refused_not_overwritten(world):
    a, b = world.cluster["serverA"], world.cluster["serverB"]
    transitions.run(world.ctx(), transitions.MASTER)          # A serves, B's disk inserted
    world.cluster.advance(60)                                 # resync completes
    assert a.mirrors["data"].status() == "COMPLETE"
    world.cluster.cut("serverA", "serverB")
    assert world.cluster.write("serverA", "www") is False     # waits on B (no ggate -t)
    assert a.run("ggatec", "destroy", "-f", "-u", "0")[0] == 0   # dropped on purpose: done on A alone
    world.cluster.write("serverA", "www")
    fresh = set(a.disks["ada1"].blocks)
    world.cluster.crash("serverA")
    # A went on writing after B's half left (each drop and re-attach bumps
    # syncid): A's disk is ahead of anything B's mirror will reach.
    a.disks["ada1"].md["syncid"] += 5
    world.cluster.heal("serverA", "serverB")
    world.cluster.advance(5)
    assert b.carp_state(1, "em0") == "MASTER"
    transitions.run(world.ctx("serverB"), transitions.MASTER)   # B serves its stale disk
    world.cluster.boot("serverA")
    world.cluster.advance(1)
    apply(storage.DEMOTE, world.ctx("serverA"))               # A exports its (fresher) disk
    with pytest.raises(Conflict, match=r"serverA's disk is fresher than mirror/data \(genid/syncid 0/"):
        apply(replica.ATTACH, world.ctx("serverB"))
    assert "ggate0" not in [c.prov for c in b.mirrors["data"].components]
    assert fresh <= set(a.disks["ada1"].blocks), "the fresher writes must survive"


def test_7_2_a_jail_that_fails_to_start_fails_verification_although_service_exits_0(world):
    a = world.cluster["serverA"]
    a.define_jail("www", path="/data/jails/missing", hostname="www.example.org")
    apply(storage.PROMOTE, world.ctx())
    rc, out, _ = a.run("service", "jail", "onestart", "www")
    assert rc == 0 and "cannot start jail" in out            # the trap: exit 0 on failure
    with pytest.raises(ActionFailed, match="still to do after running the plan: service jail onestart www"):
        apply(jails.START, world.ctx())


def test_7_1_jail_conf_iface_prefix_that_strips_a_carp_vhid_fails_loudly(world):
    a = world.cluster["serverA"]
    a.define_jail("www", path="/data/jails/www", hostname="www.example.org", ip4="em0|192.0.2.9/24")
    apply(storage.PROMOTE, world.ctx())
    with pytest.raises(Conflict, match=r"stripped the CARP vhid from 192\.0\.2\.9 on em0"):
        apply(jails.START, world.ctx())


def test_8_a_foreign_filesystem_on_the_mountpoint_is_never_stacked_over(world):
    a = world.cluster["serverA"]
    apply(storage.PROMOTE, world.ctx())
    assert a.run("umount", "/data")[0] == 0
    # what `mount -p` shows when an administrator mounted something else there
    ctx = world.ctx()
    seen = storage.observe(ctx)
    seen["mounts"].append({"device": "/dev/ada0p4", "mountpoint": "/data", "fstype": "ufs", "options": []})
    with pytest.raises(Conflict, match="/data already has /dev/ada0p4 mounted"):
        storage.plan_promote(ctx, seen)


def dirty_fs_asking_for_reruns(host, reruns):
    """A non-journaled file system left dirty (preen runs the full check)
    whose next `reruns` checks end with exit 16, PLEASE RERUN FSCK."""
    host.disks["ada1"].content["fs"].update(clean=False, journal=False, rerun=reruns)


def fsck_runs(ctx):
    return [argv[:2] for argv in ctx.runner.changes() if argv[0] == "fsck"]


def test_8_a_preen_that_exits_16_once_is_run_again_and_the_mount_proceeds(world):
    a = world.cluster["serverA"]
    dirty_fs_asking_for_reruns(a, 1)
    ctx = world.ctx()
    apply(storage.PROMOTE, ctx)
    assert fsck_runs(ctx) == [("fsck", "-p"), ("fsck", "-p")]
    assert [m["mountpoint"] for m in a.mounts if m["device"] == "/dev/mirror/data"] == ["/data"]


def test_8_a_preen_that_exits_16_twice_is_not_mounted_and_says_why(world):
    a = world.cluster["serverA"]
    dirty_fs_asking_for_reruns(a, 2)
    ctx = world.ctx()
    with pytest.raises(ActionFailed, match=r"fsck -p -t ufs /dev/mirror/data: exit 16 again when run once more "
                                           r"\(\*\*\*\*\* PLEASE RERUN FSCK \*\*\*\*\*\)$"):
        apply(storage.PROMOTE, ctx)
    assert fsck_runs(ctx) == [("fsck", "-p"), ("fsck", "-p")]      # policy preen: no fsck -y
    assert not any(m["device"] == "/dev/mirror/data" for m in a.mounts)


def test_8_with_policy_yes_a_preen_that_exits_16_twice_falls_back_to_a_full_check(tmp_path):
    w = World(tmp_path, EXAMPLE.replace("options: [noatime]", "options: [noatime]\n        fsck: 'yes'"))
    try:
        a = w.cluster["serverA"]
        dirty_fs_asking_for_reruns(a, 2)
        ctx = w.ctx()
        apply(storage.PROMOTE, ctx)
        assert fsck_runs(ctx) == [("fsck", "-p"), ("fsck", "-p"), ("fsck", "-y")]
        assert any(m["mountpoint"] == "/data" for m in a.mounts)
    finally:
        w.close()
