"""CARP election, failover and return over simulated links (reference 2)."""

import pytest

from carpha.freebsd.ifconfig import parse_ifconfig
from carpha.sim import Cluster
from simkit import ok, run


@pytest.fixture
def lan():
    """a (advskew 0) and b (advskew 100), preempt on, vhid 1 on em0."""
    cluster = Cluster()
    hosts = []
    for name, skew in (("a", 0), ("b", 100)):
        host = cluster.add_host(name)
        host.set_sysctl("net.inet.carp.preempt", 1)
        host.add_carp("em0", 1, advskew=skew, address="192.0.2.100/24")
        hosts.append(host)
    return (cluster, *hosts)


def test_the_host_with_the_lower_skew_becomes_master_after_three_advbase(lan):
    cluster, a, b = lan
    cluster.advance(2.9)
    assert (a.carp_state(1), b.carp_state(1)) == ("BACKUP", "BACKUP")
    cluster.advance(0.2)
    assert (a.carp_state(1), b.carp_state(1)) == ("MASTER", "BACKUP")
    assert a.devd_events == ["!system=CARP subsystem=1@em0 type=BACKUP",
                             "!system=CARP subsystem=1@em0 type=MASTER"]
    assert a.messages()[-1].endswith("kernel: carp: 1@em0: BACKUP -> MASTER (master timed out)")


def test_a_crashed_master_is_replaced_once_the_backup_times_out(lan):
    cluster, a, b = lan
    cluster.advance(10)
    seen = []
    b.on_devd_event(lambda line: seen.append((cluster.clock.t, line)))
    cluster.crash("a")
    cluster.advance(5)
    assert b.carp_state(1) == "MASTER"
    (when, line), = seen
    assert line == "!system=CARP subsystem=1@em0 type=MASTER"
    # Last advert at t=10; b waits 3*advbase + advskew/256 = 3.39 s.
    assert when == pytest.approx(10 + 3 + 100 / 256)


def test_a_returning_preferred_host_preempts_the_slower_master(lan):
    cluster, a, b = lan
    cluster.advance(10)
    cluster.crash("a")
    cluster.advance(5)
    cluster.boot("a")
    cluster.advance(2)
    assert (a.carp_state(1), b.carp_state(1)) == ("MASTER", "BACKUP")
    assert a.messages()[-1].endswith("(preempting a slower master)")
    assert b.messages()[-1].endswith("MASTER -> BACKUP (more frequent advertisement received)")
    assert a.devd_events[-2:] == ["!system=CARP subsystem=1@em0 type=BACKUP",
                                  "!system=CARP subsystem=1@em0 type=MASTER"]


def test_without_preempt_a_returning_host_stays_backup(lan):
    cluster, a, b = lan
    for host in (a, b):
        host.set_sysctl("net.inet.carp.preempt", 0)
    cluster.advance(10)
    cluster.crash("a")
    cluster.advance(5)
    cluster.boot("a")
    cluster.advance(10)
    assert (a.carp_state(1), b.carp_state(1)) == ("BACKUP", "MASTER")


def test_a_cut_link_makes_both_masters_and_healing_resolves_it(lan):
    cluster, a, b = lan
    cluster.advance(10)
    cluster.cut("a", "b")
    cluster.advance(5)
    assert (a.carp_state(1), b.carp_state(1)) == ("MASTER", "MASTER")
    cluster.heal("a", "b")
    cluster.advance(2)
    assert (a.carp_state(1), b.carp_state(1)) == ("MASTER", "BACKUP")


def test_demoting_the_master_hands_over_to_a_preempting_backup(lan):
    cluster, a, b = lan
    cluster.advance(10)
    ok(a, "sysctl", "net.inet.carp.demotion=240")
    cluster.advance(3)
    assert (a.carp_state(1), b.carp_state(1)) == ("BACKUP", "MASTER")


def test_forcing_backup_is_temporary_when_the_peer_preempts_back(lan):
    cluster, a, b = lan
    cluster.advance(10)
    ok(a, "ifconfig", "em0", "vhid", "1", "state", "backup")
    assert a.carp_state(1) == "BACKUP"
    assert a.messages()[-1].endswith("MASTER -> BACKUP (user requested via ifconfig)")
    cluster.advance(5)
    # b took over, then a (preempt, faster) heard b's slower advert.
    assert (a.carp_state(1), b.carp_state(1)) == ("MASTER", "BACKUP")


def test_forcing_master_makes_it_master_at_once(lan):
    cluster, a, b = lan
    cluster.advance(10)
    ok(b, "ifconfig", "em0", "vhid", "1", "advskew", "0", "state", "master")
    assert b.carp_state(1) == "MASTER"


def test_state_requests_are_ignored_in_init(lan):
    cluster, a, b = lan
    ok(a, "ifconfig", "em0", "down")
    assert a.carp_state(1) == "INIT"
    ok(a, "ifconfig", "em0", "vhid", "1", "state", "master")
    assert a.carp_state(1) == "INIT"


def test_interface_down_goes_init_and_demotes_by_the_ifdown_factor(lan):
    cluster, a, b = lan
    cluster.advance(10)
    ok(a, "ifconfig", "em0", "down")
    assert a.carp_state(1) == "INIT"
    assert a.devd_events[-1] == "!system=CARP subsystem=1@em0 type=INIT"
    assert ok(a, "sysctl", "-n", "net.inet.carp.demotion") == "240\n"
    assert "flags=8802<BROADCAST,SIMPLEX,MULTICAST>" in ok(a, "ifconfig", "em0")
    cluster.advance(5)
    assert b.carp_state(1) == "MASTER"
    ok(a, "ifconfig", "em0", "up")
    assert ok(a, "sysctl", "-n", "net.inet.carp.demotion") == "0\n"
    cluster.advance(2)
    assert a.carp_state(1) == "MASTER"


def test_carp_allow_zero_puts_vhids_in_init(lan):
    cluster, a, b = lan
    cluster.advance(10)
    ok(a, "sysctl", "net.inet.carp.allow=0")
    assert a.carp_state(1) == "INIT"


def test_a_host_that_boots_comes_up_backup_with_its_rc_conf_addresses(lan):
    cluster, a, b = lan
    cluster.advance(10)
    ok(a, "ifconfig", "em0", "inet", "192.0.2.50/32", "alias")
    cluster.crash("a")
    cluster.boot("a")
    out = ok(a, "ifconfig", "em0")
    assert "192.0.2.50" not in out and "vhid 1" in out
    assert "carp: BACKUP vhid 1 advbase 1 advskew 0" in out


# -- adding or removing a vhid address resets it (reference 2.4, 3.2) ----------

CARP_EVENTS = ("!system=CARP subsystem=1@em0 type=INIT", "!system=CARP subsystem=1@em0 type=BACKUP")


def test_adding_an_address_to_a_master_vhid_resets_it_through_init(lan):
    cluster, a, b = lan
    cluster.advance(10)
    seen = len(a.devd_events)
    ok(a, "ifconfig", "em0", "inet", "192.0.2.101/32", "vhid", "1", "alias")
    assert a.devd_events[seen:] == list(CARP_EVENTS)
    assert a.messages()[-2].endswith("carp: 1@em0: MASTER -> INIT (hardware interface up)")
    assert a.messages()[-1].endswith("carp: 1@em0: INIT -> BACKUP (initialization complete)")
    # MASTER again only when its master-down timer (3 * advbase) runs out.
    cluster.advance(2.9)
    assert a.carp_state(1) == "BACKUP"
    cluster.advance(0.2)
    assert (a.carp_state(1), b.carp_state(1)) == ("MASTER", "BACKUP")
    assert a.messages()[-1].endswith("BACKUP -> MASTER (master timed out)")


def test_removing_one_of_two_addresses_of_a_master_vhid_resets_it_through_init(lan):
    cluster, a, b = lan
    ok(a, "ifconfig", "em0", "inet", "192.0.2.101/32", "vhid", "1", "alias")
    cluster.advance(10)
    assert a.carp_state(1) == "MASTER"
    seen = len(a.devd_events)
    ok(a, "ifconfig", "em0", "inet", "192.0.2.101", "-alias")
    assert a.devd_events[seen:] == list(CARP_EVENTS)
    assert a.carp_state(1) == "BACKUP"


def test_removing_the_last_address_of_a_master_vhid_sends_init_and_destroys_it(lan):
    cluster, a, b = lan
    cluster.advance(10)
    seen = len(a.devd_events)
    ok(a, "ifconfig", "em0", "inet", "192.0.2.100", "-alias")
    # carp_detach(): carp_sc_state() first, then carp_destroy() (SIOCDIFADDR)
    assert a.devd_events[seen:] == ["!system=CARP subsystem=1@em0 type=INIT"]
    assert a.carp_states() == {} and "carp:" not in ok(a, "ifconfig", "em0")


def test_readding_a_master_carp_address_without_vhid_leaves_the_vhid_empty_in_init(lan):
    cluster, a, b = lan
    cluster.advance(10)
    seen = len(a.devd_events)
    ok(a, "ifconfig", "em0", "inet", "192.0.2.100/24", "alias")
    cluster.advance(10)
    # devd gets INIT and nothing after it; the vhid survives without addresses.
    assert a.devd_events[seen:] == ["!system=CARP subsystem=1@em0 type=INIT"]
    assert a.carp_state(1) == "INIT"
    assert "\tcarp: INIT vhid 1 advbase 1 advskew 0\n" in ok(a, "ifconfig", "em0")
    assert b.carp_state(1) == "MASTER"


# -- 14.x unicast CARP (reference 2.2, 2.3) ---------------------------------------

@pytest.fixture
def lan14(lan):
    """The lan on FreeBSD 14.x, each host sending its adverts to the other."""
    cluster, a, b = lan
    for host, other in ((a, "192.0.2.2"), (b, "192.0.2.1")):
        host.release = 14
        host.set_carp_peer("em0", 1, peer=other)
    return cluster, a, b


def test_14x_ifconfig_prints_a_peer_line_under_each_vhid_and_13x_does_not(lan14):
    cluster, a, b = lan14
    out = ok(a, "ifconfig", "em0")
    assert "\tcarp: BACKUP vhid 1 advbase 1 advskew 0\n\t      peer 192.0.2.2 peer6 ff02::12\n" in out
    carp, = parse_ifconfig(out)["em0"]["carp"]          # what carpha reads from it
    assert (carp["peer"], carp["peer6"]) == ("192.0.2.2", "ff02::12")
    a.release = 13
    assert "peer" not in ok(a, "ifconfig", "em0")


def test_14x_vhid_command_without_peer_puts_a_unicast_vhid_back_on_multicast(lan14):
    cluster, a, b = lan14
    cluster.advance(10)
    ok(a, "ifconfig", "em0", "vhid", "1", "advskew", "240")
    vh = a.interfaces["em0"].vhids[1]
    assert (vh.advskew, vh.peer, vh.peer6) == (240, "224.0.0.18", "ff02::12")
    assert "\t      peer 224.0.0.18 peer6 ff02::12\n" in ok(a, "ifconfig", "em0")


def test_14x_vhid_command_repeating_peer_keeps_it(lan14):
    cluster, a, b = lan14
    cluster.advance(10)
    ok(a, "ifconfig", "em0", "vhid", "1", "state", "backup", "peer", "192.0.2.2")
    vh = a.interfaces["em0"].vhids[1]
    assert (vh.state, vh.peer, vh.peer6) == ("BACKUP", "192.0.2.2", "ff02::12")
    ok(a, "ifconfig", "em0", "vhid", "1", "peer6", "2001:db8::2", "mcast")
    assert (vh.peer, vh.peer6) == ("224.0.0.18", "2001:db8::2")


def test_14x_peer6_must_be_an_ipv6_address(lan14):
    cluster, a, b = lan14
    rc, out, err = run(a, "ifconfig", "em0", "vhid", "1", "peer6", "192.0.2.2")
    assert (rc, out, err) == (1, "", "ifconfig: Invalid IPv6 address 192.0.2.2\n")


def test_13x_ifconfig_has_no_peer_keyword(lan):
    cluster, a, b = lan
    rc, out, err = run(a, "ifconfig", "em0", "vhid", "1", "advskew", "240", "peer", "192.0.2.2")
    assert (rc, out, err) == (1, "", "ifconfig: peer: bad value\n")
    assert a.interfaces["em0"].vhids[1].advskew == 0          # nothing was applied
    with pytest.raises(ValueError):
        a.set_carp_peer("em0", 1, peer="192.0.2.2")


def test_a_unicast_advert_reaches_only_the_named_peer():
    """a (skew 0) advertises to b only; c (skew 200, multicast) hears no
    master and takes MASTER too, while b stays BACKUP."""
    cluster = Cluster()
    hosts = {}
    for name, skew in (("a", 0), ("b", 100), ("c", 200)):
        host = hosts[name] = cluster.add_host(name)
        host.release = 14
        host.add_carp("em0", 1, advskew=skew, address="192.0.2.100/24",
                      peer="192.0.2.2" if name == "a" else None)
    cluster.advance(10)
    assert [hosts[n].carp_state(1) for n in "abc"] == ["MASTER", "BACKUP", "MASTER"]
    # Back on multicast, c hears a's faster adverts and yields.
    ok(hosts["a"], "ifconfig", "em0", "vhid", "1", "advskew", "0")
    cluster.advance(2)
    assert [hosts[n].carp_state(1) for n in "abc"] == ["MASTER", "BACKUP", "BACKUP"]
