"""A read-only survey of what this node serves and how (the data behind
`carpha check`, `carpha status` and `carpha run-if-master`).

Contract: every probe goes through the runner's query() (so it runs in a
dry run too) or reads carpha's own files; nothing here changes anything.
A probe that fails leaves `{"error": "..."}` in its own cell and the other
cells are still filled: one failed `gmirror list` must not hide the CARP
state. The judging is elsewhere (carpha.ops.check), as pure functions of this
data."""

from __future__ import annotations

import os
from typing import Callable, Dict, Optional

from .. import clock
from ..store import journal, state
from ..safety import maintenance
from ..engine import nas, transitions
from ..actions import replica, storage
from ..actions.base import Context
from ..exits import CarphaError
from ..store.files import read_text
from ..freebsd import parse_text
from ..store.lock import read_holder
from ..host import observe as probe


def cell(read: Callable[[], object]):
    """read()'s answer, or {"error": why} when the probe fails."""
    try:
        return read()
    except (CarphaError, OSError, ValueError) as error:
        return {"error": str(error) or type(error).__name__}


def failed(value) -> Optional[str]:
    """The error a cell holds, or None."""
    return value.get("error") if isinstance(value, dict) and set(value) == {"error"} else None


def survey_group(ctx: Context) -> dict:
    """Everything carpha can see of one group on this node."""
    group, node = ctx.group, ctx.node
    interfaces = cell(lambda: probe.get_interfaces(ctx))
    seen = {"group": group.name, "node": node, "peer": ctx.peer,
            "carp": failed(interfaces) and interfaces or cell(lambda: probe.get_carp_state(ctx, interfaces))}
    if failed(interfaces):
        seen["addresses"] = interfaces
    else:
        seen["addresses"] = [str(a.ip) for a in group.addresses if probe.find_address(interfaces, a.ip)]
    mounts = cell(lambda: probe.get_mounts(ctx))
    seen["mounts"] = mounts if failed(mounts) else [
        {"device": m["device"], "mountpoint": m["mountpoint"]} for m in mounts
        if any(f.device == m["device"] or f.mountpoint == m["mountpoint"] for f in group.filesystems)]
    seen["jail_mounts"] = mounts if failed(mounts) else jail_mounts(ctx, mounts)
    running = cell(lambda: probe.get_running_jails(ctx))
    seen["jails"] = running if failed(running) else sorted(running & set(group.jails))
    seen["services"] = {name: cell(lambda name=name: probe.is_service_running(ctx, name))
                        for name in group.services}
    if storage.is_mirrored(ctx):
        mirrors = cell(lambda: probe.get_mirrors(ctx))
        if failed(mirrors):
            seen["mirror"] = mirrors
        else:
            seen["mirror"] = _mirror((mirrors or {}).get(group.storage.mirror), ctx)
        seen["ggate"] = cell(lambda: _ggate(ctx))
        # What our ggate unit must reach: ggatec(8) -v "info: host:port path".
        seen["peer_export"] = (f"{ctx.config.nodes[ctx.peer].address}:{group.storage.ggate.port} "
                               f"/dev/{group.storage.providers[ctx.peer]}")
        seen["exported"] = cell(lambda: _exported(ctx))
    elif group.storage.kind == nas.KIND:
        mirrors = cell(lambda: probe.get_mirrors(ctx))
        seen["mirror"] = mirrors if failed(mirrors) else _mirror((mirrors or {}).get(group.storage.mirror), ctx)
    seen["state"] = cell(lambda: _state(ctx))
    if group.storage.kind == nas.KIND:
        # Whether this node should serve it: nas.decide on what it sees now.
        seen["nas"] = next((seen[k] for k in ("mirror", "state") if failed(seen[k])), None) \
            or cell(lambda: _nas(ctx, seen))
    seen["last_takeover"] = cell(lambda: last_takeover(ctx.config.paths.state_dir, group))
    seen["lock"] = cell(lambda: _lock(ctx.config.paths.run_dir, group.name))
    seen["split_brain"] = cell(lambda: _split_brain(ctx))
    return seen


def jail_mounts(ctx, mounts) -> list:
    """Every mount under a jail root of the group (devfs, tmpfs, nullfs...),
    from `mount -p` (fstab(5) lines: device, mountpoint, fstype...)."""
    roots = jail_roots(ctx)
    found = []
    for m in mounts:
        for root in roots:
            if m["mountpoint"] != root and m["mountpoint"].startswith(root.rstrip("/") + "/"):
                found.append({"root": root, "mountpoint": m["mountpoint"], "fstype": m.get("fstype")})
    return found


def jail_roots(ctx) -> list:
    """Each jail's root directory: where the simulated or real jail.conf
    puts it is not readable without a jail.conf parser, so carpha uses its
    layout (README: jails live under the group's first filesystem, in
    jails/NAME) unless `jls` shows the jail running somewhere else."""
    root = ctx.group.filesystems[0].mountpoint if ctx.group.filesystems else "/"
    paths = {j: f"{root.rstrip('/')}/jails/{j}" for j in ctx.group.jails}
    try:
        from ..freebsd import commands as cmd
        listed = parse_text("jls", ctx.query(cmd.jls_names()).stdout)
    except (CarphaError, OSError, ValueError):
        listed = []
    for jail in listed:
        if jail.get("name") in paths and jail.get("path"):
            paths[jail["name"]] = jail["path"]
    return [paths[j] for j in ctx.group.jails]


def _mirror(mirror: Optional[dict], ctx) -> Optional[dict]:
    if mirror is None:
        return None
    # A NAS mirror's halves are all this node's drives.
    local = storage.local_provider(ctx) if storage.is_mirrored(ctx) else None
    components = [{"name": c["name"], "state": c["state"], "synchronized": c.get("synchronized"),
                   "half": "local" if local is None or c["name"] == local else
                   "peer" if c["name"] == replica.ggate_name(ctx) else "other"}
                  for c in mirror["components"]]
    return {"name": mirror["name"], "state": mirror["state"], "components": components,
            "resync_percent": resync_percent(mirror, components)}


def resync_percent(mirror: dict, components) -> Optional[int]:
    """100 when every half is ACTIVE, the lowest `Synchronized:` of the
    halves being rebuilt, or None when no half is being rebuilt and one is
    missing (degraded, nothing to copy to)."""
    syncing = [c["synchronized"] or 0 for c in components if c["state"] == "SYNCHRONIZING"]
    if syncing:
        return min(syncing)
    if len(components) >= 2 and all(c["state"] == "ACTIVE" for c in components):
        return 100
    return None


def _nas(ctx, seen) -> dict:
    """A NAS group: the decision carpha.engine.nas takes on this node now (whether
    maintenance held it), and the services letting it go stops (on the
    witness node not those the witness share needs)."""
    made = nas.decide_here(ctx, seen["mirror"] is not None, serving=seen["state"]["role"] == transitions.MASTER)
    return {"role": made.role, "reason": made.reason, "held": made.held,
            "stopped_idle": list(nas.letting_go(ctx).group.services)}


def _ggate(ctx) -> Optional[dict]:
    """Our ggate unit as `ggatec list -v` shows it, or None."""
    unit = ctx.group.storage.ggate.unit
    device = next((d for d in probe.get_ggate_devices(ctx) if d["unit"] == unit), None)
    if device is None:
        return None
    return {k: device.get(k) for k in ("device", "unit", "info", "timeout", "access")}


def _exported(ctx) -> dict:
    """The disk exported to the peer: whether ggated runs with carpha's
    argv, and what its exports file allows."""
    running = probe.is_running(ctx, storage.ggated_argv(ctx))
    text = read_text(storage.ggated_exports(ctx))
    return {"running": running, "exports": text, "expected": storage.exports_line(ctx),
            "port": ctx.group.storage.ggate.port, "disk": f"/dev/{storage.local_provider(ctx)}"}


def _state(ctx) -> dict:
    saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
    return {"role": saved.role, "generation": saved.generation, "released": saved.released,
            "split_brain_generation": saved.split_brain_generation, "updated": saved.updated}


def _lock(run_dir: str, name: str) -> Optional[str]:
    holder = read_holder(os.path.join(run_dir, f"{name}.lock"))
    return None if holder is None or not holder.alive() else holder.describe()


def _split_brain(ctx) -> Optional[str]:
    from ..safety import splitbrain
    return splitbrain.describe(ctx)


def last_takeover(state_dir: str, group) -> Optional[dict]:
    """The last promotion journaled for the group: when, how long it took
    and why (the events it handled, or an administrator's takeover)."""
    records = journal.read(state_dir, group.journal)
    for record in reversed(records):
        # A move to MASTER, not a repair while serving ("was": the role
        # applied before the pass, journaled by the worker).
        if record.get("kind") == "run" and record.get("decided") == transitions.MASTER \
                and record.get("result") == "ok" and record.get("did") \
                and record.get("was", None) != transitions.MASTER:
            events = (record.get("observed") or {}).get("events") or []
            earlier = [r for r in records if r["seq"] < record["seq"]]
            manual = next((r for r in reversed(earlier[-5:]) if r.get("kind") == "takeover"), None)
            # A NAS group's runs journal the decision's reason (carpha.engine.nas).
            why = ("takeover by hand" + (" (data loss accepted)" if manual.get("accepted_data_loss") else "")
                   if manual else f"CARP {', '.join(events)}" if events else record.get("reason")
                   or "cron found CARP MASTER")
            return {"time": record.get("time"), "duration": record.get("duration"), "why": why,
                    "seconds_ago": max(0.0, clock.now() - float(record.get("time") or 0))}
    return None


def survey_node(config, runner) -> dict:
    """Node-wide: maintenance, the demotion hold, the heartbeat's view of
    the witness, the worker lock and the host's pre-flight."""
    state_dir, run_dir = config.paths.state_dir, config.paths.run_dir
    now, mono = clock.now(), clock.monotonic()

    def mode():
        record = maintenance.read(state_dir)
        m = record.mode
        return {"hold": record.hold, "mode": None if m is None else {
            "reason": m.reason, "until": m.until, "expired": m.expired(now)}}

    def witness():
        from ..safety import witness_view as w
        if config.witness.kind != "lease":
            return {"kind": config.witness.kind}
        view = w.load_view(run_dir)
        if view is None:
            return {"kind": "lease", "view": None}
        fresh = 0 <= mono - view.updated <= 3 * config.witness.interval_seconds
        return {"kind": "lease", "view": True, "fresh": fresh, "view_age": round(mono - view.updated, 3),
                "own_ok": view.own_ok, "own_error": view.own_error,
                "own_age": None if view.own_written_at is None else round(mono - view.own_written_at, 3),
                "peer": view.peer, "peer_silent": None if view.peer_changed_at is None
                else round(mono - view.peer_changed_at, 3), "peer_error": view.peer_error,
                "peer_groups": view.peer_groups or {}}

    return {"node": config.node, "maintenance": cell(mode), "witness": cell(witness),
            "worker_lock": cell(lambda: _lock(run_dir, "worker")),
            "preflight": cell(lambda: preflight(config, runner))}


# sysrc(8) (usr.sbin/sysrc/sysrc, SYSRC_VERSION 7.3, commit 09711ccb, 14.x/main
# era): `-a -e` prints every non-default variable as NAME="value", one a line;
# `-f FILE` reads that file instead of rc_conf_files.
def sysrc_all(runner, timeout: float, file: Optional[str] = None) -> Dict[str, str]:
    argv = ["sysrc"] + (["-f", file] if file else []) + ["-a", "-e"]
    values = {}
    for line in runner.query(argv, timeout=timeout).stdout.splitlines():
        name, eq, value = line.partition('="')
        if eq and value.endswith('"') and name.replace("_", "a").isalnum():
            values[name] = value[:-1]
    return values


LOADER_CONF = "/boot/loader.conf"


def preflight(config, runner) -> dict:
    """What rc would do at boot behind carpha's back: a managed jail in
    jail_list (started by rc on both nodes), a managed address in an
    ifconfig_* line (configured by rc on both nodes), carp(4) not loaded
    at boot."""
    timeout = config.timeouts.query_seconds
    rc = sysrc_all(runner, timeout)
    loader = sysrc_all(runner, timeout, LOADER_CONF)
    mine = [g for g in config.groups.values() if config.node in g.nodes]
    jails = {j for g in mine for j in g.jails}
    listed = sorted(set(rc.get("jail_list", "").split()) & jails)
    addresses = []
    for name, value in sorted(rc.items()):
        if not name.startswith("ifconfig_"):
            continue
        words = value.replace("/", " ").split()
        for g in mine:
            addresses += [f"{name}: {a.ip}" for a in g.addresses if str(a.ip) in words]
    return {"jail_list": listed, "rc_addresses": addresses,
            "carp_load": loader.get("carp_load", "").upper() == "YES",
            "jail_conf_ifaces": jail_conf_ifaces(read_text(config.paths.jail_conf) or "", jails)}


def jail_conf_ifaces(text: str, jails) -> list:
    """Managed jails whose jail.conf(5) ip4.addr/ip6.addr has the
    `interface|address` form: jail(8) then runs ifconfig on that interface
    to add the address at start and delete it at stop (usr.sbin/jail/
    command.c run_command(), case IP__IP4_IFADDR: the interface is what
    precedes '|'; revision with term_procs(), not dated further), behind
    carpha's back, and an address re-added on a vhid's interface can strip
    the vhid (README, jail.conf step). A small reader: comments dropped,
    `name { ...; }` blocks, assignments with = or +=; `[unverified]` for
    jail.conf syntax beyond that (variables, quoting across lines)."""
    import re
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"(#|//)[^\n]*", " ", text)
    found = []
    for name, body in re.findall(r'"?([A-Za-z0-9_.*-]+)"?\s*\{([^}]*)\}', text):
        if name not in jails:
            continue
        for param, value in re.findall(r"\b(ip[46]\.addr)\s*\+?=\s*([^;]*);", body):
            if "|" in value:
                found.append(f"{name}: {param} = {' '.join(value.split())}")
    return found
