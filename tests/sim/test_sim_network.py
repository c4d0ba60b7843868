"""ifconfig address traps, sysctl and kernel modules (reference 2, 3, 10)."""

import re

import pytest

from carpha.sim import Cluster
from simkit import ok, run


@pytest.fixture
def host():
    cluster = Cluster()
    h = cluster.add_host("h", interfaces={"em0": {"ether": "58:9c:fc:00:00:01",
                                                  "inet": ["192.0.2.1/24"]},
                                          "em1": {"ether": "58:9c:fc:00:01:01",
                                                  "inet": ["198.51.100.1/24"]}})
    h.add_carp("em0", 1, address="192.0.2.100/24")
    return h


def cidr(host, ifname="em0"):
    return ok(host, "ifconfig", "-f", "inet:cidr,inet6:cidr", ifname)


def test_adding_an_alias_shows_it_and_deleting_it_removes_it(host):
    ok(host, "ifconfig", "em0", "inet", "192.0.2.10/24", "alias")
    assert "\tinet 192.0.2.10/24 broadcast 192.0.2.255\n" in cidr(host)
    ok(host, "ifconfig", "em0", "inet", "192.0.2.10", "-alias")
    assert "192.0.2.10/" not in cidr(host)


def test_add_and_delete_are_synonyms_of_alias_and_minus_alias(host):
    ok(host, "ifconfig", "em0", "inet", "192.0.2.11/32", "add")
    assert "\tinet 192.0.2.11/32 broadcast 192.0.2.11\n" in cidr(host)
    ok(host, "ifconfig", "em0", "inet", "192.0.2.11", "delete")
    assert "192.0.2.11" not in cidr(host)


def test_readding_an_existing_address_succeeds_and_keeps_one_copy(host):
    ok(host, "ifconfig", "em0", "inet", "192.0.2.10/24", "alias")
    rc, out, err = run(host, "ifconfig", "em0", "inet", "192.0.2.10/24", "alias")
    assert (rc, out, err) == (0, "", "")
    assert cidr(host).count("192.0.2.10/") == 1


def test_readding_a_carp_address_without_vhid_strips_it_from_carp(host):
    ok(host, "ifconfig", "em0", "inet", "192.0.2.100/24", "alias")
    out = cidr(host)
    assert "\tinet 192.0.2.100/24 broadcast 192.0.2.255\n" in out
    # in_aifaddr_ioctl() detaches with keep_cif: the vhid stays, empty, in
    # INIT (reference 3.2); only `-alias` of its last address destroys it.
    assert "\tcarp: INIT vhid 1 advbase 1 advskew 0\n" in out


def test_deleting_a_missing_address_fails_with_the_kernel_error(host):
    rc, out, err = run(host, "ifconfig", "em0", "inet", "192.0.2.99", "-alias")
    assert (rc, out) == (1, "")
    assert err == "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"


def test_the_same_address_on_a_second_interface_is_accepted(host):
    ok(host, "ifconfig", "em0", "inet", "203.0.113.5/32", "alias")
    ok(host, "ifconfig", "em1", "inet", "203.0.113.5/32", "alias")
    assert "203.0.113.5/32" in cidr(host, "em0") and "203.0.113.5/32" in cidr(host, "em1")


def test_an_address_without_alias_replaces_the_first_address(host):
    ok(host, "ifconfig", "em1", "inet", "198.51.100.9/24")
    out = cidr(host, "em1")
    assert "198.51.100.9/24" in out and "198.51.100.1/" not in out


def test_an_unknown_interface_is_reported_as_ifconfig_does(host):
    rc, _, err = run(host, "ifconfig", "em9")
    assert (rc, err) == (1, "ifconfig: interface em9 does not exist\n")
    rc, _, err = run(host, "ifconfig", "em9", "inet", "192.0.2.5/32", "alias")
    assert (rc, err) == (1, "ifconfig: interface em9 does not exist\n")


def test_ipv6_aliases_are_added_with_a_prefix_length_and_removed(host):
    ok(host, "ifconfig", "em0", "inet6", "2001:db8::10", "prefixlen", "64", "alias")
    assert "\tinet6 2001:db8::10/64\n" in cidr(host)
    assert "nd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>" in ok(host, "ifconfig", "em0")
    ok(host, "ifconfig", "em0", "inet6", "2001:db8::10", "-alias")
    assert "2001:db8::10" not in cidr(host)
    rc, _, err = run(host, "ifconfig", "em0", "inet6", "2001:db8::10", "-alias")
    assert (rc, err) == (1, "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n")


def test_ifconfig_l_lists_interface_names(host):
    assert ok(host, "ifconfig", "-l") == "em0 em1\n"


def test_a_bad_ifconfig_flag_prints_the_usage_and_exits_1(host):
    rc, out, err = run(host, "ifconfig", "-Z")
    assert rc == 1 and out == "" and err.startswith("usage: ifconfig [-f type:format]")


def test_an_ifconfig_keyword_the_simulator_does_not_model_exits_64(host):
    rc, _, err = run(host, "ifconfig", "em0", "mtu", "9000")
    assert rc == 64 and "not simulated" in err


def test_vhid_out_of_range_is_refused_like_ifconfig(host):
    rc, _, err = run(host, "ifconfig", "em0", "vhid", "300", "advskew", "10")
    assert (rc, err) == (1, "ifconfig: vhid must be greater than 0 and less than 255\n")
    rc, _, err = run(host, "ifconfig", "em0", "advskew", "10")
    assert rc == 1


# -- sysctl -------------------------------------------------------------------

def test_writing_the_carp_demotion_adds_to_it(host):
    assert ok(host, "sysctl", "net.inet.carp.demotion=240") == "net.inet.carp.demotion: 0 -> 240\n"
    assert ok(host, "sysctl", "net.inet.carp.demotion=0") == "net.inet.carp.demotion: 240 -> 240\n"
    assert ok(host, "sysctl", "-n", "net.inet.carp.demotion") == "240\n"
    ok(host, "sysctl", "net.inet.carp.demotion=-240")
    assert ok(host, "sysctl", "-n", "net.inet.carp.demotion") == "0\n"


def test_other_sysctls_are_set_and_printed_old_to_new(host):
    assert ok(host, "sysctl", "net.inet.carp.preempt=1") == "net.inet.carp.preempt: 0 -> 1\n"
    assert ok(host, "sysctl", "-n", "net.inet.carp.preempt=0") == "1 -> 0\n"


def test_an_unknown_sysctl_fails_with_unknown_oid(host):
    rc, _, err = run(host, "sysctl", "net.inet.carp.nope")
    assert (rc, err) == (1, "sysctl: unknown oid 'net.inet.carp.nope'\n")
    rc, _, err = run(host, "sysctl", "-q", "net.inet.carp.nope")
    assert (rc, err) == (1, "")


def test_geom_mirror_sysctls_exist_only_with_the_module_loaded(host):
    rc, _, _ = run(host, "sysctl", "kern.geom.mirror.timeout")
    assert rc == 1
    ok(host, "kldload", "geom_mirror")
    assert ok(host, "sysctl", "-n", "kern.geom.mirror.timeout") == "4\n"


def test_kern_boot_id_is_opaque_printed_only_with_x_and_read_only(host):
    # sysctl.c show_var(): an opaque OID without a printer is skipped (no
    # output, no newline, exit 0) unless -b/-o/-x asks for a dump
    assert run(host, "sysctl", "kern.boot_id") == (0, "", "")
    dump = ok(host, "sysctl", "-n", "-x", "kern.boot_id")
    assert re.fullmatch(r"Format: Length:16 Dump:0x[0-9a-f]{32}\n", dump)
    assert ok(host, "sysctl", "-x", "kern.boot_id") == "kern.boot_id: " + dump
    rc, _, err = run(host, "sysctl", "kern.boot_id=1")
    assert (rc, err) == (1, "sysctl: oid 'kern.boot_id' is read only\n")


def test_kern_boot_id_is_new_every_boot_and_absent_on_a_release_without_it(host):
    first = ok(host, "sysctl", "-n", "-x", "kern.boot_id")
    host.step_clock(3600)
    assert ok(host, "sysctl", "-n", "-x", "kern.boot_id") == first
    host.cluster.crash(host.name)
    host.cluster.boot(host.name)
    assert ok(host, "sysctl", "-n", "-x", "kern.boot_id") != first
    host.without_boot_id()
    rc, _, err = run(host, "sysctl", "-n", "-x", "kern.boot_id")
    assert (rc, err) == (1, "sysctl: unknown oid 'kern.boot_id'\n")


def test_a_clock_step_moves_kern_boottime_but_not_the_timers(host):
    # kern_tc.c tc_setclock(): boot time = new time - uptime
    booted = int(host.boottime)
    assert ok(host, "sysctl", "-n", "kern.boottime").startswith(f"{{ sec = {booted}, usec = 0 }} ")
    monotonic = host.cluster.clock.monotonic()
    host.step_clock(3600.5)
    assert ok(host, "sysctl", "-n", "kern.boottime").startswith(f"{{ sec = {booted + 3600}, usec = 500000 }} ")
    assert host.wall_now() == host.now() + 3600.5 and host.cluster.clock.monotonic() == monotonic


# -- kernel modules -------------------------------------------------------------

def test_kldload_without_n_refuses_a_loaded_module_and_with_n_succeeds(host):
    rc, _, err = run(host, "kldload", "carp")
    assert (rc, err) == (1, "kldload: can't load carp: module already loaded or in kernel\n")
    assert run(host, "kldload", "-n", "carp") == (0, "", "")
    rc, _, err = run(host, "kldload", "nosuchmodule")
    assert (rc, err) == (1, "kldload: can't load nosuchmodule: No such file or directory\n")


def test_kldstat_m_takes_the_module_name_not_the_file_name(host):
    ok(host, "kldload", "geom_mirror")
    assert run(host, "kldstat", "-q", "-m", "g_mirror") == (0, "", "")
    assert run(host, "kldstat", "-q", "-m", "geom_mirror")[0] == 1
    rc, _, err = run(host, "kldstat", "-m", "g_gate")
    assert (rc, err) == (1, "kldstat: can't find module g_gate: No such file or directory\n")
