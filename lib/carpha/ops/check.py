"""`carpha check`: the consistency check cron runs, as a Nagios/Icinga
plugin.

Every group on this node is judged from a read-only survey (carpha.ops.survey)
as Pacemaker's CTS checks a cluster: role against reality, mirror health
and resync progress, the ggate unit and its options, the disk exported to
the peer, the demotion hold, maintenance and its expiry, witness
freshness, split-brain marks and the host's pre-flight. `judge_*` are pure
functions of that survey.

Output follows the plugin API: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
(Nagios Core "Plugin API", assets.nagios.com/downloads/nagioscore/docs/
nagioscore/3/en/pluginapi.html); the first line is "SERVICE STATUS:
text" (monitoring-plugins developer-guidelines, "Plugin Output") then
` | ` and perfdata 'label'=value[UOM];[warn];[crit];[min];[max], labels
quoted, without ' or = and spaces, values in the C locale (Icinga 2
"Service Monitoring: Performance Data Metrics"); further lines are long
text, one finding each.

`--repair` runs the reconcile the hooks run (carpha.engine.worker.reconcile),
reports what it changed from the journal records it appended, and judges
again."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional

from ..store import journal
from ..engine import transitions
from ..actions.base import Context
from .survey import failed, survey_group, survey_node

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# Worst first for the summary: a CRITICAL outranks an UNKNOWN probe (as
# monitoring-plugins' max_state orders them [unverified: utils.c not read]).
RANK = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}


@dataclass(frozen=True)
class Finding:
    level: int
    group: Optional[str]
    text: str

    def line(self) -> str:
        return f"{NAMES[self.level]}: " + (f"{self.group}: " if self.group else "") + self.text


def worst(findings) -> int:
    return max((f.level for f in findings), key=RANK.get, default=OK)


# --- judging (pure) ------------------------------------------------------------

def judge_group(group, seen: dict) -> List[Finding]:
    """Findings for one group from survey_group()'s data."""
    if group.carp is None:      # a NAS group: served where its drives are (carpha.engine.nas)
        return _judge_nas(group, seen)
    name = group.name
    out = _unreadable(group, seen, ("carp", "addresses", "mounts", "jails", "mirror", "ggate", "exported",
                                    "state", "split_brain"))

    def add(level, text):
        out.append(Finding(level, name, text))

    carp = seen["carp"]
    if failed(carp):
        return out
    if carp is None:
        add(CRITICAL, f"vhid {group.carp.vhid} on {group.carp.interface} does not exist on this node")
    serving = carp == transitions.MASTER
    mirrored = group.storage.kind == "gmirror-ggate"
    mirror = seen.get("mirror")
    if serving:
        out += _judge_present(group, seen, "CARP MASTER")
        if mirrored and not failed(mirror):
            out += _judge_mirror(group, seen)
    else:
        out += _judge_absent(group, seen, f"CARP {carp}", group.services)
        if mirrored and mirror and not failed(mirror):
            add(CRITICAL, f"CARP {carp} but mirror/{mirror['name']} is assembled here")
        exported = seen.get("exported")
        if mirrored and exported and not failed(exported):
            if not exported["running"]:
                add(WARNING, f"{exported['disk']} is not exported to the peer (ggated not running)")
            elif exported["exports"] != exported["expected"]:
                add(WARNING, f"ggated exports {exported['disk']} to other than the peer only: "
                             f"{(exported['exports'] or '').strip()!r}")
    saved = seen.get("state")
    if saved and not failed(saved) and carp is not None and saved["role"] != transitions.role_for(carp):
        add(WARNING, f"CARP says {carp} but the last role applied is {saved['role'] or 'none'}")
    if seen.get("split_brain") and not failed(seen["split_brain"]):
        add(CRITICAL, f"split brain: {seen['split_brain']}")
    if not out:
        add(OK, _summary(group, seen))
    return out


def _unreadable(group, seen, keys) -> List[Finding]:
    out = [Finding(UNKNOWN, group.name, f"cannot read {key}: {failed(seen[key])}")
           for key in keys if key in seen and failed(seen[key])]
    return out + [Finding(UNKNOWN, group.name, f"cannot read service {s}: {failed(v)}")
                  for s, v in seen["services"].items() if failed(v)]


def _readable(seen, key) -> list:
    return [] if failed(seen[key]) else seen[key]


def _judge_present(group, seen, role: str) -> List[Finding]:
    """A node that serves the group: every address, each filesystem mounted
    once from its device, every jail and service running."""
    out = []

    def add(text):
        out.append(Finding(CRITICAL, group.name, f"{role} but {text}"))

    missing = [str(a.ip) for a in group.addresses if str(a.ip) not in _readable(seen, "addresses")]
    if missing and not failed(seen["addresses"]):
        add(f"address {', '.join(missing)} missing")
    for fs in group.filesystems:
        here = [m for m in _readable(seen, "mounts") if m["mountpoint"] == fs.mountpoint]
        if not here and not failed(seen["mounts"]):
            add(f"{fs.mountpoint} is not mounted")
        elif len(here) > 1:
            out.append(Finding(CRITICAL, group.name, f"{fs.mountpoint} is mounted {len(here)} times"))
        elif here and here[0]["device"] != fs.device:
            out.append(Finding(CRITICAL, group.name, f"{fs.mountpoint} has {here[0]['device']} mounted, "
                                                     f"not {fs.device}"))
    down = [j for j in group.jails if j not in _readable(seen, "jails")]
    if down and not failed(seen["jails"]):
        add(f"jail {', '.join(down)} not running")
    stopped = [s for s, running in seen["services"].items() if not failed(running) and not running]
    if stopped:
        add(f"service {', '.join(stopped)} not running")
    return out


def _judge_absent(group, seen, role: str, services) -> List[Finding]:
    """A node that does not serve the group: none of its addresses, mounts,
    jails, nor `services` running."""
    out = []

    def add(text):
        out.append(Finding(CRITICAL, group.name, f"{role} but {text}"))

    if _readable(seen, "addresses"):
        add(f"holds address {', '.join(seen['addresses'])}")
    if _readable(seen, "mounts"):
        add(f"{', '.join(m['mountpoint'] for m in seen['mounts'])} mounted")
    if _readable(seen, "jails"):
        add(f"jail {', '.join(seen['jails'])} running")
    running = [s for s, r in seen["services"].items() if s in services and not failed(r) and r]
    if running:
        add(f"service {', '.join(running)} running")
    return out


def _judge_nas(group, seen) -> List[Finding]:
    """A NAS group on this node against the decision carpha.engine.nas takes here
    (survey's "nas" cell): served here with everything up, or nothing of
    it here (on the witness node its share's services may run); the
    mirror's health wherever it runs."""
    name = group.name
    out = _unreadable(group, seen, ("addresses", "mounts", "jails", "mirror", "nas", "state"))
    decided, mirror = seen["nas"], seen["mirror"]
    if failed(decided):
        return out                  # cannot tell whether this node should serve it
    if decided["role"] == transitions.MASTER:
        out += _judge_present(group, seen, f"to be served here ({decided['reason']})")
    else:
        wrong = _judge_absent(group, seen, f"not to be served here ({decided['reason']})",
                              decided["stopped_idle"])
        out += wrong
        if mirror is not None and not wrong:
            hint = "" if decided["held"] else (f"; to serve it here: carpha takeover {name}; to pull its "
                                                  f"drives: carpha release {name}")
            out.append(Finding(WARNING, name, f"mirror/{mirror['name']} runs here but is not served: "
                                              f"{decided['reason']}{hint}"))
    if mirror is not None:
        out += _judge_health(name, mirror, "a drive is missing")
    if not out:
        text = f"serving because {decided['reason']}: " + ", ".join(_serving_parts(group, seen)) \
            if decided["role"] == transitions.MASTER else f"not served here: {decided['reason']}"
        out.append(Finding(OK, name, text))
    return out


def _judge_health(name, mirror, missing: str) -> List[Finding]:
    """Resynchronising or degraded (a half missing)."""
    halves = ", ".join(f"{c['name']} {c['state']}" + (f" {c['synchronized']}%" if c.get("synchronized") else "")
                       for c in mirror["components"])
    percent = mirror["resync_percent"]
    if any(c["state"] == "SYNCHRONIZING" for c in mirror["components"]):
        return [Finding(WARNING, name, f"mirror/{mirror['name']} resynchronising {percent}% ({halves})")]
    if percent != 100:
        return [Finding(WARNING, name, f"mirror/{mirror['name']} {mirror['state']}, degraded: {missing} ({halves})")]
    return []


def _judge_mirror(group, seen) -> List[Finding]:
    name, mirror, ggate = group.name, seen["mirror"], seen.get("ggate")
    if mirror is None:
        return [Finding(CRITICAL, name, f"CARP MASTER but mirror/{group.storage.mirror} is not running")]
    found = _judge_health(name, mirror, "the peer's half is missing")
    if ggate and not failed(ggate):
        want = group.storage.ggate
        if ggate.get("timeout") not in (None, want.timeout_seconds):
            found.append(Finding(WARNING, name, f"{ggate['device']} has timeout {ggate['timeout']}, "
                                                f"not {want.timeout_seconds}"))
        peer = seen.get("peer_export")
        if peer and ggate.get("info") not in (None, peer):
            found.append(Finding(WARNING, name, f"{ggate['device']} reaches {ggate['info']}, not {peer}"))
        if ggate.get("access") not in (None, "read-write"):
            found.append(Finding(WARNING, name, f"{ggate['device']} is {ggate['access']}, not read-write"))
    return found


def _summary(group, seen) -> str:
    carp = seen["carp"]
    if carp != transitions.MASTER:
        exported = seen.get("exported")
        tail = f", {exported['disk']} exported to {seen['peer']}" if exported and not failed(exported) \
            and exported["running"] else ""
        return f"CARP {carp}, serving nothing{tail}"
    return "serving: " + ", ".join(_serving_parts(group, seen))


def _serving_parts(group, seen) -> List[str]:
    mirror = seen.get("mirror")
    parts = [f"mirror/{mirror['name']} {mirror['state']}"] if mirror and not failed(mirror) else []
    parts += [f"{len(group.filesystems)} mounted", f"{len(group.addresses)} addresses"]
    if group.jails or not group.services:
        parts.append(f"jails {' '.join(group.jails)}" if group.jails else "no jails")
    if group.services:
        parts.append(f"services {' '.join(group.services)}")
    return parts


def judge_node(config, node_seen: dict, groups_seen: dict) -> List[Finding]:
    """Node-wide findings and whether each group is served somewhere."""
    out: List[Finding] = []
    mode = node_seen["maintenance"]
    if failed(mode):
        out.append(Finding(UNKNOWN, None, f"maintenance record: {failed(mode)}"))
    else:
        if mode["mode"] and not mode["mode"]["expired"]:
            from ..safety.maintenance import format_time
            out.append(Finding(WARNING, None, f"maintenance mode until {format_time(mode['mode']['until'])}: "
                                              f"{mode['mode']['reason']}"))
        if mode["hold"]:
            out.append(Finding(WARNING, None, f"CARP demotion held: {mode['hold']}"))
    out += _judge_witness(config, node_seen["witness"], groups_seen)
    pre = node_seen["preflight"]
    if failed(pre):
        out.append(Finding(UNKNOWN, None, f"pre-flight: {failed(pre)}"))
    else:
        if pre["jail_list"]:
            out.append(Finding(CRITICAL, None, f"rc.conf jail_list starts managed jail(s) at boot: "
                                               f"{' '.join(pre['jail_list'])}"))
        for line in pre["rc_addresses"]:
            out.append(Finding(CRITICAL, None, f"rc.conf configures a managed address: {line}"))
        for line in pre.get("jail_conf_ifaces", []):
            out.append(Finding(CRITICAL, None, f"jail.conf: {line}: jail(8) adds and removes this address itself "
                                               f"(drop the interface| prefix: carpha owns the alias)"))
        if not pre["carp_load"]:
            out.append(Finding(WARNING, None, 'carp_load="YES" is not in /boot/loader.conf (fine only if '
                                              "carp(4) is compiled into the kernel)"))
    return out


def _judge_witness(config, w: dict, groups_seen: dict) -> List[Finding]:
    if failed(w):
        return [Finding(UNKNOWN, None, f"witness view: {failed(w)}")]
    if w["kind"] == "none":
        return [Finding(WARNING, None, "witness.kind none: two masters are possible")]
    if w["kind"] != "lease":
        return []
    from ..safety.witness_config import leased_groups
    if not leased_groups(config, config.node):
        return []           # a NAS owner in no CARP group: no lease of its own to renew
    if not w["view"]:
        return [Finding(WARNING, None, "no heartbeat view: is carpha heartbeat running? "
                                       "(no automatic promotion without it)")]
    out = []
    if not w["fresh"]:
        out.append(Finding(WARNING, None, f"heartbeat view is {w['view_age']:g} s old: is carpha heartbeat running?"))
    elif not w["own_ok"]:
        out.append(Finding(WARNING, None, f"cannot renew our witness record: {w['own_error']}"))
    peer_fresh = w["fresh"] and w["peer_silent"] is not None \
        and w["peer_silent"] < config.witness.takeover_after_seconds
    for name, seen in groups_seen.items():
        if failed(seen["carp"]) or config.groups[name].carp is None:
            continue
        status = (w["peer_groups"] or {}).get(name) or {}
        from .servedhere import not_served_because
        here = not_served_because(config.groups[name], seen) is None   # serving, not merely CARP MASTER
        there = bool(status.get("serving")) and peer_fresh
        if here and there:
            out.append(Finding(CRITICAL, name, f"both nodes serve: {w['peer']}'s record says it serves too"))
        elif not here and not there and not peer_fresh and w["peer_error"] \
                and seen["carp"] == transitions.BACKUP:
            # Its record cannot be read (the witness is down or cut off
            # from us): silence is no news of the peer, and CARP BACKUP here
            # means it advertises as MASTER (nas-move: serverC down).
            out.append(Finding(WARNING, name, f"not served here, and {w['peer']}'s record cannot be read "
                                              f"({w['peer_error']}); CARP BACKUP here: {w['peer']} advertises "
                                              f"as MASTER"))
        elif not here and not there and (peer_fresh or w["fresh"]):
            why = "its record says it serves nothing" if peer_fresh else \
                f"its record has been silent {w['peer_silent'] if w['peer_silent'] is not None else '?'} s"
            out.append(Finding(CRITICAL, name, f"served nowhere: not here, and {w['peer']}: {why}"))
    return out


def perfdata(config, groups_seen: dict, node_seen: dict) -> str:
    items = []
    for name, seen in groups_seen.items():
        mirror = seen.get("mirror")
        if mirror and not failed(mirror) and mirror["resync_percent"] is not None:
            items.append(f"'{name}_resync'={mirror['resync_percent']}%;;;0;100")
        last = seen.get("last_takeover")
        if last and not failed(last):
            items.append(f"'{name}_since_takeover'={int(last['seconds_ago'])}s;;;0")
    w = node_seen["witness"]
    if not failed(w) and w.get("view") and w.get("own_age") is not None:
        interval = config.witness.interval_seconds
        items.append(f"'witness_age'={w['own_age']:.1f}s;{3 * interval:g};"
                     f"{config.witness.fence_after_seconds:g};0")
    return " ".join(items)


# --- running it ---------------------------------------------------------------

def survey(config, runner, log) -> tuple:
    groups = {}
    for group in config.groups.values():
        if config.node in group.nodes:
            groups[group.name] = survey_group(Context(config, group, config.node, runner, log))
    return groups, survey_node(config, runner)


def evaluate(config, runner, log) -> dict:
    groups_seen, node_seen = survey(config, runner, log)
    findings = [f for g in groups_seen.values() for f in judge_group(config.groups[g["group"]], g)]
    findings += judge_node(config, node_seen, groups_seen)
    status = worst(findings)
    return {"status": status, "state": NAMES[status], "findings": [asdict(f) for f in findings],
            "perfdata": perfdata(config, groups_seen, node_seen), "groups": groups_seen, "node": node_seen}


def plugin_output(result: dict, repaired: Optional[List[str]] = None) -> str:
    findings = [Finding(**f) for f in result["findings"]]
    bad = [f for f in findings if f.level != OK]
    head = bad if bad else findings
    text = "; ".join((f"{f.group}: " if f.group else "") + f.text for f in sorted(
        head, key=lambda f: -RANK[f.level])[:2])
    if len(bad) > 2:
        text += f" (+{len(bad) - 2} more)"
    line = f"CARPHA {result['state']}: {text}"
    if result["perfdata"]:
        line += f" | {result['perfdata']}"
    lines = [line] + [f.line() for f in findings]
    lines += [f"repaired: {step}" for step in repaired or []]
    return "\n".join(lines)


def repair(config, runner_factory, log) -> List[str]:
    """The hooks' reconcile; what it changed, from the journal records it
    appended (every command it ran, and outcomes)."""
    from ..engine import worker
    mine = [g for g in config.groups.values() if config.node in g.nodes]
    before = {g.journal: _last_seq(config, g.journal) for g in mine}     # a NAS group's: the devices journal
    results = worker.reconcile(config, config.node, runner_factory, log)
    changed = []
    for group in mine:
        for record in journal.read(config.paths.state_dir, group.journal, after_seq=before[group.journal]):
            if record.get("kind") == "run" and record.get("group") == group.name:
                changed += [f"{group.name}: {step}" for step in record.get("did") or []]
    for result in results.values():
        if result.error:
            changed.append(f"{result.group}: not repaired: {result.error}")
    return changed


def _last_seq(config, binding: str) -> int:
    records = journal.read(config.paths.state_dir, binding)
    return records[-1]["seq"] if records else 0


def plan_repair(config, runner, log) -> List[str]:
    """What --repair would run, as each action's dry run prints it."""
    lines = []
    for group in config.groups.values():
        if config.node not in group.nodes:
            continue
        ctx = Context(config, group, config.node, runner, log)
        if group.carp is None:          # a NAS group: toward what carpha.engine.nas decides here
            from ..engine import nas
            from ..store import state
            saved = state.load(config.paths.state_dir, group.name)
            role = nas.decide_here(ctx, nas.mirror_here(ctx), serving=saved.role == transitions.MASTER).role
            ctx = ctx if role == transitions.MASTER else nas.letting_go(ctx)
        else:
            from ..host.observe import get_carp_state
            role = transitions.role_for(get_carp_state(ctx))
        lines.append(f"# {group.name}: toward {role}")
        runner.echo = lines.append
        transitions.run(ctx, role)
    return lines
