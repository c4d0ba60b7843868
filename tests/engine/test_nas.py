"""carpha.engine.nas: a NAS group is served where its drives are, by its owner,
or elsewhere only when an administrator said so or the owner is known down."""

import pytest

from carpha import config
from carpha.engine import nas, transitions
from conftest import ROOT

MASTER, BACKUP = transitions.MASTER, transitions.BACKUP


@pytest.mark.parametrize("here, owner, allowed, down, blocked, serving, role", [
    (False, True, None, None, None, False, BACKUP),           # no mirror: nothing to serve
    (False, False, "carpha takeover", None, None, True, BACKUP),  # the drives were pulled
    (True, True, None, None, None, False, MASTER),            # the owner with its drives
    (True, False, None, None, None, False, BACKUP),           # drives here, nobody said so
    (True, False, "carpha takeover", None, None, False, MASTER),
    (True, False, None, "its owner does not answer", None, False, MASTER),
    (True, True, None, None, "maintenance", False, BACKUP),   # maintenance holds a move
    (True, True, None, None, "maintenance", True, MASTER),    # ... never a serving node
])
def test_the_nas_is_served_only_where_its_mirror_is_and_someone_may(here, owner, allowed, down, blocked,
                                                                    serving, role):
    assert nas.decide(here, owner, allowed, down, blocked, serving).role == role


def test_nobody_said_so_is_explained():
    why = nas.decide(True, False, None, None).reason
    assert "not known to be down" in why and "carpha takeover" in why


def test_the_example_nas_group_loads_and_config_check_says_the_witness_cannot_judge_its_own_machine():
    text = open(f"{ROOT}/examples/three-servers.yaml").read()
    loaded = config.loads(text, "three-servers.yaml", node="serverB")
    group = loaded.groups["nas"]
    assert group.storage.kind == "local-gmirror" and group.carp is None and group.bindings == ()
    assert any("cannot tell whether the machine it lives on is down" in w for w in loaded.warnings)


def test_the_witness_is_still_refused_in_a_carp_group():
    text = open(f"{ROOT}/examples/three-servers.yaml").read().replace("nodes: [serverA, serverB]",
                                                                       "nodes: [serverA, serverC]")
    with pytest.raises(config.ConfigError, match="serverC is also a node of group web; the witness must be a third"):
        config.loads(text, "three-servers.yaml", node="serverA")


def test_on_the_witness_node_letting_the_nas_go_keeps_the_witness_share_services():
    from carpha.actions.base import Context
    text = open(f"{ROOT}/examples/three-servers.yaml").read()
    loaded = config.loads(text, "three-servers.yaml", node="serverC")
    ctx = Context(loaded, loaded.groups["nas"], "serverC", None, None)
    assert nas.letting_go(ctx).group.services == ("samba_server",)
    other = config.loads(text, "three-servers.yaml", node="serverB")
    ctx = Context(other, other.groups["nas"], "serverB", None, None)
    assert nas.letting_go(ctx).group.services == ("mountd", "nfsd", "samba_server")


NAS_CONFIG = """
nodes:
  serverA: {address: 192.0.2.1}
  serverB: {address: 192.0.2.2}
  serverC: {address: 192.0.2.3}
witness: {kind: none}
groups:
  nas:
    nodes: [serverC, serverB]
    preferred_node: serverC
    addresses: [em0 192.0.2.20/24]
    storage: {kind: local-gmirror, mirror: nas}
"""


@pytest.mark.parametrize("change, message", [
    (("    addresses:", "    carp: {interface: em0, vhid: 5}\n    addresses:"),
     "groups.nas.carp: a local-gmirror group moves with its drives, not with CARP: no carp"),
    (("mirror: nas}", "mirror: nas, providers: {serverC: ada1}}"),
     "groups.nas.storage.providers: only used with kind gmirror-ggate"),
    (("{kind: local-gmirror, mirror: nas}", "{kind: local-gmirror}"),
     "groups.nas.storage.mirror: required key is missing"),
    (("{kind: local-gmirror, mirror: nas}", "{kind: none}"),
     "groups.nas.carp: required key is missing"),
])
def test_a_bad_nas_group_is_reported(change, message):
    with pytest.raises(config.ConfigError, match=message.replace(".", r"\.")):
        config.loads(NAS_CONFIG.replace(*change), "carpha.yaml", node="serverB")


def test_a_good_nas_group_loads():
    assert config.loads(NAS_CONFIG, "carpha.yaml", node="serverB").groups["nas"].storage.mirror == "nas"
