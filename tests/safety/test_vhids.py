"""carpha.safety.vhids: a multi-vhid group is served only where every vhid is
MASTER; a node whose interface of the group is down lets it go."""

import pytest

from carpha.safety import vhids


@pytest.mark.parametrize("states, expected", [
    (["MASTER"], "MASTER"),
    (["BACKUP"], "BACKUP"),
    ([None], None),
    (["MASTER", "MASTER"], "MASTER"),
    (["MASTER", "BACKUP"], vhids.SPLIT),
    (["BACKUP", "MASTER"], vhids.SPLIT),
    (["MASTER", "INIT"], vhids.SPLIT),
    (["MASTER", None], vhids.SPLIT),
    (["BACKUP", "INIT"], "BACKUP"),
    (["INIT", "BACKUP"], "INIT"),
])
def test_the_group_is_master_only_where_every_vhid_is(states, expected):
    assert vhids.combined(states) == expected


def test_split_is_never_taken_for_master():
    from carpha.engine import transitions
    assert transitions.role_for(vhids.SPLIT) == transitions.BACKUP


@pytest.mark.parametrize("states, cannot", [
    (["MASTER", "INIT"], True),      # the DMZ link is down here
    (["BACKUP", "INIT"], True),
    (["MASTER", None], True),        # the vhid is gone
    (["MASTER", "BACKUP"], False),   # CARP still moving the vhids
    (["MASTER", "MASTER"], False),
    (["INIT", "INIT"], False),       # nothing runs here (booting, carp not loaded)
    (["INIT"], False),               # one vhid: the single-vhid rules apply
])
def test_cannot_serve_means_an_interface_of_the_group_is_down_here(states, cannot):
    carps = [(i, None if s is None else {"state": s}) for i, s in enumerate(states)]
    assert vhids.cannot_serve(carps) is cannot
