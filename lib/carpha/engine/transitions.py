"""The only place that knows the order of actions.

To MASTER: storage (fence ggated, load geom_mirror, assemble, forget, fsck,
mount), addresses (+ gratuitous ARP), jails then services, and last the
peer's disk as the second mirror component (best effort: it succeeds only
once the peer exports its disk again; cron retries).
To BACKUP (and INIT, or a vhid that does not exist here): the reverse,
ending with our disk exported to the peer."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from ..actions import addresses, jails, replica, storage
from ..actions.base import Action, ActionFailed, Conflict, Context, Outcome, apply
from ..host.runner import CommandError

MASTER = "MASTER"
BACKUP = "BACKUP"

TO_MASTER: List[Action] = [storage.PROMOTE, addresses.CLAIM, addresses.ANNOUNCE, jails.START, replica.ATTACH]
TO_BACKUP: List[Action] = [jails.STOP, addresses.RELEASE, storage.DEMOTE]

# What each per-action hook runs, in order: claiming announces as a
# promotion does.
HOOKS: Dict[str, Tuple[Action, ...]] = {
    actions[0].name: actions for actions in (
        (addresses.CLAIM, addresses.ANNOUNCE), (addresses.RELEASE,), (storage.PROMOTE,),
        (storage.DEMOTE,), (jails.START,), (jails.STOP,))}
# Acquiring actions run only on the CARP MASTER unless forced.
ACQUIRING = {addresses.CLAIM.name, storage.PROMOTE.name, jails.START.name}
# Not worth failing the move for: a peer that does not export yet, or a
# gratuitous ARP that could not be sent (logged; ARP caches expire anyway).
BEST_EFFORT = {replica.ATTACH.name, addresses.ANNOUNCE.name}


def role_for(carp_state: Optional[str]) -> str:
    """The role a node must play for an observed CARP state: only MASTER
    serves; BACKUP, INIT (interface down) and a missing vhid all let go."""
    return MASTER if carp_state == MASTER else BACKUP


def actions_for(role: str) -> List[Action]:
    return TO_MASTER if role == MASTER else TO_BACKUP


# The first action that serves anybody: a promotion's intent must be
# published before it (promotion._wait_published). Storage work before it
# (fencing, assembly, fsck, mount) serves nobody.
FIRST_SERVING = addresses.CLAIM.name


def run(ctx: Context, role: str, *, between: Optional[Callable[[], None]] = None,
        before_serving: Optional[Callable[[], None]] = None) -> List[Outcome]:
    """The actions for `role` in order. `between()` (the worker's CARP
    re-check, which raises to abandon the move) runs before every step of
    every action (actions.base.apply), so nothing changes on a stale role;
    not before an action's observation, which changes nothing."""
    outcomes = []
    for action in actions_for(role):
        if role == MASTER and action.name == FIRST_SERVING and before_serving is not None:
            before_serving()
        if action.name in BEST_EFFORT:
            outcomes.append(_best_effort(ctx, action, between))
        else:
            outcomes.append(apply(action, ctx, between=between))
    return outcomes


def _best_effort(ctx, action, between) -> Outcome:
    try:
        return apply(action, ctx, between=between)
    except (ActionFailed, CommandError) as error:
        # Conflicts (a fresher peer disk) are alerts; a peer that does not
        # export yet is the normal state right after a failover.
        level = ctx.log.error if isinstance(error, Conflict) else ctx.log.info
        level(f"{ctx.group.name}: {action.name}: pending: {error}")
        return Outcome(action.name, False, [f"pending: {error}"])
