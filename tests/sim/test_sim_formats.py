"""Simulated command output against real captured output
(shared/freebsd-samples), byte for byte for an equivalent state.

The ifconfig samples were published with tabs expanded to 8 spaces
(markdown); the real tool prints tabs (af_inet.c printf("\\tinet ...")), so
those comparisons expand our tabs and separately check that they are tabs.
"""

import calendar

from carpha.sim import Cluster
from simkit import ok, run, sample

VTNET = "Ethernet autoselect (10Gbase-T <full-duplex>)"


def bsdrp_lab():
    """The pf-and-carp lab: vm2 (advskew 100) and vm3 (advskew 200) on vtnet3,
    vhid 1 carrying 192.168.10.254/32 and vhid 2 carrying 2001:db8:10::fe."""
    cluster = Cluster()
    hosts = {}
    for name, mac, v4, v6, skew in (("vm2", "58:9c:fc:02:00:02", "192.168.10.2/30",
                                     "2001:db8:10::2/64", 100),
                                    ("vm3", "58:9c:fc:03:00:03", "192.168.10.3/30",
                                     "2001:db8:10::3/64", 200)):
        host = cluster.add_host(name, interfaces={"vtnet3": {
            "ether": mac, "inet": [v4], "inet6": [v6], "index": 4, "linklocal": True,
            "media": VTNET}})
        host.add_carp("vtnet3", 1, advskew=skew, address="192.168.10.254/32")
        host.add_carp("vtnet3", 2, advskew=skew, address="2001:db8:10::fe/128")
        hosts[name] = host
    cluster.advance(5)
    return hosts


def test_ifconfig_of_the_carp_master_matches_the_bsdrp_vm2_capture():
    out = ok(bsdrp_lab()["vm2"], "ifconfig", "vtnet3")
    assert out.expandtabs(8) == sample("ifconfig_carp/bsdrp-pfcarp-vm2-vtnet3-master-v4v6.txt")
    assert all(line.startswith("\t") for line in out.splitlines()[1:])


def test_ifconfig_of_the_carp_backup_matches_the_bsdrp_vm3_capture():
    out = ok(bsdrp_lab()["vm3"], "ifconfig", "vtnet3")
    assert out.expandtabs(8) == sample("ifconfig_carp/bsdrp-pfcarp-vm3-vtnet3-backup-v4v6.txt")


def test_ifconfig_cidr_format_prints_prefix_lengths():
    out = ok(bsdrp_lab()["vm2"], "ifconfig", "-f", "inet:cidr,inet6:cidr", "vtnet3")
    assert "\tinet 192.168.10.254/32 broadcast 192.168.10.254 vhid 1\n" in out
    assert "\tinet6 fe80::5a9c:fcff:fe02:2%vtnet3/64 scopeid 0x4\n" in out
    assert "\tinet6 2001:db8:10::fe/128 vhid 2\n" in out


def test_gmirror_status_matches_the_handbook_capture():
    cluster = Cluster()
    host = cluster.add_host("h", disks={"ada0": 1024, "ada1": 1024}, loader=("geom_mirror",))
    ok(host, "gmirror", "label", "gm0", "ada0", "ada1")
    assert ok(host, "gmirror", "status") == sample("gmirror_status/handbook-complete-ada.txt")


def test_gmirror_status_script_mode_by_geom_matches_the_simplemonitor_fixture():
    cluster = Cluster()
    host = cluster.add_host("h", disks={"ada0": 1024, "ada1": 1024}, loader=("geom_mirror",))
    ok(host, "gmirror", "label", "gm0", "ada1", "ada0")
    assert ok(host, "gmirror", "status", "-gs", "gm0") == sample(
        "gmirror_status_s/simplemonitor-fixture-good.txt")


def test_gmirror_list_matches_the_geomflash_capture():
    size = {"bytes": 4000787030016}
    cluster = Cluster()
    host = cluster.add_host("h", disks={"ada2": size, "ada3": size}, loader=("geom_mirror",))
    ok(host, "gmirror", "label", "m0", "ada2", "ada3")
    # The capture's random identifiers, for an otherwise identical mirror.
    mirror = host.mirrors["m0"]
    mirror.mid = 412366882
    mirror.component("ada3").did = 2084047887
    mirror.component("ada2").did = 722909635
    assert ok(host, "gmirror", "list", "m0") == sample(
        "gmirror_list/geomflash-m0-complete-2disk-fbsd101.txt")


def classic_jail_host(path="/usr/local/jails/containers/classic", name="classic",
                      ip="192.168.250.70"):
    cluster = Cluster()
    host = cluster.add_host("h")
    host.mkdir(path)
    host.define_jail(name, path=path, hostname=name, ip4=ip)
    ok(host, "jail", "-c", name)
    return host


def test_jls_matches_the_handbook_capture():
    assert ok(classic_jail_host(), "jls") == sample("jls/handbook-current-classic.txt")


def test_jls_matches_the_bsdinstall_capture():
    cluster = Cluster()
    host = cluster.add_host("h")
    host.mkdir("/usr/jail/www")
    host.define_jail("www", path="/usr/jail/www", hostname="www.local", ip4="10.0.2.202")
    ok(host, "jail", "-c", "www")
    assert ok(host, "jls") == sample("jls/bsdinstall-www-local.txt")


def test_jls_libxo_json_matches_the_handbook_capture():
    host = classic_jail_host()
    assert ok(host, "jls", "--libxo", "json") == sample("jls_libxo/handbook-jls-libxo-json.txt")
    assert ok(host, "jls", "--libxo=json") == sample("jls_libxo/handbook-jls-libxo-json.txt")


def test_jls_by_name_has_the_name_column_jls_c_prints():
    out = ok(classic_jail_host(), "jls", "-N")
    assert out == (" JID             IP Address      Hostname                      Path\n"
                   " classic         192.168.250.70  classic"
                   "                       /usr/local/jails/containers/classic\n")


def test_mount_matches_the_kusaeni_capture():
    cluster = Cluster()
    host = cluster.add_host("h", root_device="vtbd0s1a")
    assert ok(host, "mount") == sample("mount/kusaeni-after-remount-rw-suj.txt")


def test_sysctl_carp_node_matches_the_opnsense_capture():
    cluster = Cluster()
    host = cluster.add_host("fw1")
    host.set_sysctl("net.inet.carp.preempt", 1)
    assert ok(host, "sysctl", "net.inet.carp") == sample("sysctl_carp/opnsense-3671-fw1-initial.txt")


def test_carp_kernel_log_lines_match_the_bsdrp_vrrp_capture():
    # Land the two transitions on the capture's seconds (UTC stamps).
    t11 = calendar.timegm((2024, 2, 27, 9, 19, 11, 0, 0, 0))
    from carpha.sim import SimClock
    cluster = Cluster(SimClock(t11 - 10.2))
    r1 = cluster.add_host("r1", interfaces={"vtnet3": {"ether": "58:9c:fc:00:00:01"},
                                            "vtnet4": {"ether": "58:9c:fc:00:01:01"}})
    r1.set_sysctl("net.inet.carp.preempt", 1)
    r1.add_carp("vtnet3", 1, advskew=0, address="10.0.13.254/24")
    r1.add_carp("vtnet4", 2, advskew=200, address="10.0.24.254/24")
    cluster.advance(10)
    r2 = cluster.add_host("r2", hostname="router",
                          interfaces={"vtnet3": {"ether": "58:9c:fc:00:00:02"},
                                      "vtnet4": {"ether": "58:9c:fc:00:01:02"}})
    r2.set_sysctl("net.inet.carp.preempt", 1)
    r2.add_carp("vtnet3", 1, advskew=100, address="10.0.13.254/24")
    r2.add_carp("vtnet4", 2, advskew=0, address="10.0.24.254/24")
    cluster.advance(1.0)          # r1's slower vhid 2 advert: r2 preempts
    cluster.crash("r1")
    cluster.advance(5)            # vhid 1: master timed out
    lines = "\n".join(r2.messages()[-2:]) + "\n"
    assert lines == sample("syslog_carp/bsdrp-vrrp-r2-takeover.txt")


def fsck_host():
    cluster = Cluster()
    host = cluster.add_host("h", disks={"ufsid/5c11689b7c8fb123": 1024, "gpt/rt2AC69": 1024})
    return cluster, host


def test_fsck_preen_of_a_crashed_su_j_filesystem_replays_the_journal_as_captured():
    cluster, host = fsck_host()
    host.make_filesystem("ufsid/5c11689b7c8fb123")
    ok(host, "mount", "/dev/ufsid/5c11689b7c8fb123", "/data")
    cluster.crash("h")
    cluster.boot("h")
    out = ok(host, "fsck", "-p", "-t", "ufs", "/dev/ufsid/5c11689b7c8fb123")
    captured = [line[9:] for line in
                sample("fsck/pfsense-sg1100-boot-suj-recovery-numbered.txt").splitlines()]
    assert out.splitlines() == captured[7:16]


def test_fsck_preen_of_a_clean_filesystem_skips_checks_as_in_the_devd_capture():
    cluster, host = fsck_host()
    host.make_filesystem("gpt/rt2AC69", free=(26, 235075))
    out = ok(host, "fsck_ufs", "-p", "/dev/gpt/rt2AC69")
    captured = sample("devd/dtxdf-devd-debug-geom-create-automount.txt").splitlines()
    assert out.splitlines() == captured[-3:-1]


def test_ggatec_create_prints_the_unit_and_list_one_per_line_as_captured():
    cluster = Cluster()
    server = cluster.add_host("srv", interfaces={"em0": {"inet": ["192.168.1.1/24"]}},
                              disks={"da0s4d": 64, "da1": 64, "da2": 64, "da3": 64})
    client = cluster.add_host("cli", interfaces={"em0": {"inet": ["192.168.1.5/24"]}})
    # The handbook's exports line, plus three more disks for the list capture.
    server.write_file("/etc/gg.exports", sample("ggated_exports/handbook-gg-exports-line.txt")
                      + "192.168.1.5 RW /dev/da1\n192.168.1.5 RW /dev/da2\n"
                      + "192.168.1.5 RW /dev/da3\n")
    ok(server, "ggated")
    out = ok(client, "ggatec", "create", "-o", "rw", "192.168.1.1", "/dev/da0s4d")
    assert out == sample("ggatec/handbook-ggatec-create-output.txt")
    for disk in ("da1", "da2", "da3"):
        ok(client, "ggatec", "create", "192.168.1.1", f"/dev/{disk}")
    assert ok(client, "ggatec", "list") == sample("ggatec/nbd-client-readme-ggatec-list.txt")


def test_syslog_lines_use_the_bsd_timestamp_layout():
    cluster = Cluster()
    host = cluster.add_host("h", hostname="router")
    ok(host, "logger", "-t", "carpha", "hello")
    assert host.messages()[-1] == "Nov 14 22:13:20 router carpha: hello"
    rc, _, _ = run(host, "logger", "-p", "daemon.notice", "-t", "carpha", "two", "words")
    assert rc == 0 and host.messages()[-1].endswith("carpha: two words")
