"""parse_ifconfig on the shared captures and on format-derived variants."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError
from carpha.freebsd.ifconfig import parse_ifconfig

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")


def sample(name):
    with open(os.path.join(SAMPLES, "ifconfig_carp", name)) as f:
        return f.read()


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def test_vm2_master_has_two_carp_vhids_and_their_addresses():
    vtnet3 = parse_ifconfig(sample("bsdrp-pfcarp-vm2-vtnet3-master-v4v6.txt"))["vtnet3"]
    assert vtnet3["carp"] == [
        {"state": "MASTER", "vhid": 1, "advbase": 1, "advskew": 100},
        {"state": "MASTER", "vhid": 2, "advbase": 1, "advskew": 100},
    ]
    assert {"address": "192.168.10.254", "prefixlen": 32, "vhid": 1, "broadcast": "192.168.10.254"} in vtnet3["inet"]
    assert {"address": "192.168.10.2", "prefixlen": 30, "vhid": None, "broadcast": "192.168.10.3"} in vtnet3["inet"]
    v6 = {e["address"]: e for e in vtnet3["inet6"]}
    assert (v6["2001:db8:10::fe"]["prefixlen"], v6["2001:db8:10::fe"]["vhid"]) == (128, 2)
    assert (v6["2001:db8:10::2"]["prefixlen"], v6["2001:db8:10::2"]["vhid"]) == (64, None)
    # %scope is cut off the address and kept apart.
    assert v6["fe80::5a9c:fcff:fe02:2"]["zone"] == "vtnet3"
    assert v6["fe80::5a9c:fcff:fe02:2"]["scopeid"] == 4
    assert vtnet3["flags"] == ["UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST"]
    assert (vtnet3["mtu"], vtnet3["ether"], vtnet3["status"]) == (1500, "58:9c:fc:02:00:02", "active")
    assert vtnet3["options"] == ["VLAN_MTU", "JUMBO_MTU", "LINKSTATE"]


def test_vm3_backup_reports_backup_with_advskew_200():
    vtnet3 = parse_ifconfig(sample("bsdrp-pfcarp-vm3-vtnet3-backup-v4v6.txt"))["vtnet3"]
    assert [(c["state"], c["vhid"], c["advskew"]) for c in vtnet3["carp"]] == [("BACKUP", 1, 200), ("BACKUP", 2, 200)]
    # The vhid address is configured on the BACKUP too (reference 2.3).
    assert [e["address"] for e in vtnet3["inet"] if e["vhid"] == 1] == ["192.168.10.254"]


def test_opnsense_capture_keeps_its_redacted_ipv6_address_verbatim_and_marked():
    iface = parse_ifconfig(sample("opnsense-1549-vtnet0-master.txt"))["vtnet0"]
    assert iface["inet6"][0]["address"] == "fe80::xxxx:xxff:fe31:703d"
    assert iface["inet6"][0]["redacted"] is True and iface["inet6"][0]["prefixlen"] == 64
    assert iface["carp"] == [{"state": "MASTER", "vhid": 1, "advbase": 1, "advskew": 0}]


def test_an_address_that_is_neither_valid_nor_redacted_is_refused():
    with pytest.raises(ParseError) as excinfo:
        parse_ifconfig("em0: flags=8843<UP> metric 0 mtu 1500\n\tinet6 fe80::zz%em0 prefixlen 64\n")
    assert excinfo.value.lineno == 2


def test_opnsense_capture_without_the_redacted_ipv6_line_keeps_the_redacted_mac_as_text():
    lines = sample("opnsense-1549-vtnet0-master.txt").split("\n")
    assert lines[5].strip().startswith("inet6 fe80::xxxx")
    vtnet0 = parse_ifconfig("\n".join(lines[:5] + lines[6:]))["vtnet0"]
    assert vtnet0["ether"] == "xx:xx:xx:31:70:3d"
    assert "PROMISC" in vtnet0["flags"]
    # carp line printed after media/status in this release: order does not matter.
    assert vtnet0["carp"] == [{"state": "MASTER", "vhid": 1, "advbase": 1, "advskew": 0}]
    assert vtnet0["inet"] == [
        {"address": "10.0.0.231", "prefixlen": 24, "vhid": None, "broadcast": "10.0.0.255"},
        {"address": "10.0.0.230", "prefixlen": 32, "vhid": 1, "broadcast": "10.0.0.230"},
    ]


def test_several_interfaces_with_tabs_each_get_their_own_entry():
    parsed = parse_ifconfig(fixture("ifconfig-14x-three-interfaces-tabs.txt"))
    assert list(parsed) == ["em0", "em1", "lo0"]
    assert (parsed["em1"]["status"], parsed["em1"]["mtu"], parsed["em1"]["inet"]) == ("no carrier", 9000, [])
    assert "UP" not in parsed["em1"]["flags"]


def test_many_vhids_including_init_and_14x_peer_lines_are_read():
    em0 = parse_ifconfig(fixture("ifconfig-14x-three-interfaces-tabs.txt"))["em0"]
    assert [(c["vhid"], c["state"], c["advbase"], c["advskew"], c["peer"], c["peer6"]) for c in em0["carp"]] == [
        (1, "MASTER", 1, 0, "224.0.0.18", "ff02::12"),
        (2, "BACKUP", 1, 100, "224.0.0.18", "ff02::12"),
        (3, "INIT", 2, 240, "192.0.2.12", "ff02::12"),
    ]
    assert [(e["address"], e["vhid"]) for e in em0["inet"]] == [
        ("192.0.2.11", None), ("192.0.2.50", 1), ("192.0.2.51", 2), ("192.0.2.52", 3)]
    assert [(e["address"], e["flags"]) for e in em0["inet6"]][1] == ("2001:db8::11", ["tentative"])


def test_loopback_has_ipv6_localhost_and_scoped_link_local_without_ether():
    lo0 = parse_ifconfig(fixture("ifconfig-14x-three-interfaces-tabs.txt"))["lo0"]
    assert lo0["ether"] is None and lo0["status"] is None
    assert lo0["inet"] == [{"address": "127.0.0.1", "prefixlen": 8, "vhid": None}]
    assert [(e["address"], e["prefixlen"], e["zone"], e["scopeid"]) for e in lo0["inet6"]] == [
        ("::1", 128, None, None), ("fe80::1", 64, "lo0", 3)]


def test_cidr_form_with_trailing_blanks_gives_prefix_lengths_and_vhids():
    em0 = parse_ifconfig(fixture("ifconfig-13x-cidr-trailing-blanks.txt"))["em0"]
    assert [(e["address"], e["prefixlen"], e["vhid"]) for e in em0["inet"]] == [
        ("192.0.2.11", 24, None), ("192.0.2.50", 32, 1)]
    assert [(e["address"], e["prefixlen"], e["vhid"], e["zone"]) for e in em0["inet6"]] == [
        ("fe80::20c:29ff:feaa:bb01", 64, None, "em0"), ("2001:db8::11", 64, None, None),
        ("2001:db8::50", 128, 1, None)]
    assert em0["inet6"][1]["flags"] == ["deprecated", "autoconf"]
    assert em0["carp"] == [{"state": "BACKUP", "vhid": 1, "advbase": 1, "advskew": 100}]
    assert em0["status"] == "active"


def test_dotted_netmask_and_point_to_point_destination_are_read():
    text = ("tun0: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1500\n"
            "\tinet 10.9.0.1 --> 10.9.0.2 netmask 255.255.255.252\n"
            "\tinet6 fe80::1%tun0 --> fe80::2%tun0 prefixlen 64 scopeid 0x5\n")
    tun0 = parse_ifconfig(text)["tun0"]
    assert tun0["inet"] == [{"address": "10.9.0.1", "prefixlen": 30, "vhid": None, "destination": "10.9.0.2"}]
    assert tun0["inet6"][0]["destination"] == "fe80::2"


def test_carp_key_printed_by_ifconfig_k_is_kept():
    text = ('em0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n'
            '\tcarp: MASTER vhid 7 advbase 1 advskew 0 key "s3cret word"\n')
    assert parse_ifconfig(text)["em0"]["carp"][0]["key"] == "s3cret word"


def test_empty_output_means_no_interfaces():
    assert parse_ifconfig("") == {}
    assert parse_ifconfig("\n\n") == {}


HEADER = "em0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"


@pytest.mark.parametrize("text,lineno,words", [
    ("garbage here\n", 1, "flags="),
    ("\tinet 192.0.2.1 netmask 0xffffff00\n", 1, "before any"),
    ("em0: flags=8843<UP> metric 0\n", 1, "mtu"),
    (HEADER + "\tinet 192.0.2.1 netmask 0xff00ff00\n", 2, "not contiguous"),
    (HEADER + "\tinet 192.0.2.1 netmask\n", 2, "truncated"),
    (HEADER + "\tinet 192.0.2.1 broadcast 192.0.2.255\n", 2, "no netmask"),
    (HEADER + "\tinet 192.0.2.300 netmask 0xffffff00\n", 2, "not an IPv4 address"),
    (HEADER + "\tinet 192.0.2.1 netmask 0xffffffff vhid 0\n", 2, "vhid"),
    (HEADER + "\tinet 192.0.2.1 netmask 0xffffffff color blue\n", 2, "unexpected 'color'"),
    (HEADER + "\tinet6 2001:db8::1 vhid 1\n", 2, "no prefixlen"),
    (HEADER + "\tinet6 2001:db8::1 prefixlen 129\n", 2, "prefixlen"),
    (HEADER + "\tcarp: MASTER vhid 1 advbase 1\n", 2, "carp: STATE"),
    (HEADER + "\tcarp: ACTIVE vhid 1 advbase 1 advskew 0\n", 2, "INIT, BACKUP, MASTER"),
    (HEADER + "\t      peer 224.0.0.18 peer6 ff02::12\n", 2, "without a carp line"),
    (HEADER + "\tether 00:11:22\n", 2, "ether"),
    (HEADER + "\n" + HEADER, 3, "twice"),
])
def test_text_that_is_not_ifconfig_output_raises_parse_error_on_its_line(text, lineno, words):
    with pytest.raises(ParseError) as excinfo:
        parse_ifconfig(text)
    assert excinfo.value.lineno == lineno
    assert words in excinfo.value.reason
