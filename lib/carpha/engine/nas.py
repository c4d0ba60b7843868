"""A NAS group (`storage.kind: local-gmirror`): a local gmirror of physical
drives, served by one node and moved by hand, drives and all.

It has no CARP vhid: the group is served where its drives are. A node
serves it (fsck, mount, the NAS address, its rc.d services: samba, nfsd,
mountd) when `mirror/<name>` runs there and either
- it is the group's owner (`preferred_node`), or
- an administrator said so on this node (`carpha takeover GROUP`, which
  records it here and loads geom_mirror, so the drives are tasted as soon
  as they are plugged in), or
- the owner is known to be down: the witness answers ping and the owner
  does not. Not when the witness lives on a node of the group: it cannot
  tell whether its own machine is down (`config check` says so; then only
  an administrator moves the group).
When the mirror disappears (the drives were pulled, or `gmirror stop`),
the reverse: services, address, unmount. `carpha release GROUP` lets go and
stops the mirror, so the drives can be pulled, and ends the
administrator's word.

The kernel assembles the mirror from whichever drives carry its metadata,
whatever their names on this machine (g_mirror.c g_mirror_taste(), 13.x),
as soon as geom_mirror is loaded and a drive appears; its provider's /dev
node brings the DEVFS event devd hands to geom-event (carpha.cli.geomevent),
and the worker reconciles the group at once.

The lease does not guard these groups (witness_config.leased_groups): they are
never fenced, and their moves are not written on the witness. Runs are
journaled in the devices journal."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import NamedTuple, Optional, Tuple

from .. import clock
from ..store import journal, state
from ..safety import maintenance
from . import transitions
from ..actions.base import Abandoned
from ..exits import CarphaError
from ..store.files import read_text, write_atomic
from ..freebsd import commands as cmd
from ..store.lock import GROUP_LOCK_WAIT, Lock
from ..host.observe import get_mirrors

KIND = "local-gmirror"
MODULE = "geom_mirror"
# On the witness node these also export the lease share (README, first-time
# setup): letting the NAS go there leaves them running.
WITNESS_SERVICES = ("rpcbind", "mountd", "nfsd")


class Decision(NamedTuple):
    role: str
    reason: str
    held: bool = False      # maintenance holds the group as it is, whatever the rules say


def decide(mirror_here: bool, owner: bool, allowed_by: Optional[str], owner_down: Optional[str],
           blocked: Optional[str] = None, serving: bool = False) -> Decision:
    """Pure: where the group's mirror is and who may serve it."""
    if not mirror_here:
        return Decision(transitions.BACKUP, "its mirror is not on this node")
    if owner:
        why = "its mirror is here and this node owns the group"
    elif allowed_by:
        why = f"its mirror is here and an administrator said so ({allowed_by})"
    elif owner_down:
        why = f"its mirror is here and {owner_down}"
    else:
        return Decision(transitions.BACKUP, "its mirror is here, but its owner is not known to be down and "
                                            "no administrator said so (carpha takeover)")
    if blocked and not serving:
        return Decision(transitions.BACKUP, blocked, held=True)
    return Decision(transitions.MASTER, why)


def _allow_path(ctx) -> str:
    return os.path.join(ctx.config.paths.state_dir, f"{ctx.group.name}.allow.json")


def allowed_by(ctx) -> Optional[str]:
    """The administrator's word recorded on this node, or None."""
    try:
        data = json.loads(read_text(_allow_path(ctx)) or "null")
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("node") == ctx.node and isinstance(data.get("at"), (int, float)):
        return f"carpha takeover at {maintenance.format_time(data['at'])}"
    return None


def set_allowed(ctx, allowed: bool) -> None:
    path = _allow_path(ctx)
    if allowed:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_atomic(path, json.dumps({"node": ctx.node, "at": clock.now()}))
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def owner_known_down(ctx) -> Optional[str]:
    """Why the owner counts as down (the witness answers ping, the owner
    does not), or None. Never with the witness on a node of the group."""
    w, group = ctx.config.witness, ctx.group
    if w.kind == "none" or w.node is None or w.node in group.nodes or ctx.node == group.preferred_node:
        return None
    from .lease import is_reachable
    nodes = ctx.config.nodes
    if not is_reachable(ctx.runner, nodes[w.node].address, 1):
        return None         # cut off ourselves: we know nothing
    if is_reachable(ctx.runner, nodes[group.preferred_node].address, 1):
        return None
    return f"its owner {group.preferred_node} does not answer while the witness {w.node} does"


def letting_go(ctx):
    """The context to let go with: on the witness node, without the
    services the witness share needs."""
    if ctx.node != ctx.config.witness.node:
        return ctx
    kept = tuple(s for s in ctx.group.services if s not in WITNESS_SERVICES)
    return dataclasses.replace(ctx, group=dataclasses.replace(ctx.group, services=kept))


def mirror_here(ctx) -> bool:
    return ctx.group.storage.mirror in (get_mirrors(ctx) or {})


def decide_here(ctx, here: bool, serving: bool) -> Decision:
    """decide() on what this node sees now (read only: `carpha check`
    judges reality against the decision reconcile takes)."""
    group = ctx.group
    return decide(here, ctx.node == group.preferred_node, allowed_by(ctx) if here else None,
                  owner_known_down(ctx) if here else None,
                  maintenance.blocks_automatic_action(ctx.config.paths.state_dir, clock.now()), serving=serving)


def reconcile(ctx) -> Tuple[str, bool, Optional[str]]:
    """One pass for the group on this node: (role, changed, held reason)."""
    paths, group = ctx.config.paths, ctx.group
    with Lock(paths.run_dir, group.name, purpose="reconcile").acquire(timeout=GROUP_LOCK_WAIT):
        started = clock.monotonic()
        current = state.load(paths.state_dir, group.name)
        here = mirror_here(ctx)
        decision = decide_here(ctx, here, serving=current.role == transitions.MASTER)
        record = {"kind": "run", "group": group.name, "node": ctx.node, "decided": decision.role,
                  "reason": decision.reason, "was": current.role}

        def mirror_stays() -> None:
            if decision.role == transitions.MASTER and not mirror_here(ctx):
                raise Abandoned(f"{group.name}: mirror/{group.storage.mirror} went away; letting go")
        try:
            outcomes = (transitions.run(ctx, decision.role, between=mirror_stays)
                        if decision.role == transitions.MASTER else transitions.run(letting_go(ctx), decision.role))
        except Abandoned as abandoned:
            ctx.log.info(str(abandoned))
            outcomes = transitions.run(letting_go(ctx), transitions.BACKUP)
            decision = Decision(transitions.BACKUP, str(abandoned))
        changed = any(o.changed for o in outcomes)
        if changed:
            ctx.log.info(f"{group.name}: now {decision.role} here: {decision.reason}")
        record.update(result="ok", did=[s for o in outcomes for s in o.steps],
                      duration=round(clock.monotonic() - started, 6))
        if not ctx.dry_run:
            _journal(ctx, record)
            if current.role != decision.role:
                state.save(paths.state_dir, current.with_changes(role=decision.role))
        held = decision.reason if here and decision.role != transitions.MASTER else None
        return decision.role, changed, held


def hand_over(ctx, role: str):
    """`carpha takeover GROUP`: record the administrator's word here and load
    geom_mirror (drives plugged in later are tasted at once), then serve if
    the mirror is here. `carpha release GROUP`: end that word, let go, and
    stop the mirror so its drives can be pulled."""
    if role == transitions.MASTER:
        if not ctx.dry_run:
            set_allowed(ctx, True)
        ctx.change(cmd.kldload(MODULE), timeout="storage")
        result = reconcile(ctx)
        if result[0] != transitions.MASTER:
            ctx.log.info(f"{ctx.group.name}: takeover recorded; served as soon as mirror/"
                         f"{ctx.group.storage.mirror} appears here")
        return result
    if not ctx.dry_run:
        set_allowed(ctx, False)
    with Lock(ctx.config.paths.run_dir, ctx.group.name, purpose="release").acquire(timeout=GROUP_LOCK_WAIT):
        transitions.run(letting_go(ctx), transitions.BACKUP)
        if mirror_here(ctx):
            ctx.change(cmd.gmirror_stop(ctx.group.storage.mirror), timeout="storage")
        if not ctx.dry_run:
            saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
            if saved.role != transitions.BACKUP:
                state.save(ctx.config.paths.state_dir, saved.with_changes(role=transitions.BACKUP))
    return transitions.BACKUP, True, None


def _journal(ctx, record) -> None:
    try:
        journal.append(ctx.config.paths.state_dir, journal.DEVICES, record)
    except (OSError, CarphaError) as error:      # a full /var must not stop the NAS
        ctx.log.warning(f"{ctx.group.name}: cannot journal this run: {error}")
