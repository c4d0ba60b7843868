"""Multi-vhid groups: one group whose addresses sit on several interfaces
(LAN and DMZ), each with its own CARP vhid (`carp:` as a list).

CARP elects every vhid on its own (ip_carp.c: each carp_softc has its own
advertisement and master-down callouts). What ties them together is the
demotion counter, which is global: a vhid whose interface goes down enters
INIT and adds net.inet.carp.ifdown_demotion_factor to
net.inet.carp.demotion (carp_sc_state() -> carp_demote_adj(), which also
re-sends every vhid's advertisement; 13.x/14.x revisions read), so with
net.inet.carp.preempt=1 the peer preempts this node's other vhids too.
Without preempt, or while the vhids move one after the other, a node can be
MASTER of some of the group's vhids only: the group is split.

carpha never serves a split group: a node serves it only while it is MASTER
of every one of its vhids (`combined`); a node MASTER of some only lets go
like a BACKUP. A node one of whose vhids is INIT while others are not (an
interface of the group is down: it cannot serve the group) also says in
its record that it let the group go, so the peer may promote although
this node's record is fresh, and, when the peer is alive, hands it the
vhids it is still MASTER of (`ifconfig IF vhid N state backup`), so CARP
does not keep the group split without preempt. A split whose other vhids
are BACKUP is CARP still moving them (each vhid times out on its own):
left to CARP. The devd events of every vhid are the group's:
the worker handles them together (`events`, `mark_handled`)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from ..store import journal
# The group's CARP state from its vhids' is read below this layer, by the
# probe (host.observe.get_carp_state); re-exported here with the rules.
from ..host.observe import SPLIT, combined  # noqa: F401
from ..exits import CarphaError

MASTER = "MASTER"


def masters_here(carps: Sequence[Tuple[object, Optional[dict]]]) -> List[Tuple[object, dict]]:
    """The (binding, observed vhid) pairs this node is MASTER of."""
    return [(b, c) for b, c in carps if c is not None and c.get("state") == MASTER]


def cannot_serve(carps: Sequence[Tuple[object, Optional[dict]]]) -> bool:
    """A multi-vhid group one of whose vhids is INIT (or gone) here while
    another is not: an interface of the group is down on this node, which
    cannot serve the group while the peer may."""
    states = [None if c is None else c.get("state") for _, c in carps]
    return len(states) > 1 and any(s in (None, "INIT") for s in states) \
        and any(s not in (None, "INIT") for s in states)


def events(state_dir: str, group, unhandled) -> Tuple[list, dict]:
    """Every unhandled event of the group's vhids, in seq order per journal,
    and the last seq to mark handled per binding. `unhandled(state_dir,
    binding)`: worker.unhandled_events."""
    found, last = [], {}
    for binding in group.subsystems:
        mine = unhandled(state_dir, binding)
        if mine:
            found += mine
            last[binding] = mine[-1]["seq"]
    return found, last


def mark_handled(state_dir: str, group, last: dict, log) -> None:
    """The group's own journal records the run; its other vhids' journals
    get a run record naming the last event handled with it."""
    for binding, seq in last.items():
        if binding == group.carp.subsystem:
            continue
        try:
            journal.append(state_dir, binding, {"kind": "run", "handled_seq": seq, "decided": None,
                                                "note": f"handled with group {group.name}"})
        except (OSError, CarphaError) as error:       # journaling must not stop a failover
            log.warning(f"{group.name}: cannot journal for {binding}: {error}")
