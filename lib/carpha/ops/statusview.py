"""`carpha status`: what this node serves, as carpha sees it.

Per group: CARP state, addresses, mirror and resync percent, mounts, jails,
the disk exported to the peer, the last takeover and why, whether the
witness would let this node promote, split brain, the demotion hold and
the lock holder. A probe that fails shows as an error in its own cell
(carpha.ops.survey), never as an empty screen. `--cluster` puts both nodes side
by side from the witness records (like crm_mon); `--watch` redraws every
interval with a progress bar while a mirror resynchronises. The exit code
says whether all is well: 0, or 1 when `carpha check` would not say OK.
A NAS group (carpha.engine.nas) has its own row: served here or not, the
decision carpha.engine.nas takes here and why, the mirror and its resync, the
services."""

from __future__ import annotations

from typing import Optional

from .. import exits
from ..actions.base import Context
from .survey import failed, survey_group, survey_node

BAR = 30


def status_report(config, runner, logger) -> dict:
    from .report import _promotion
    from . import check
    groups = {}
    node_seen = survey_node(config, runner)
    seen_by_group = {}
    for group in config.groups.values():
        if config.node not in group.nodes:
            continue
        ctx = Context(config, group, config.node, runner, logger)
        seen = survey_group(ctx)
        seen_by_group[group.name] = seen
        mode = node_seen["maintenance"]
        if group.carp is None:
            groups[group.name] = _nas_row(group, seen)
            continue
        groups[group.name] = {
            "carp": seen["carp"], **_reality(seen), "ggate": seen.get("ggate"),
            # the disk exported to the peer: a standby's business only
            "exported": seen.get("exported") if seen["carp"] != "MASTER" else None,
            "last_takeover": seen["last_takeover"], "lock": seen["lock"],
            "promotion": _cell(lambda: _promotion(ctx)),
            "split_brain": seen["split_brain"],
            "demotion_held": mode if failed(mode) else mode["hold"],
        }
    findings = [f for name, seen in seen_by_group.items()
                for f in check.judge_group(config.groups[name], seen)]
    findings += check.judge_node(config, node_seen, seen_by_group)
    return {"node": config.node, "groups": groups, "worker_lock": node_seen["worker_lock"],
            "maintenance": node_seen["maintenance"], "check": check.NAMES[check.worst(findings)],
            "problems": [f.line() for f in findings if f.level != check.OK]}


def _reality(seen) -> dict:
    """What is up of a group here, either kind."""
    mirror = seen.get("mirror")
    return {"addresses": seen["addresses"], "mirror": mirror,
            "resync_percent": None if not mirror or failed(mirror) else mirror["resync_percent"],
            "mounts": seen["mounts"] if failed(seen["mounts"]) else [m["mountpoint"] for m in seen["mounts"]],
            "jails": seen["jails"]}


def _nas_row(group, seen) -> dict:
    """A NAS group (carpha.engine.nas): served here or not, the decision and why,
    the mirror and its resync, what is up of it."""
    from .servedhere import not_served_because
    return {"kind": group.storage.kind, "served": not_served_because(group, seen) is None,
            "decision": seen["nas"] if failed(seen["nas"]) else
            {"role": seen["nas"]["role"], "reason": seen["nas"]["reason"]},
            **_reality(seen), "services": seen["services"],
            "last_takeover": seen["last_takeover"], "lock": seen["lock"]}


def _cell(read):
    from .survey import cell
    return cell(read)


def _text(value, render=str) -> str:
    why = failed(value)
    return f"error: {why}" if why else render(value)


def bar(percent: Optional[int]) -> str:
    if percent is None:
        return ""
    filled = BAR * max(0, min(100, percent)) // 100
    return "[" + "#" * filled + "." * (BAR - filled) + f"] {percent}%"


def _mirror_text(mirror) -> str:
    if mirror is None:
        return "not running"
    if "components" in mirror and mirror["components"] and isinstance(mirror["components"], dict):
        halves = ", ".join(f"{c} {s}" for c, s in mirror["components"].items())     # the older report
    else:
        halves = ", ".join(f"{c['name']} {c['state']}" + (f" {c['synchronized']}%" if c.get("synchronized") else "")
                           for c in mirror.get("components", []))
    text = f"mirror/{mirror['name']} {mirror['state']} ({halves})"
    percent = mirror.get("resync_percent")
    if any(isinstance(c, dict) and c.get("state") == "SYNCHRONIZING" for c in mirror.get("components", [])):
        text += "  resync " + bar(percent)
    return text


def _exported_text(exported) -> str:
    if not exported["running"]:
        return f"{exported['disk']} not exported"
    only = "peer only" if exported["exports"] == exported["expected"] else \
        f"exports file says {(exported['exports'] or '').strip()!r}"
    return f"{exported['disk']} exported by ggated on port {exported['port']} ({only})"


def _takeover_text(last) -> str:
    if last is None:
        return "none journaled"
    from ..safety.maintenance import format_seconds, format_time
    took = f", took {last['duration']:.1f} s" if isinstance(last.get("duration"), (int, float)) else ""
    return f"{format_time(last['time'])} ({format_seconds(last['seconds_ago'])} ago{took}): {last['why']}"


def format_status(node: str, report: dict) -> str:
    lines = [f"{node}:"]
    for name, g in report.items():
        if g.get("kind") == "local-gmirror":
            lines += _nas_lines(name, g)
            continue
        lines += [f"  group {name}: CARP {_text(g['carp'], lambda v: v or 'absent')}"] + _reality_lines(g)
        if g.get("exported") is not None:
            lines.append(f"    exported:  {_text(g['exported'], _exported_text)}")
        if "last_takeover" in g:
            lines.append(f"    takeover:  {_text(g['last_takeover'], _takeover_text)}")
        lines.append(f"    promotion: {_text(g['promotion'])}")
        if g.get("split_brain"):
            lines.append(f"    split brain: {_text(g['split_brain'])}")
        if g.get("demotion_held"):
            lines.append(f"    demotion:  held: {_text(g['demotion_held'])}")
        if g.get("lock"):
            lines.append(f"    lock:      held by {_text(g['lock'])}")
    return "\n".join(lines)


def _decision_text(decision) -> str:
    return ("serve here: " if decision["role"] == "MASTER" else "do not serve: ") + decision["reason"]


def _services_text(services) -> str:
    return ", ".join(f"{name} " + _text(running, lambda r: "running" if r else "stopped")
                     for name, running in services.items()) or "none"


def _reality_lines(g, jails: bool = True) -> list:
    lines = [f"    addresses: {_text(g['addresses'], lambda v: ', '.join(v) or 'none')}",
             f"    storage:   {_text(g['mirror'], _mirror_text)}",
             f"    mounted:   {_text(g['mounts'], lambda v: ', '.join(v) or 'nothing')}"]
    if jails:
        lines.append(f"    jails:     {_text(g['jails'], lambda v: ', '.join(v) or 'none')}")
    return lines


def _nas_lines(name, g) -> list:
    lines = [f"  group {name}: {g['kind']}, {'served here' if g['served'] else 'not served here'}",
             f"    decision:  {_text(g['decision'], _decision_text)}"]
    lines += _reality_lines(g, jails=bool(g["jails"]))       # a NAS seldom has jails
    lines += [f"    services:  {_services_text(g['services'])}",
              f"    takeover:  {_text(g['last_takeover'], _takeover_text)}"]
    if g.get("lock"):
        lines.append(f"    lock:      held by {_text(g['lock'])}")
    return lines


def cluster_view(config) -> dict:
    """Each node's groups as its own witness record says (lease only)."""
    from ..safety import witness_files
    from ..exits import CarphaError
    if config.witness.kind != "lease":
        raise CarphaError(f"status --cluster: witness.kind {config.witness.kind} keeps no records to read",
                          exits.CONFIG)
    from ..safety.witness_config import leased_groups
    # the lease's records: not a NAS group's (carpha.engine.nas), which publishes none
    nodes = sorted({n for g in config.groups.values() if g in leased_groups(config, g.nodes[0])
                    for n in g.nodes})
    view = {}
    for node in nodes:
        try:
            record = witness_files.read_record(config.witness.path, node)
            view[node] = None if record is None else {
                "counter": record.counter,
                "groups": {name: vars(status) if hasattr(status, "__dict__") else _as_dict(status)
                           for name, status in record.groups.items()}}
        except (CarphaError, OSError) as error:
            view[node] = {"error": str(error)}
    return view


def _as_dict(status) -> dict:
    from dataclasses import asdict
    return asdict(status)


def format_cluster(config, view: dict) -> str:
    nodes = list(view)
    width = 28
    lines = ["group".ljust(12) + "".join(n.ljust(width) for n in nodes)]
    for name in (n for n, g in config.groups.items() if g.carp is not None):
        cells = []
        for node in nodes:
            record = view[node]
            if record is None:
                cells.append("no record")
            elif failed(record):
                cells.append(f"error: {failed(record)}"[:width - 1])
            else:
                s = record["groups"].get(name)
                if s is None:
                    cells.append("-")
                else:
                    cells.append(("SERVING" if s.get("serving") else "standby")
                                 + f" gen {s.get('generation')}"
                                 + ("" if s.get("replica_in_sync") or not s.get("serving") else ", peer half stale")
                                 + (", SPLIT BRAIN" if s.get("split_brain") else ""))
        lines.append(name.ljust(12) + "".join(c.ljust(width) for c in cells))
    lines.append("counter".ljust(12) + "".join(
        ("-" if view[n] is None or failed(view[n]) else str(view[n]["counter"])).ljust(width) for n in nodes))
    return "\n".join(line.rstrip() for line in lines)
