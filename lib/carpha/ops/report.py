"""What this node serves, as carpha sees it (the data behind `carpha
status`): per group, CARP state, addresses, mirror, mounts, jails, whether
the witness would let it promote, split brain and the demotion hold, read
through carpha's own probes and parsers."""

from __future__ import annotations

from ..engine import promotion
from ..actions.base import Context
from ..host.observe import get_carp_state


def node_report(config, runner, logger) -> dict:
    """CARP state, addresses, mirror, mounts and jails of each group this
    node belongs to, read through carpha's own probes and parsers."""
    from ..host import observe as probe
    from ..safety import splitbrain
    groups, held = {}, _hold(config)      # the hold is the node's, shown with each group
    for group in config.groups.values():
        if config.node not in group.nodes:
            continue
        ctx = Context(config, group, config.node, runner, logger)
        interfaces = probe.get_interfaces(ctx)
        mirrors = probe.get_mirrors(ctx) if group.storage.kind == "gmirror-ggate" else None
        mirror = (mirrors or {}).get(group.storage.mirror) if group.storage.kind == "gmirror-ggate" else None
        mounts = probe.get_mounts(ctx)
        groups[group.name] = {
            "carp": get_carp_state(ctx, interfaces),
            "addresses": [str(a.ip) for a in group.addresses if probe.find_address(interfaces, a.ip)],
            "mirror": None if mirror is None else {
                "name": mirror["name"], "state": mirror["state"],
                "components": {c["name"]: c["state"] for c in mirror["components"]}},
            "mounts": [m["mountpoint"] for m in mounts
                       if any(f.mountpoint == m["mountpoint"] for f in group.filesystems)],
            "jails": sorted(probe.get_running_jails(ctx) & set(group.jails)),
            "promotion": _promotion(ctx),
            "split_brain": splitbrain.describe(ctx),
            "demotion_held": held,
        }
    return groups


def _hold(config):
    """Why carpha keeps this node's CARP demotion raised outside maintenance
    mode (a fence, a boot, a replica behind), or None."""
    from ..safety import maintenance
    try:
        return maintenance.read(config.paths.state_dir).hold
    except maintenance.MaintenanceError as error:
        return str(error)


def _promotion(ctx) -> str:
    """Whether the witness would let this node promote the group now."""
    decision = promotion.witness_allows(ctx)
    return ("allowed: " if decision.allowed else "refused: ") + decision.reason
