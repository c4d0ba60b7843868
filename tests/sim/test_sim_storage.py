"""gmirror over ggate: peer death, genid/syncid rules, exclusive access,
and the gmirror/ggatec/ggated error tables (reference 4, 5)."""

import pytest

from carpha.host.runner import CommandTimedOut
from carpha.sim import Cluster, SimClock, two_node_cluster
from simkit import ok, run


def status(host):
    return ok(host, "gmirror", "status", "-s")


def list_field(host, field):
    return [line.split(": ", 1)[1] for line in ok(host, "gmirror", "list", "data").splitlines()
            if line.startswith(field + ":")]


@pytest.fixture
def cluster():
    return Cluster()


# -- a dead ggate peer ----------------------------------------------------------

def _ack_delay(cluster, host="a"):
    """Issue one write now; simulated seconds until it is acknowledged."""
    t0 = cluster.clock.t
    assert cluster.write(host, "web") is False          # asleep on the dead peer
    block = cluster.pending_blocks()[-1]
    for _ in range(4000):
        if block in cluster.acknowledged:
            return cluster.clock.t - t0
        cluster.advance(0.01)
    raise AssertionError("never acknowledged")


@pytest.mark.parametrize("phase, delay", [(0.2, 4.8), (1.5, 8.5), (4.9, 5.1)])
def test_ggate_t_is_a_sweep_from_create_not_a_per_request_timeout(phase, delay):
    # Regression: g_gate_guard() runs every -t s from g_gate_create() and fails
    # requests at least 5 whole seconds of uptime old (g_gate.c @37d84eaa,
    # 13.x): the delay depends on the sweep's phase (the old model: always 5 s).
    cluster = two_node_cluster(ggate_timeout=5)
    a, b = cluster["a"], cluster["b"]
    dev = a.ggate[0]
    assert cluster.write("a", "web")
    cluster.crash("b")
    # Move to `phase` s past a sweep, with uptime whole seconds as in the table.
    period_start = dev.created + 5 * (int((cluster.clock.now() - dev.created) / 5) + 1)
    cluster.advance(period_start + phase - cluster.clock.now())
    assert _ack_delay(cluster) == pytest.approx(delay, abs=0.02)
    assert status(a) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"
    assert list_field(a, "GenID")[0] == "1"            # kicked for EIO: genid bumped
    assert any("GEOM_MIRROR: Device data: provider ggate0 disconnected." in m for m in a.messages())
    last = cluster.acknowledged[-1]
    assert last in a.disks["ada1"].blocks and last not in b.disks["ada1"].blocks
    assert cluster.write("a", "web") is True            # no more waiting


def test_ggate_t30_can_acknowledge_a_write_on_one_half_within_5_s():
    # Regression for the old rule "ggate timeout >= fencing bound": -t 30
    # fails a request 4 to 35 s after issue, by phase, so a master that lost
    # its peer acknowledges writes on its own disk well inside the bound.
    cluster = two_node_cluster(ggate_timeout=30)
    dev = cluster["a"].ggate[0]
    cluster.crash("b")
    cluster.advance(dev.created + 25.5 - cluster.clock.now())
    assert _ack_delay(cluster) < 5


def test_with_t0_a_dead_peer_hangs_writes_and_commands_time_out():
    cluster = two_node_cluster(ggate_timeout=0)
    a = cluster["a"]
    cluster.crash("b")
    assert cluster.write("a", "web") is False
    assert "ggate0 (ACTIVE)" in status(a)             # never kicked
    runner = a.runner()
    t0 = cluster.clock.t
    with pytest.raises(CommandTimedOut):
        runner.change(["service", "jail", "stop", "web"], timeout=5)
    assert cluster.clock.t - t0 == pytest.approx(5)
    cluster.advance(600)
    assert "ggate0 (ACTIVE)" in status(a)


def test_with_t0_pending_writes_land_when_the_peer_serves_again():
    cluster = two_node_cluster(ggate_timeout=0)
    a, b = cluster["a"], cluster["b"]
    cluster.crash("b")
    assert cluster.write("a", "web") is False
    pending = cluster.pending_blocks()[-1]
    cluster.boot("b")
    cluster.advance(3)
    assert pending not in b.disks["ada1"].blocks      # no ggated yet: retrying
    assert any("Disconnected [192.0.2.2 /dev/ada1]. Connecting..." in m for m in a.messages())
    ok(b, "ggated")
    cluster.advance(3)
    assert pending in b.disks["ada1"].blocks
    assert cluster.write("a", "web") is True


def test_a_cut_link_hangs_t0_writes_until_it_heals():
    cluster = two_node_cluster(ggate_timeout=0)
    b = cluster["b"]
    cluster.cut("a", "b")
    assert cluster.write("a", "web") is False
    pending = cluster.pending_blocks()[-1]
    cluster.heal("a", "b")
    assert pending in b.disks["ada1"].blocks


# -- genid and syncid ------------------------------------------------------------

def kick_ggate0(cluster):
    cluster.crash("b")
    cluster.write("a", "web")
    cluster.advance(11)            # -t 5: the sweep fails it within 10 s
    assert "ggate0" not in status(cluster["a"])
    cluster.boot("b")
    ok(cluster["b"], "ggated")


def test_a_component_with_a_stale_genid_is_refused_until_forget_and_insert():
    cluster = two_node_cluster(ggate_timeout=5)
    a, b = cluster["a"], cluster["b"]
    kick_ggate0(cluster)
    ok(a, "ggatec", "destroy", "-u", "0")
    ok(a, "ggatec", "create", "-t", "5", "-u", "0", "192.0.2.2", "/dev/ada1")
    assert status(a) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"
    assert a.messages()[-1].endswith("GEOM_MIRROR: Component ggate0 (device data) broken, skipping.")
    rc, _, err = run(a, "gmirror", "insert", "data", "ggate0")
    assert (rc, err) == (1, "gmirror: Not all disks connected.\n")
    ok(a, "gmirror", "forget", "data")
    ok(a, "gmirror", "insert", "data", "ggate0")
    assert "ggate0 (SYNCHRONIZING, 0%)" in status(a)
    cluster.advance(30)
    # The most recently attached consumer is listed first.
    assert status(a) == ("mirror/data  COMPLETE  ggate0 (ACTIVE)\n"
                         "mirror/data  COMPLETE  ada1 (ACTIVE)\n")
    assert b.disks["ada1"].blocks == a.disks["ada1"].blocks
    assert b.disks["ada1"].content["fs"] == a.disks["ada1"].content["fs"]


def test_a_vanished_component_comes_back_by_itself_and_is_resynced_in_full():
    cluster = two_node_cluster(ggate_timeout=5)
    cluster.resync_rate = 1024 * 1024 * 1024 / 10        # 10 s for the 1 GiB disk
    a, b = cluster["a"], cluster["b"]
    ok(a, "ggatec", "destroy", "-f", "-u", "0")          # ENXIO: no genid bump
    assert status(a) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"
    assert cluster.write("a", "web")                     # first write bumps syncid
    assert list_field(a, "SyncID")[0] == "2" and list_field(a, "GenID")[0] == "0"
    ok(a, "ggatec", "create", "-t", "5", "-u", "0", "192.0.2.2", "/dev/ada1")
    assert "ggate0 (SYNCHRONIZING, 0%)" in status(a)
    cluster.advance(4)
    assert "ggate0 (SYNCHRONIZING, 40%)" in status(a)
    out = ok(a, "gmirror", "list", "data")
    assert "   BytesSynced: " in out and "   Synchronized: 40%\n" in out
    cluster.advance(7)
    assert "ggate0 (ACTIVE)" in status(a)
    assert a.messages()[-1].endswith("GEOM_MIRROR: Device data: rebuilding provider ggate0 finished.")
    assert b.disks["ada1"].blocks == a.disks["ada1"].blocks


def test_a_fresher_component_arriving_after_start_is_refused():
    cluster = two_node_cluster(ggate_timeout=5)
    a, b = cluster["a"], cluster["b"]
    ok(a, "service", "jail", "stop", "web")
    cluster.crash("a")
    # b takes over alone: forced start after the timeout, then writes.
    ok(b, "pkill", "ggated")
    ok(b, "kldload", "-n", "geom_mirror")
    cluster.advance(5)
    ok(b, "fsck", "-p", "-t", "ufs", "/dev/mirror/data")
    ok(b, "mount", "/dev/mirror/data", "/data")
    ok(b, "umount", "/data")
    ok(b, "gmirror", "stop", "data")
    ok(b, "ggated")
    # a comes back with geom_mirror in loader.conf: it starts on its stale disk.
    a.loader.add("geom_mirror")
    cluster.boot("a")
    cluster.advance(5)
    assert status(a) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"
    ok(a, "ggatec", "create", "-u", "0", "192.0.2.2", "/dev/ada1")
    assert status(a) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"
    # g_mirror_refresh_device() refuses it before g_mirror_determine_state()
    # is reached (g_mirror.c @d22ff249, 13.x; reference 4.3).
    assert a.messages()[-2].endswith(
        "GEOM_MIRROR: Cannot refresh metadata in RUNNING state (device=data genid=0). "
        "A stale mirror device was launched.")
    assert a.messages()[-1].endswith("GEOM_MIRROR: Cannot add disk ggate0 to data (error=22).")


# -- exclusive access and retaste -------------------------------------------------

def test_the_standby_cannot_grab_a_disk_its_ggated_child_holds():
    cluster = two_node_cluster()
    b = cluster["b"]
    ok(b, "kldload", "geom_mirror")
    cluster.advance(10)
    assert run(b, "gmirror", "status") == (0, "", "")


def test_killing_only_the_ggated_listener_leaves_the_disk_held():
    cluster = two_node_cluster()
    b = cluster["b"]
    ok(b, "kldload", "geom_mirror")
    ok(b, "pkill", "-F", "/var/run/ggated.pid")
    cluster.advance(10)
    assert run(b, "gmirror", "status") == (0, "", "")
    assert len(ok(b, "pgrep", "ggated").split()) == 1      # the connection child


def test_the_last_write_close_retastes_so_a_loaded_geom_mirror_grabs_the_disk():
    cluster = two_node_cluster()
    b = cluster["b"]
    ok(b, "kldload", "geom_mirror")
    ok(b, "pkill", "ggated")                 # the child closes /dev/ada1
    cluster.advance(5)
    assert status(b) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"


def test_ggated_cannot_export_a_disk_the_mirror_holds():
    cluster = two_node_cluster()
    a, b = cluster["a"], cluster["b"]
    ok(b, "kldload", "geom_mirror")
    ok(b, "pkill", "ggated")
    cluster.advance(5)
    ok(b, "ggated")
    cluster.advance(5)
    assert any("ggated: Cannot open /dev/ada1: Operation not permitted." in m
               for m in b.messages())
    assert cluster.write("a", "web") is False     # asleep on the lost connection
    cluster.advance(11)                           # -t 5: a's sweep kicks ggate0
    assert status(a) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"


def test_a_hardcoded_label_keeps_the_standby_from_tasting_its_own_disk():
    cluster = two_node_cluster(hardcoded=True)
    b = cluster["b"]
    assert "hcprovider: ggate0\n" in ok(cluster["a"], "gmirror", "dump", "ggate0")
    ok(b, "kldload", "geom_mirror")
    ok(b, "pkill", "ggated")                 # retaste of ada1: name mismatch
    cluster.advance(10)
    assert run(b, "gmirror", "status") == (0, "", "")


def test_a_crashed_client_leaves_the_servers_ggated_child_holding_the_disk():
    cluster = two_node_cluster()
    b = cluster["b"]
    cluster.crash("a")
    ok(b, "kldload", "geom_mirror")
    cluster.advance(10)
    assert run(b, "gmirror", "status") == (0, "", "")     # still held: no FIN ever came
    ok(b, "pkill", "ggated")
    cluster.advance(5)
    assert status(b) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"


def test_ggatec_rescue_reattaches_a_device_whose_daemon_died():
    cluster = two_node_cluster(ggate_timeout=0)
    a, b = cluster["a"], cluster["b"]
    ok(a, "pkill", "ggatec")
    assert cluster.write("a", "web") is False
    pending = cluster.pending_blocks()[-1]
    ok(a, "ggatec", "rescue", "-u", "0", "192.0.2.2", "/dev/ada1")
    assert pending in b.disks["ada1"].blocks
    assert cluster.write("a", "web") is True


# -- error tables ------------------------------------------------------------------

@pytest.fixture
def mirror_host():
    cluster = Cluster()
    host = cluster.add_host("h", disks={"ada1": 64, "ada2": 64}, loader=("geom_mirror",))
    ok(host, "gmirror", "label", "data", "ada1", "ada2")
    return host


@pytest.mark.parametrize("argv, message", [
    (["insert", "data", "ada1"], "gmirror: Provider ada1 already inserted.\n"),
    (["insert", "nope", "ada1"], "gmirror: No such device: nope.\n"),
    (["configure", "-p", "1", "data", "ada2"], "gmirror: Nothing has changed.\n"),
    (["configure", "-b", "load", "data"], "gmirror: Nothing has changed.\n"),
    (["configure", "-b", "fastest", "data"], "gmirror: Invalid balance algorithm.\n"),
    (["remove", "data", "ada9"], "gmirror: No such provider: ada9.\n"),
    (["rebuild", "data", "ada9"], "gmirror: No such provider: ada9.\n"),
    (["status", "nope"], "gmirror: No such geom: nope.\n"),
    (["list", "nope"], "gmirror: Class 'MIRROR' does not have an instance named 'nope'.\n"),
    (["load"], "gmirror: Command 'load' not available; try 'load' first.\n"),
    (["forget", "nope"], "gmirror: No such device: nope.\n"),
])
def test_gmirror_errors_are_the_kernel_messages_with_exit_1(mirror_host, argv, message):
    assert run(mirror_host, "gmirror", *argv) == (1, "", message)


def test_gmirror_configure_changes_a_priority_once(mirror_host):
    ok(mirror_host, "gmirror", "configure", "-p", "5", "data", "ada1")
    rc, _, err = run(mirror_host, "gmirror", "configure", "-p", "5", "data", "ada1")
    assert (rc, err) == (1, "gmirror: Nothing has changed.\n")


def test_gmirror_stop_refuses_an_open_mirror_without_f(mirror_host):
    mirror_host.make_filesystem("mirror/data")
    ok(mirror_host, "mount", "/dev/mirror/data", "/data")
    assert run(mirror_host, "gmirror", "stop", "data") == (
        1, "", "gmirror: Cannot destroy device data (error=16).\n")
    ok(mirror_host, "gmirror", "stop", "-f", "data")
    assert run(mirror_host, "gmirror", "status") == (0, "", "")


def test_gmirror_refuses_to_drop_the_last_active_component(mirror_host):
    ok(mirror_host, "gmirror", "remove", "data", "ada2")
    assert status(mirror_host) == "mirror/data  COMPLETE  ada1 (ACTIVE)\n"
    assert run(mirror_host, "gmirror", "remove", "data", "ada1") == (
        1, "", "gmirror: data: Can't remove the last ACTIVE component ada1.\n")
    assert run(mirror_host, "gmirror", "deactivate", "data", "ada1") == (
        1, "", "gmirror: data: Can't deactivate the last ACTIVE component ada1.\n")
    assert run(mirror_host, "gmirror", "rebuild", "data", "ada1") == (
        1, "", "gmirror: Provider ada1 is the last active provider in data.\n")
    assert mirror_host.disks["ada2"].md is None          # remove clears metadata


def test_gmirror_forget_is_a_silent_no_op_when_all_disks_are_there(mirror_host):
    assert run(mirror_host, "gmirror", "forget", "data") == (0, "", "")


def test_gmirror_remove_with_a_missing_component_asks_for_forget(mirror_host):
    ok(mirror_host, "gmirror", "stop", "data")
    mirror_host.disks.pop("ada2")
    # Re-taste ada1 alone: forced start after the timeout, one disk short.
    from carpha.sim import geom
    geom.taste(mirror_host, "ada1")
    mirror_host.cluster.advance(5)
    assert run(mirror_host, "gmirror", "remove", "data", "ada1") == (
        1, "", "gmirror: Not all disks connected. Try 'forget' command first.\n")


def test_status_and_list_need_the_module(cluster):
    host = cluster.add_host("h")
    for verb in ("status", "list"):
        assert run(host, "gmirror", verb) == (
            1, "", f"gmirror: Command '{verb}' not available; try 'load' first.\n")
    assert run(host, "gmirror", "load") == (0, "", "")
    assert run(host, "gmirror", "status") == (0, "", "")


def test_gmirror_load_is_a_nop_on_the_newest_geom_when_configured(cluster):
    host = cluster.add_host("h", loader=("geom_mirror",))
    host.geom_load_is_noop = True
    assert run(host, "gmirror", "load") == (0, "", "")


def test_gmirror_unknown_verbs_and_flags_print_the_usage(mirror_host):
    rc, out, err = run(mirror_host, "gmirror", "frob")
    assert rc == 1 and err.startswith("gmirror: Unknown command: frob.\nusage: gmirror activate")
    rc, _, err = run(mirror_host, "gmirror", "status", "-x")
    assert rc == 1 and "      gmirror status [-ags] [name ...]\n" in err


def test_gmirror_v_reports_done(mirror_host):
    assert ok(mirror_host, "gmirror", "configure", "-v", "-b", "prefer", "data") == "Done.\n"


def test_gmirror_dump_shows_the_on_disk_metadata(mirror_host):
    out = ok(mirror_host, "gmirror", "dump", "ada2")
    lines = out.splitlines()
    assert lines[0] == "Metadata on ada2:"
    assert lines[1:4] == ["     magic: GEOM::MIRROR", "   version: 4", "      name: data"]
    assert "  priority: 1" in lines and "   balance: load" in lines
    assert lines[-2].startswith("  MD5 hash: ") and len(lines[-2]) == 12 + 32
    mirror_host.disks["ada3"] = type(mirror_host.disks["ada1"])("ada3", 64 << 20)
    rc, out, err = run(mirror_host, "gmirror", "dump", "ada3")
    assert (rc, out) == (1, "")
    assert err == "Can't read metadata from ada3: Invalid argument.\ngmirror: Not fully done.\n"


# -- ggatec / ggated -----------------------------------------------------------------

def test_ggatec_destroy_of_a_missing_unit_prints_the_ioctl_error_on_stdout():
    cluster = two_node_cluster()
    rc, out, err = run(cluster["a"], "ggatec", "destroy", "-u", "7")
    assert (rc, err) == (1, "")
    assert out == "error: ggatec: ioctl(/dev/ggctl): Device not configured.\nerror: Exiting.\n"


def test_ggatec_destroy_of_a_mirror_component_needs_f():
    cluster = two_node_cluster()
    a = cluster["a"]
    rc, out, _ = run(a, "ggatec", "destroy", "-u", "0")
    assert rc == 1 and out.startswith("error: ggatec: ioctl(/dev/ggctl): Device busy.")
    ok(a, "ggatec", "destroy", "-f", "-u", "0")
    assert run(a, "ggatec", "list") == (0, "", "")
    assert a.devd_events[-2:] == ["!system=DEVFS subsystem=CDEV type=DESTROY cdev=ggate0",
                                  "!system=GEOM subsystem=DEV type=DESTROY cdev=ggate0"]


def test_ggatec_create_without_a_server_fails_quietly_with_syslog_only():
    cluster = two_node_cluster()
    a, b = cluster["a"], cluster["b"]
    ok(b, "pkill", "ggated")
    rc, out, err = run(a, "ggatec", "create", "192.0.2.2", "/dev/ada1")
    assert (rc, out, err) == (1, "", "")
    assert a.messages()[-2].endswith("ggatec: Cannot connect: Connection refused.")
    assert a.messages()[-1].endswith("ggatec: Exiting.")


def test_ggatec_create_over_a_cut_link_waits_for_the_tcp_timeout():
    cluster = two_node_cluster()
    cluster.cut("a", "b")
    with pytest.raises(CommandTimedOut):
        cluster["a"].runner().change(["ggatec", "create", "192.0.2.2", "/dev/ada1"], timeout=10)


def test_ggatec_create_with_a_taken_unit_fails():
    cluster = two_node_cluster()
    a = cluster["a"]
    rc, out, _ = run(a, "ggatec", "create", "-u", "0", "192.0.2.2", "/dev/ada1")
    assert (rc, out) == (1, "")
    assert a.messages()[-2].endswith("ggatec: ggatec: ioctl(/dev/ggctl): File exists.")


def test_ggatec_rejects_options_of_another_action():
    cluster = two_node_cluster()
    rc, _, err = run(cluster["a"], "ggatec", "list", "-t", "5")
    assert rc == 1 and err.startswith("usage: ggatec create")


def test_ggatec_list_without_the_gate_class_prints_nothing(cluster):
    assert run(cluster.add_host("h"), "ggatec", "list") == (0, "", "")


def test_ggated_refuses_a_second_daemon_on_its_pidfile():
    cluster = two_node_cluster()
    b = cluster["b"]
    pid = b.files["/var/run/ggated.pid"].strip()
    assert run(b, "ggated") == (1, "", f"ggated: Daemon already running, pid: {pid}.\n")


def test_a_second_ggated_on_a_taken_port_exits_after_daemonizing():
    cluster = two_node_cluster()
    b = cluster["b"]
    assert run(b, "ggated", "-F", "/var/run/ggated2.pid") == (0, "", "")
    assert b.messages()[-2].endswith("ggated: bind(): Address already in use.")
    assert len(ok(b, "pgrep", "ggated").split()) == 2     # listener + child


def test_ggated_without_exports_logs_and_exits_1(cluster):
    host = cluster.add_host("h")
    assert run(host, "ggated") == (1, "", "")
    assert host.messages()[-2].endswith(
        "ggated: Cannot open exports file (/etc/gg.exports): No such file or directory.")


def test_a_writer_killed_while_its_write_hangs_on_a_dead_peer_is_never_acknowledged():
    cluster = two_node_cluster(ggate_timeout=0)
    a = cluster["a"]
    cluster.cut("a", "b")
    assert cluster.write("a", "web") is False
    block = cluster.pending_blocks()[-1]
    ok(a, "pkill", "-KILL", "-j", "web")       # asleep: dies when its request completes
    ok(a, "ggatec", "destroy", "-f", "-u", "0")  # ENXIO: the write completes on ada1
    assert block in a.disks["ada1"].blocks
    assert block in cluster.unacknowledged and block not in cluster.acknowledged


def test_a_writer_left_alive_is_acknowledged_on_the_local_half_alone_when_ggate_fails_it():
    # Why carpha runs ggatec without -t: with -t 30 this write is on a's disk
    # only, acknowledged, and b takes over without it.
    cluster = two_node_cluster(ggate_timeout=30)
    cluster.cut("a", "b")
    assert cluster.write("a", "web") is False
    block = cluster.pending_blocks()[-1]
    cluster.advance(36)
    assert block in cluster.acknowledged
    assert status(cluster["a"]) == "mirror/data  DEGRADED  ada1 (ACTIVE)\n"


def test_with_t0_a_dead_peer_hangs_writes_until_the_half_is_dropped_on_purpose():
    cluster = two_node_cluster(ggate_timeout=0)
    a = cluster["a"]
    cluster.crash("b")
    assert cluster.write("a", "web") is False
    block = cluster.pending_blocks()[-1]
    cluster.advance(600)
    assert block not in cluster.acknowledged            # no sweep with -t 0
    ok(a, "ggatec", "destroy", "-f", "-u", "0")
    assert block in cluster.acknowledged                # ENXIO: done on ada1
    assert list_field(a, "GenID")[0] == "0"            # syncid bumped, not genid
    assert list_field(a, "SyncID")[0] == "2"


@pytest.mark.parametrize("balance", ["prefer", "round-robin"])
def test_a_clean_disk_with_the_mirrors_genid_and_syncid_joins_active_whatever_its_balance(balance):
    # Regression: a RUNNING mirror compares neither md_balance nor md_all on
    # taste (g_mirror_check_metadata(), g_mirror.c @d22ff249, 13.x; only the
    # STARTING pre-flight does), so a decoy balance does not keep a diverged
    # disk out: it joins ACTIVE with no copy (reference 4.3).
    cluster = two_node_cluster()
    a, b = cluster["a"], cluster["b"]
    cluster.advance(6)                                      # idle: both halves clean
    ok(a, "ggatec", "destroy", "-f", "-u", "0")
    ok(a, "gmirror", "forget", "data")                      # a: one disk now
    b.disks["ada1"].md["all"] = 1                           # as if b had run alone too
    if balance != "prefer":
        ok(a, "gmirror", "configure", "-b", balance, "data")
    ok(a, "ggatec", "create", "-u", "0", "192.0.2.2", "/dev/ada1")
    assert "ggate0 (ACTIVE)" in status(a)
    # Components: 1 with two ACTIVE halves is DEGRADED until forget (4.5).
    assert status(a).startswith("mirror/data  DEGRADED")
    ok(a, "gmirror", "forget", "data")
    assert status(a).startswith("mirror/data  COMPLETE")


def test_a_dirty_disk_with_equal_syncid_is_resynchronised_not_made_active():
    # g_mirror_determine_state(): equal syncid but DIRTY beside an ACTIVE disk
    # -> SYNCHRONIZING from its saved offset, which is 0 unless it was
    # syncing (g_mirror_fill_metadata(); g_mirror.c @d22ff249, 13.x).
    cluster = two_node_cluster()
    a, b = cluster["a"], cluster["b"]
    assert cluster.write("a", "web")                        # both halves DIRTY now
    ok(a, "ggatec", "destroy", "-f", "-u", "0")
    assert "DIRTY" in b.disks["ada1"].md["dflags"]
    ok(a, "ggatec", "create", "-u", "0", "192.0.2.2", "/dev/ada1")
    assert "ggate0 (SYNCHRONIZING" in status(a)


def test_gmirror_stop_rewrites_every_half_clean():
    # g_mirror_destroy_device() clears DIRTY on every connected component
    # and rewrites its metadata (reference 4.4).
    cluster = two_node_cluster(start_jail=False)
    a, b = cluster["a"], cluster["b"]
    ok(a, "umount", "/data")
    a.disks["ada1"].md["dflags"] = ["DIRTY"]
    b.disks["ada1"].md["dflags"] = ["DIRTY"]
    for comp in a.mirrors["data"].components:
        comp.flags.add("DIRTY")
    ok(a, "gmirror", "stop", "data")
    assert a.disks["ada1"].md["dflags"] == [] and b.disks["ada1"].md["dflags"] == []


def test_gmirror_stop_waits_for_a_dead_t0_peer():
    cluster = two_node_cluster(ggate_timeout=0, start_jail=False)
    a = cluster["a"]
    ok(a, "umount", "/data")
    cluster.crash("b")
    with pytest.raises(CommandTimedOut):
        a.runner().change(["gmirror", "stop", "data"], timeout=5)
    assert "data" in a.mirrors


def test_prefer_reads_from_the_disk_first_in_attach_order_not_the_highest_priority_now():
    # g_mirror_update_disk() sorts a disk in when it attaches (a tie goes in
    # front); configure -p does not re-sort (reference 4.2).
    cluster = two_node_cluster()
    a = cluster["a"]
    cluster.advance(6)
    ok(a, "ggatec", "destroy", "-f", "-u", "0")
    ok(a, "gmirror", "forget", "data")
    m = a.mirrors["data"]
    ok(a, "gmirror", "configure", "-p", "0", "data", "ada1")
    ok(a, "ggatec", "create", "-u", "0", "192.0.2.2", "/dev/ada1")   # its metadata says priority 0
    assert [c.prov for c in m.components] == ["ggate0", "ada1"]       # tie: in front
    ok(a, "gmirror", "forget", "data")
    ok(a, "gmirror", "configure", "-p", "5", "data", "ada1")
    assert [c.prov for c in m.components] == ["ggate0", "ada1"]       # not re-sorted
    assert cluster.read("a", "web") is cluster["b"].disks["ada1"]      # every read over ggate


def test_the_ggated_listener_keeps_the_exported_disk_open_after_a_connection():
    # exports_check() opens the device per connection and connection_remove()
    # never closes c_diskfd in the listener (ggated.c, 2017-2023; reference 5.1).
    cluster = two_node_cluster()
    a, b = cluster["a"], cluster["b"]
    ok(a, "ggatec", "destroy", "-f", "-u", "0")
    cluster.advance(1)
    ok(b, "kldload", "geom_mirror")
    cluster.advance(10)
    assert run(b, "gmirror", "status") == (0, "", "")     # the listener still holds ada1


def test_a_drive_moved_into_a_bay_takes_a_free_name_and_never_replaces_a_disk(cluster):
    cluster.add_host("c", disks={"ada1": 64, "ada2": 64})
    cluster.add_host("b", disks={"ada1": 64})
    own = cluster["b"].disks["ada1"]
    with pytest.raises(ValueError, match="b already has a disk ada1"):
        cluster.move_disk("c", "b", "ada1", "ada1")
    assert cluster["b"].disks["ada1"] is own and "ada1" in cluster["c"].disks
    assert cluster.free_disk_name("b") == "ada2"
    cluster.move_disk("c", "b", "ada1", cluster.free_disk_name("b"))
    assert cluster.free_disk_name("b") == "ada3" and cluster["b"].disks["ada1"] is own
