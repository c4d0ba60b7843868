"""carpha.config: the example loads, defaults apply, every bad config is
reported with the exact line, key path and reason, and load() refuses files
root should not trust."""

import dataclasses
import ipaddress
import os
import socket

import pytest

from carpha import config
from carpha.config import ConfigError, load, loads

# Every test here runs on both YAML paths (the yaml_path fixture, tests/conftest.py).
pytestmark = pytest.mark.usefixtures("yaml_path")

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "examples", "three-servers.yaml")

# Line numbers matter: the expected messages below cite them.
BASE = """\
nodes:
  serverA: {address: 192.0.2.1}
  serverB: {address: 192.0.2.2}
  serverC: {address: 192.0.2.3}
witness:
  kind: lease
  node: serverC
  path: /mnt/carpha-witness
groups:
  web:
    nodes: [serverA, serverB]
    preferred_node: serverA
    carp: {interface: em0, vhid: 1}
    addresses:
      - em0 192.0.2.10/24
      - em0 2001:db8::10/64
    storage:
      kind: gmirror-ggate
      mirror: data
      providers: {serverA: ada1, serverB: ada1}
    filesystems:
      - device: /dev/mirror/data
        mountpoint: /data
    jails: [www, db]
  mail:
    nodes: [serverA, serverB]
    preferred_node: serverB
    carp: {interface: em0, vhid: 2}
    addresses: [em0 192.0.2.20/24]
    storage:
      kind: gmirror-ggate
      mirror: mail
      providers: {serverA: ada2, serverB: ada2}
      ggate: {port: 3081, unit: 1}
    jails: [mail]
"""
assert BASE.splitlines()[12] == "    carp: {interface: em0, vhid: 1}"   # line 13


def variant(*edits):
    """BASE with each (old, new) replaced; old must occur exactly once."""
    text = BASE
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def problems_of(text, node="serverA"):
    with pytest.raises(ConfigError) as caught:
        loads(text, "carpha.yaml", node=node)
    assert caught.value.exit_code == 78
    return caught.value.problems


def write(tmp_path, text, mode=0o644):
    path = tmp_path / "carpha.yaml"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


@pytest.fixture
def owner(monkeypatch):
    """owner(uid): make fstat report that owner, whoever runs the tests."""
    def set_owner(uid):
        real = os.fstat

        def fstat(fd):
            st = real(fd)
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, uid, st.st_gid,
                                   st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime)))
        monkeypatch.setattr(os, "fstat", fstat)
    return set_owner


# --- good configurations ----------------------------------------------------


def test_example_loads_with_the_values_it_states():
    with open(EXAMPLE) as f:
        cfg = loads(f.read(), "three-servers.yaml", node="serverA")

    assert cfg.path == "three-servers.yaml"
    assert cfg.node == "serverA"
    # the witness serverC is a node of the NAS group: said, not refused
    assert [w.split(": ", 2)[1] for w in cfg.warnings] == ["witness.node"]
    assert {name: str(n.address) for name, n in cfg.nodes.items()} == {
        "serverA": "192.0.2.1", "serverB": "192.0.2.2", "serverC": "192.0.2.3"}
    assert cfg.witness == config.Witness("lease", "serverC", "/mnt/carpha-witness", 2, 30, 8)
    assert list(cfg.groups) == ["web", "nas"]
    nas = cfg.groups["nas"]
    assert (nas.nodes, nas.preferred_node, nas.carp, nas.storage) == (
        ("serverC", "serverB"), "serverC", None, config.Storage("local-gmirror", "nas"))
    assert nas.services == ("mountd", "nfsd", "samba_server")
    web = cfg.groups["web"]
    assert web.nodes == ("serverA", "serverB")
    assert web.preferred_node == "serverA"
    assert web.carp.subsystem == "1@em0"
    assert [str(a) for a in web.addresses] == ["em0 192.0.2.10/24", "em0 2001:db8::10/64"]
    assert web.storage == config.Storage("gmirror-ggate", "data", {"serverA": "ada1", "serverB": "ada1"},
                                         config.Ggate(port=3080, unit=0, timeout_seconds=0))
    assert web.filesystems == (config.Filesystem("/dev/mirror/data", "/data", "ufs", "preen", ("noatime",)),)
    assert web.jails == ("www", "db")
    assert web.services == ()


def test_example_commented_node_lines_name_a_and_b():
    with open(EXAMPLE) as f:
        lines = f.read().splitlines()
    assert "# node: serverA" in lines and "# node: serverB" in lines


def test_absent_keys_take_the_documented_defaults():
    cfg = loads("nodes: {a: {address: 192.0.2.1}, b: {address: 192.0.2.2}}\n"
                "groups:\n"
                "  g: {nodes: [a, b], preferred_node: a, carp: {interface: em0, vhid: 7},"
                " addresses: [em0 192.0.2.9/24]}\n", node="a")

    assert cfg.witness == config.Witness("none", None, None, 2, 30, 8)
    assert cfg.timeouts == config.Timeouts(query_seconds=10, change_seconds=30, storage_seconds=60,
                                           fsck_seconds=3600, mount_seconds=60, jail_seconds=300,
                                           service_seconds=120)
    assert cfg.paths == config.Paths("/var/db/carpha", "/var/run/carpha", "/etc/jail.conf",
                                     "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin")
    assert cfg.syslog_facility == "daemon"
    assert cfg.garp == config.Garp(count=5, repeat_count=5, repeat_after_seconds=5)
    g = cfg.groups["g"]
    assert g.storage.kind == "none" and g.storage.ggate is None
    assert (g.filesystems, g.jails, g.services) == ((), (), ())


def test_filesystem_and_ggate_defaults_apply_inside_a_group():
    cfg = loads(BASE, node="serverA")
    assert cfg.groups["web"].filesystems[0] == config.Filesystem("/dev/mirror/data", "/data", "ufs", "preen", ())
    assert cfg.groups["web"].storage.ggate == config.Ggate(3080, 0, 0, 6)
    assert cfg.groups["mail"].storage.ggate == config.Ggate(3081, 1, 0, 6)


def test_fsck_yes_is_the_word_not_a_boolean():
    # YAML 1.1 reads a bare `yes` as true; the schema means the fsck mode.
    cfg = loads(variant(("        mountpoint: /data\n", "        mountpoint: /data\n        fsck: yes\n")),
                node="serverA")
    assert cfg.groups["web"].filesystems[0].fsck == "yes"


def test_node_defaults_to_the_short_hostname(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "serverB.example.org")
    assert loads(BASE).node == "serverB"


def test_node_argument_overrides_the_file():
    assert loads("node: serverA\n" + BASE, node="serverB").node == "serverB"


def test_merge_keys_fill_in_keys_not_written_here():
    text = variant(("carp: {interface: em0, vhid: 1}", "carp: &carp {interface: em0, vhid: 1}"),
                   ("carp: {interface: em0, vhid: 2}", "carp: {<<: *carp, vhid: 2}"))
    cfg = loads(text, node="serverA")
    assert cfg.groups["mail"].carp == config.CarpBinding("em0", 2)


def test_merged_problems_cite_the_line_they_come_from():
    text = variant(("carp: {interface: em0, vhid: 1}", "carp: &carp {interface: em0, vhid: 1, skew: 0}"),
                   ("carp: {interface: em0, vhid: 2}", "carp: {<<: *carp, vhid: 2}"))
    assert problems_of(text) == ["carpha.yaml:13: groups.web.carp.skew: unknown key",
                                 "carpha.yaml:13: groups.mail.carp.skew: unknown key"]


def test_helpers_answer_from_the_groups():
    cfg = loads(BASE, node="serverA")
    web = cfg.groups["web"]
    assert web.peer_of("serverA") == "serverB"
    assert web.peer_of("serverB") == "serverA"
    assert web.peer_of("serverC") is None
    assert cfg.group_for_subsystem("2@em0") is cfg.groups["mail"]
    assert cfg.group_for_subsystem("2@em1") is None
    assert [g.name for g in cfg.groups_served_by("serverB")] == ["web", "mail"]
    assert cfg.groups_served_by("serverC") == ()
    assert [g.name for g in cfg.groups_served_by()] == ["web", "mail"]
    alias = web.addresses[1]
    assert (alias.interface, alias.ip, alias.version) == ("em0", ipaddress.ip_address("2001:db8::10"), 6)
    assert alias.interface_address.network == ipaddress.ip_network("2001:db8::/64")


def test_config_is_frozen():
    cfg = loads(BASE, node="serverA")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.groups["web"].carp.vhid = 9


# --- warnings ---------------------------------------------------------------


def test_no_witness_warns_that_two_masters_are_possible():
    text = variant(("witness:\n  kind: lease\n  node: serverC\n  path: /mnt/carpha-witness\n", ""))
    assert loads(text, "carpha.yaml", node="serverA").warnings == (
        "carpha.yaml:1: witness.kind: none: two masters are possible when the nodes cannot hear each other",)


def test_witness_kind_none_warns_at_its_line():
    text = variant(("  kind: lease\n  node: serverC\n  path: /mnt/carpha-witness\n", "  kind: none\n"))
    assert loads(text, "carpha.yaml", node="serverA").warnings == (
        "carpha.yaml:6: witness.kind: none: two masters are possible when the nodes cannot hear each other",)


# --- bad configurations: one case, the exact lines --------------------------

BAD = [
    ("vhid out of range", [("vhid: 1}", "vhid: 300}")],
     ["carpha.yaml:13: groups.web.carp.vhid: 300 is not in 1..255"]),
    ("vhid a string", [("vhid: 1}", "vhid: one}")],
     ["carpha.yaml:13: groups.web.carp.vhid: expected an integer, got 'one'"]),
    ("vhid a boolean", [("vhid: 1}", "vhid: true}")],
     ["carpha.yaml:13: groups.web.carp.vhid: expected an integer, got a boolean (true)"]),
    ("port a quoted number", [("port: 3081", "port: '3081'")],
     ["carpha.yaml:34: groups.mail.storage.ggate.port: expected an integer, got '3081'"]),
    ("carp a list of non-mappings", [("carp: {interface: em0, vhid: 1}", "carp: [em0, 1]")],
     ["carpha.yaml:13: groups.web.carp[0]: expected a mapping, got 'em0'",
      "carpha.yaml:13: groups.web.carp[1]: expected a mapping, got 1"]),
    ("carp a scalar", [("carp: {interface: em0, vhid: 1}", "carp: em0")],
     ["carpha.yaml:13: groups.web.carp: expected a mapping, got 'em0'"]),
    ("carp an empty list", [("carp: {interface: em0, vhid: 1}", "carp: []")],
     ["carpha.yaml:13: groups.web.carp: expected 1 to 8 vhids, got 0"]),
    ("multi-vhid address on no vhid's interface",
     [("carp: {interface: em0, vhid: 1}", "carp: [{interface: em0, vhid: 1}, {interface: em1, vhid: 2}]"),
      ("- em0 192.0.2.10/24", "- em2 192.0.2.10/24")],
     ["carpha.yaml:14: groups.web.addresses[0]: em2 is not the interface of any of the group's vhids (em0, em1)"]),
    ("multi-vhid vhid twice", [("carp: {interface: em0, vhid: 1}",
                                "carp: [{interface: em0, vhid: 1}, {interface: em0, vhid: 1}]")],
     ["carpha.yaml:13: groups.web.carp[1]: 1@em0 is also used by groups.web.carp[0] (line 13)"]),
    ("jails a mapping", [("jails: [www, db]", "jails: {www: db}")],
     ["carpha.yaml:24: groups.web.jails: expected a list, got a mapping"]),
    ("missing key reported at the parent", [("    preferred_node: serverA\n", "    # none\n")],
     ["carpha.yaml:10: groups.web.preferred_node: required key is missing"]),
    ("unknown key with a suggestion", [("vhid: 1}", "vhdi: 1}")],
     ["carpha.yaml:13: groups.web.carp.vhdi: unknown key (did you mean vhid?)",
      "carpha.yaml:13: groups.web.carp.vhid: required key is missing"]),
    ("unknown top-level key", [("groups:\n", "grops: {}\ngroups:\n")],
     ["carpha.yaml:9: grops: unknown key (did you mean groups?)"]),
    ("duplicate key", [("    jails: [www, db]\n", "    jails: [www]\n    jails: [db]\n")],
     ["carpha.yaml:25: groups.web.jails: duplicate key (first at line 24)"]),
    ("node not in nodes", [("nodes:\n", "node: serverX\nnodes:\n")],
     ["carpha.yaml:1: node: serverX is not one of the nodes (serverA, serverB, serverC)"]),
    ("fewer than two nodes, and what refers to the missing ones",
     [("  serverB: {address: 192.0.2.2}\n  serverC: {address: 192.0.2.3}\n", "")],
     ["carpha.yaml:1: nodes: expected at least 2 nodes, got 1",
      "carpha.yaml:5: witness.node: serverC is not one of the nodes (serverA)",
      "carpha.yaml:9: groups.web.nodes[1]: serverB is not one of the nodes (serverA)",
      "carpha.yaml:24: groups.mail.nodes[1]: serverB is not one of the nodes (serverA)"]),
    ("bad node address", [("address: 192.0.2.2}", "address: 192.0.2.300}")],
     ["carpha.yaml:3: nodes.serverB.address: '192.0.2.300' is not an IPv4 or IPv6 address"]),
    ("group node unknown", [("    nodes: [serverA, serverB]\n    preferred_node: serverB",
                             "    nodes: [serverA, serverX]\n    preferred_node: serverA")],
     ["carpha.yaml:26: groups.mail.nodes[1]: serverX is not one of the nodes (serverA, serverB, serverC)",
      "carpha.yaml:33: groups.mail.storage.providers.serverB: serverB is not one of the group's nodes"
      " (serverA, serverX)",
      "carpha.yaml:33: groups.mail.storage.providers: no provider for serverX"]),
    ("preferred node outside the group", [("preferred_node: serverA", "preferred_node: serverC")],
     ["carpha.yaml:12: groups.web.preferred_node: serverC is not one of the group's nodes (serverA, serverB)"]),
    ("witness node unknown", [("  node: serverC\n", "  node: serverX\n")],
     ["carpha.yaml:7: witness.node: serverX is not one of the nodes (serverA, serverB, serverC)"]),
    ("witness node in a group", [("  node: serverC\n", "  node: serverB\n")],
     ["carpha.yaml:7: witness.node: serverB is also a node of group web; the witness must be a third node"]),
    ("witness kind unknown, nothing else required", [("  kind: lease\n", "  kind: quorum\n")],
     ["carpha.yaml:6: witness.kind: 'quorum' is not one of lease, ping, none"]),
    ("witness node with kind none", [("  kind: lease\n", "  kind: none\n"),
                                     ("  path: /mnt/carpha-witness\n", "")],
     ["carpha.yaml:7: witness.node: not used with kind none"]),
    ("witness path with kind ping", [("  kind: lease\n", "  kind: ping\n")],
     ["carpha.yaml:8: witness.path: only used with kind lease"]),
    ("witness lease without path", [("  path: /mnt/carpha-witness\n", "")],
     ["carpha.yaml:5: witness.path: required key is missing"]),
    ("fence not before takeover", [("  path: /mnt/carpha-witness\n",
                                    "  path: /mnt/carpha-witness\n  fence_after_seconds: 30\n")],
     ["carpha.yaml:9: witness.fence_after_seconds: 30 is not less than takeover_after_seconds (30)",
      "carpha.yaml:9: witness.fence_after_seconds: 30 + interval 2 + worst-case fencing 19"
      " (19 steps x fence_step_seconds 1) = 51 s is not below takeover_after_seconds 30; to fix: set"
      " witness.takeover_after_seconds (not in the file: default 30) to more than 51 (by more than 21),"
      " lower witness.fence_after_seconds from 30 to below 9, or give this node fewer addresses, jails"
      " (3 steps each), services or filesystems"]),
      # web: 2 addresses + 3 x 2 jails + 1 filesystem + 2 mirror steps; mail: 1 + 3 x 1 + 2; + 2
    ("ggate sweep with a lease witness", [("ggate: {port: 3081, unit: 1}",
                                           "ggate: {port: 3081, unit: 1, timeout_seconds: 60}")],
     ["carpha.yaml:34: groups.mail.storage.ggate.timeout_seconds: 60: ggatec -t N sweeps every N s and fails"
      " requests at least 5 s old, so a write to a dead peer can fail 4 to N+5 s after issue, below the"
      " fencing bound 29 s (fence_after_seconds + interval_seconds + worst-case fencing): an isolated master"
      " would acknowledge writes on its own disk alone before fencing, lost when the peer takes over; use 0"
      " (the default: carpha drops a dead peer's half itself once it has recorded it outdated)"]),
    ("same CARP binding twice", [("vhid: 2}", "vhid: 1}")],
     ["carpha.yaml:28: groups.mail.carp: 1@em0 is also used by groups.web.carp (line 13)"]),
    ("same address in two groups, other prefix", [("em0 192.0.2.20/24", "em0 192.0.2.10/28")],
     ["carpha.yaml:29: groups.mail.addresses[0]: 192.0.2.10 is also used by groups.web.addresses[0] (line 15)"]),
    ("same address twice in one group", [("em0 2001:db8::10/64", "em1 192.0.2.10/32")],
     ["carpha.yaml:16: groups.web.addresses[1]: 192.0.2.10 is also used by groups.web.addresses[0] (line 15)"]),
    ("alias is a node's own address", [("em0 192.0.2.20/24", "em0 192.0.2.2/24")],
     ["carpha.yaml:29: groups.mail.addresses[0]: 192.0.2.2 is also used by nodes.serverB.address (line 3)"]),
    ("address without prefix", [("em0 192.0.2.20/24", "em0 192.0.2.20")],
     ["carpha.yaml:29: groups.mail.addresses[0]: '192.0.2.20' has no /prefix"]),
    ("address without interface", [("em0 192.0.2.20/24", "192.0.2.20/24")],
     ["carpha.yaml:29: groups.mail.addresses[0]: expected 'INTERFACE ADDRESS/PREFIX', got '192.0.2.20/24'"]),
    ("no addresses", [("addresses: [em0 192.0.2.20/24]", "addresses: []")],
     ["carpha.yaml:29: groups.mail.addresses: expected at least one address, got an empty list"]),
    ("interface name too long", [("interface: em0, vhid: 1", "interface: em0123456789abcde, vhid: 1")],
     ["carpha.yaml:13: groups.web.carp.interface: 'em0123456789abcde' is not a valid interface name"
      " (must match ^[A-Za-z][A-Za-z0-9_.]{0,14}$)"]),
    ("jail in two groups", [("jails: [mail]", "jails: [www]")],
     ["carpha.yaml:35: groups.mail.jails[0]: www is also used by groups.web.jails[0] (line 24)"]),
    ("service in two groups", [("jails: [mail]", "services: [nginx]"),
                               ("jails: [www, db]", "services: [nginx]")],
     ["carpha.yaml:35: groups.mail.services[0]: nginx is also used by groups.web.services[0] (line 24)"]),
    ("mountpoint in two filesystems",
     [("jails: [mail]", "filesystems: [{device: /dev/mirror/mail, mountpoint: /data/}]")],
     ["carpha.yaml:35: groups.mail.filesystems[0].mountpoint: /data is also used by"
      " groups.web.filesystems[0].mountpoint (line 23)"]),
    ("nested mountpoint before its parent",
     [("        mountpoint: /data\n",
       "        mountpoint: /data/www\n      - {device: /dev/mirror/datap2, mountpoint: /data}\n")],
     ["carpha.yaml:5: witness.fence_after_seconds: 8 + interval 2 + worst-case fencing 20"
      " (20 steps x fence_step_seconds 1) = 30 s is not below takeover_after_seconds 30; to fix: set"
      " witness.takeover_after_seconds (not in the file: default 30) to more than 30 (by more than 0), set"
      " witness.fence_step_seconds (not in the file: default 1) to below 1 (20 steps), set"
      " witness.fence_after_seconds (not in the file: default 8) to below 8, or give this node fewer"
      " addresses, jails (3 steps each), services or filesystems",
      "carpha.yaml:24: groups.web.filesystems[1].mountpoint: /data must come before"
      " groups.web.filesystems[0].mountpoint (/data/www), which is inside it"]),
    ("ggate port used twice, against a default", [("port: 3081", "port: 3080")],
     ["carpha.yaml:34: groups.mail.storage.ggate.port: 3080 is also used by"
      " groups.web.storage.ggate.port (line 17)"]),
    ("ggate unit used twice", [("unit: 1", "unit: 0")],
     ["carpha.yaml:34: groups.mail.storage.ggate.unit: 0 is also used by"
      " groups.web.storage.ggate.unit (line 17)"]),
    ("ggate timeout negative", [("unit: 1}", "unit: 1, timeout_seconds: -1}")],
     ["carpha.yaml:34: groups.mail.storage.ggate.timeout_seconds: -1 is not in 0..3600"]),
    ("ggate drop_after zero", [("unit: 1}", "unit: 1, drop_after_seconds: 0}")],
     ["carpha.yaml:34: groups.mail.storage.ggate.drop_after_seconds: 0 is not in 1..600"]),
    ("mirror used twice", [("mirror: mail", "mirror: data")],
     ["carpha.yaml:32: groups.mail.storage.mirror: data is also used by groups.web.storage.mirror (line 19)"]),
    ("provider missing for a group node", [("{serverA: ada1, serverB: ada1}", "{serverA: ada1}")],
     ["carpha.yaml:20: groups.web.storage.providers: no provider for serverB"]),
    ("provider for a node outside the group",
     [("{serverA: ada1, serverB: ada1}", "{serverA: ada1, serverB: ada1, serverC: ada1}")],
     ["carpha.yaml:20: groups.web.storage.providers.serverC: serverC is not one of the group's nodes"
      " (serverA, serverB)"]),
    ("provider given with /dev/", [("{serverA: ada1,", "{serverA: /dev/ada1,")],
     ["carpha.yaml:20: groups.web.storage.providers.serverA: '/dev/ada1' must be a name under /dev,"
      " without /dev/"]),
    ("gmirror-ggate with three nodes",
     [("  kind: lease\n  node: serverC\n  path: /mnt/carpha-witness\n", "  kind: none\n"),
      ("nodes: [serverA, serverB]\n    preferred_node: serverA", "nodes: [serverA, serverB, serverC]\n"
                                                                 "    preferred_node: serverA")],
     ["carpha.yaml:16: groups.web.storage.kind: gmirror-ggate needs exactly 2 nodes in the group, got 3",
      "carpha.yaml:18: groups.web.storage.providers: no provider for serverC"]),
    ("gmirror-ggate with an IPv6 node", [("address: 192.0.2.2}", "address: 2001:db8::2}")],
     ["carpha.yaml:18: groups.web.storage.kind: gmirror-ggate needs IPv4 node addresses (ggatec is IPv4 only),"
      " but nodes.serverB.address is 2001:db8::2",
      "carpha.yaml:31: groups.mail.storage.kind: gmirror-ggate needs IPv4 node addresses (ggatec is IPv4 only),"
      " but nodes.serverB.address is 2001:db8::2"]),
    ("storage hast", [("      kind: gmirror-ggate\n      mirror: data\n", "      kind: hast\n      mirror: data\n")],
     ["carpha.yaml:18: groups.web.storage.kind: hast is not supported yet"]),
    ("storage none with a mirror", [("      kind: gmirror-ggate\n      mirror: data\n",
                                     "      kind: none\n      mirror: data\n")],
     ["carpha.yaml:19: groups.web.storage.mirror: only used with kind gmirror-ggate",
      "carpha.yaml:20: groups.web.storage.providers: only used with kind gmirror-ggate"]),
    ("fsck value unknown", [("        mountpoint: /data\n", "        mountpoint: /data\n        fsck: no\n")],
     ["carpha.yaml:24: groups.web.filesystems[0].fsck: 'no' is not one of preen, yes, none"]),
    ("fstype not ufs", [("        mountpoint: /data\n", "        mountpoint: /data\n        fstype: zfs\n")],
     ["carpha.yaml:24: groups.web.filesystems[0].fstype: 'zfs' is not supported yet (only ufs)"]),
    ("mount option with a comma", [("        mountpoint: /data\n",
                                    "        mountpoint: /data\n        options: ['noatime,nosuid']\n")],
     ["carpha.yaml:24: groups.web.filesystems[0].options[0]: 'noatime,nosuid' is not a valid mount option"
      " (must match ^[a-z0-9_=.-]+$)"]),
    ("relative mountpoint", [("mountpoint: /data", "mountpoint: data")],
     ["carpha.yaml:23: groups.web.filesystems[0].mountpoint: 'data' is not an absolute path"]),
    ("group name with a capital", [("  mail:\n", "  Mail:\n")],
     ["carpha.yaml:25: groups.Mail: 'Mail' is not a valid group name (must match ^[a-z][a-z0-9_-]{0,31}$)"]),
    ("timeout above a day", [("groups:\n", "timeouts: {fsck_seconds: 90000, jail_seconds: 0}\ngroups:\n")],
     ["carpha.yaml:9: timeouts.fsck_seconds: 90000 is not <= 86400",
      "carpha.yaml:9: timeouts.jail_seconds: 0 is not > 0"]),
    ("state dir with ..", [("groups:\n", "paths: {state_dir: /var/db/../carpha}\ngroups:\n")],
     ["carpha.yaml:9: paths.state_dir: '/var/db/../carpha' must not contain '..'"]),
    ("command path with an empty element", [("groups:\n", "paths: {command_path: '/sbin::/bin'}\ngroups:\n")],
     ["carpha.yaml:9: paths.command_path: '' is not an absolute directory"]),
    ("syslog facility misspelt", [("groups:\n", "syslog_facility: deamon\ngroups:\n")],
     ["carpha.yaml:9: syslog_facility: 'deamon' is not one of auth, authpriv, cron, daemon, ftp, kern,"
      " local0, local1, local2, local3, local4, local5, local6, local7, lpr, mail, news, security, syslog,"
      " user, uucp"]),
    ("garp count zero", [("groups:\n", "garp:\n  count: 0\ngroups:\n")],
     ["carpha.yaml:10: garp.count: 0 is not in 1..100"]),
    ("yaml syntax error cites where the flow began", [("vhid: 1}", "vhid: 1")],
     ["carpha.yaml:14: invalid YAML: while parsing a flow mapping at line 13, expected ',' or '}', but got ':'"]),
    ("python tag is not constructed", [("jails: [mail]", "jails: [!!python/name:os.system x]")],
     ["carpha.yaml:35: groups.mail.jails[0]: unsupported YAML tag !!python/name:os.system"]),
]


@pytest.mark.parametrize("edits, expected", [(e, x) for _, e, x in BAD], ids=[name for name, _, _ in BAD])
def test_bad_config_is_reported_exactly(edits, expected):
    assert problems_of(variant(*edits)) == expected


@pytest.mark.parametrize("text, expected", [
    ("", ["carpha.yaml:1: expected a mapping of settings, got an empty file"]),
    ("# only a comment\n", ["carpha.yaml:1: expected a mapping of settings, got an empty file"]),
    ("- serverA\n- serverB\n", ["carpha.yaml:1: expected a mapping at the top level, got a list"]),
    ("nodes: {a: 1\ngroups: {}\n", ["carpha.yaml:2: invalid YAML: while parsing a flow mapping at line 1,"
                                    " expected ',' or '}', but got ':'"]),
    ("a: b: c\n", ["carpha.yaml:1: invalid YAML: mapping values are not allowed here"]),
    ("nodes: {}\n---\ngroups: {}\n", ["carpha.yaml:2: invalid YAML: expected a single document in the stream"
                                       " at line 1, but found another document"]),
    ("nodes: 1\ngroups: 2\n", ["carpha.yaml:1: nodes: expected a mapping, got 1",
                               "carpha.yaml:2: groups: expected a mapping, got 2"]),
], ids=["empty", "comment only", "top-level list", "unclosed flow", "mapping in a scalar", "two documents",
        "scalars for mappings"])
def test_bad_file_shape_is_reported_exactly(text, expected):
    assert problems_of(text) == expected


def test_every_problem_in_a_file_is_reported_at_once():
    text = variant(("vhid: 1}", "vhid: 0}"),
                   ("em0 2001:db8::10/64", "em0 2001:db8::10"),
                   ("mirror: mail", "mirror: data"),
                   ("jails: [mail]", "jails: [mail, www]"))
    with pytest.raises(ConfigError) as caught:
        loads(text, "carpha.yaml", node="serverA")
    expected = [
        "carpha.yaml:5: witness.fence_after_seconds: 8 + interval 2 + worst-case fencing 21"
        " (21 steps x fence_step_seconds 1) = 31 s is not below takeover_after_seconds 30; to fix: set"
        " witness.takeover_after_seconds (not in the file: default 30) to more than 31 (by more than 1), set"
        " witness.fence_step_seconds (not in the file: default 1) to below 0.952 (21 steps), set"
        " witness.fence_after_seconds (not in the file: default 8) to below 7, or give this node fewer"
        " addresses, jails (3 steps each), services or filesystems",
        "carpha.yaml:13: groups.web.carp.vhid: 0 is not in 1..255",
        "carpha.yaml:16: groups.web.addresses[1]: '2001:db8::10' has no /prefix",
        "carpha.yaml:32: groups.mail.storage.mirror: data is also used by groups.web.storage.mirror (line 19)",
        "carpha.yaml:35: groups.mail.jails[1]: www is also used by groups.web.jails[0] (line 24)",
    ]
    assert caught.value.problems == expected
    assert str(caught.value) == "\n".join(expected)
    assert caught.value.exit_code == 78


def test_line_numbers_count_comments_and_blank_lines_and_cite_the_parent_key():
    text = "# carpha\n\n" + variant(("    carp: {interface: em0, vhid: 1}\n",
                                     "    carp:\n      # vhid forgotten\n      interface: em0\n"))
    # The parent line is that of `carp:`, not of its first key.
    assert problems_of(text) == ["carpha.yaml:15: groups.web.carp.vhid: required key is missing"]


def test_duplicate_node_in_a_group_is_reported():
    assert problems_of(variant(("nodes: [serverA, serverB]\n    preferred_node: serverA",
                                "nodes: [serverA, serverA]\n    preferred_node: serverA"))) == [
        "carpha.yaml:11: groups.web.nodes[1]: serverA is listed twice",
        "carpha.yaml:20: groups.web.storage.providers.serverB: serverB is not one of the group's nodes (serverA)",
    ]


def test_hostname_outside_the_nodes_is_reported(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "builder.example.org")
    assert problems_of(BASE, node=None) == [
        "carpha.yaml:1: node: not set, and this host's name builder is not one of the nodes"
        " (serverA, serverB, serverC)"]


def test_node_argument_outside_the_nodes_is_reported():
    assert problems_of(BASE, node="serverX") == [
        "carpha.yaml:1: node: serverX (given by the caller) is not one of the nodes (serverA, serverB, serverC)"]


# --- load(): the file and its permissions -----------------------------------


def test_load_reads_the_file_and_names_it_in_messages(tmp_path):
    path = write(tmp_path, BASE.replace("vhid: 1}", "vhid: 300}"))
    with pytest.raises(ConfigError) as caught:
        load(path, node="serverA", check_permissions=False)
    assert caught.value.problems == [f"{path}:13: groups.web.carp.vhid: 300 is not in 1..255"]
    assert load(write(tmp_path, BASE), node="serverA", check_permissions=False).path == path


def test_load_refuses_a_config_writable_by_group_or_others(tmp_path, owner):
    owner(0)
    path = write(tmp_path, BASE, mode=0o664)
    with pytest.raises(ConfigError) as caught:
        load(path, node="serverA", check_permissions=True)
    assert caught.value.exit_code == 77
    assert caught.value.problems == [f"{path}: refusing a config writable by group or others (mode 0664)"]


def test_load_refuses_a_config_not_owned_by_root(tmp_path, owner):
    owner(1001)
    path = write(tmp_path, BASE, mode=0o602)
    with pytest.raises(ConfigError) as caught:
        load(path, node="serverA", check_permissions=True)
    assert caught.value.exit_code == 77
    assert caught.value.problems == [f"{path}: refusing a config not owned by root (uid 1001)",
                                     f"{path}: refusing a config writable by group or others (mode 0602)"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_load_as_root_refuses_a_file_chowned_to_nobody(tmp_path):
    path = write(tmp_path, BASE)
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError) as caught:
        load(path, node="serverA")          # as root, checking is the default
    assert caught.value.exit_code == 77
    assert caught.value.problems == [f"{path}: refusing a config not owned by root (uid 65534)"]


def test_load_accepts_a_root_owned_private_file(tmp_path, owner):
    owner(0)
    assert load(write(tmp_path, BASE, mode=0o600), node="serverA", check_permissions=True).node == "serverA"


def test_load_checks_permissions_by_default_only_as_root(tmp_path, owner, monkeypatch):
    owner(1001)
    path = write(tmp_path, BASE, mode=0o666)
    monkeypatch.setattr(os, "geteuid", lambda: 1001)
    assert load(path, node="serverA").node == "serverA"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(ConfigError) as caught:
        load(path, node="serverA")
    assert caught.value.exit_code == 77


def test_load_refuses_a_symlink_even_without_permission_checks(tmp_path):
    real = write(tmp_path, BASE)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    with pytest.raises(ConfigError) as caught:
        load(str(link), node="serverA", check_permissions=False)
    assert caught.value.exit_code == 77
    assert caught.value.problems == [f"{link}: refusing a symlink; name the file itself"]


def test_load_of_a_missing_file_is_a_config_error(tmp_path):
    path = str(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError) as caught:
        load(path, check_permissions=False)
    assert caught.value.exit_code == 78
    assert caught.value.problems == [f"{path}: cannot open: No such file or directory"]


def test_load_refuses_a_fifo_without_blocking(tmp_path):
    path = str(tmp_path / "fifo.yaml")
    os.mkfifo(path)
    with pytest.raises(ConfigError) as caught:
        load(path, check_permissions=False)
    assert caught.value.problems == [f"{path}: not a regular file"]


def test_load_reports_bytes_that_are_not_utf8_with_their_line(tmp_path):
    path = tmp_path / "carpha.yaml"
    path.write_bytes(b"nodes:\n  caf\xe9: {address: 192.0.2.1}\n")
    with pytest.raises(ConfigError) as caught:
        load(str(path), check_permissions=False)
    assert caught.value.problems == [f"{path}:2: not UTF-8 text (byte 0xe9)"]


def test_moving_the_state_dir_warns_that_the_devd_hook_must_be_told():
    text = open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "three-servers.yaml")).read()
    text = text.replace("# paths:", "paths:").replace("#   run_dir: /var/run/carpha", "  run_dir: /var/run/other")
    warnings = loads(text, "carpha.yaml", node="serverA").warnings
    assert [w for w in warnings if "paths." in w] == [
        "carpha.yaml:40: paths.run_dir: /var/run/other is not the default /var/run/carpha: set "
        "CARPHA_RUN_DIR=/var/run/other before the carp-event command in devd/carpha.conf, or the hook and "
        "the worker will not meet"]
