"""A group's jails and the rc.d services started after them.

`service jail onestart NAME` exits 0 even when the jail failed to start
(reference 7.2), so every jail is verified with `jls -j NAME jid`; onestart
is used because failover jails are deliberately not in jail_enable/jail_list
(both nodes would start them at boot). A jail.conf `ip4.addr = "em0|addr"`
makes jail(8) add and remove the host alias itself, which re-adds a CARP
address without its vhid (reference 7.1): a start that strips a vhid fails
loudly instead of silently breaking CARP."""

from __future__ import annotations

from ..host import observe as probe
from ..freebsd import commands as cmd
from .base import Action, Conflict, Step


def observe(ctx) -> dict:
    return {
        "jails": {name for name in ctx.group.jails
                  if ctx.query(cmd.jls_jid(name), check=False).returncode == 0},
        "services": {name for name in ctx.group.services if probe.is_service_running(ctx, name)},
    }


def plan_start(ctx, seen):
    steps = [Step(cmd.jail_start(name), f"start jail {name}", "jail")
             for name in ctx.group.jails if name not in seen["jails"]]
    steps += [Step(cmd.service_start(name), f"start service {name}", "service")
              for name in ctx.group.services if name not in seen["services"]]
    return steps


def plan_stop(ctx, seen):
    steps = [Step(cmd.service_stop(name), f"stop service {name}", "service")
             for name in reversed(ctx.group.services) if name in seen["services"]]
    steps += [Step(cmd.jail_stop(name), f"stop jail {name}", "jail",
                   Step(cmd.jail_remove(name), f"remove jail {name}", "jail"))
              for name in reversed(ctx.group.jails) if name in seen["jails"]]
    return steps


def _vhid_addresses(interfaces):
    return {(name, entry["address"]) for name, iface in interfaces.items()
            for family in ("inet", "inet6") for entry in iface.get(family, []) if entry.get("vhid")}


def observe_start(ctx) -> dict:
    seen = observe(ctx)
    seen["interfaces"] = probe.get_interfaces(ctx) if plan_start(ctx, seen) else None
    return seen


def check_carp_addresses_kept(ctx, before) -> None:
    if before.get("interfaces") is None:
        return
    lost = _vhid_addresses(before["interfaces"]) - _vhid_addresses(probe.get_interfaces(ctx))
    if lost:
        names = ", ".join(f"{ip} on {ifname}" for ifname, ip in sorted(lost))
        raise Conflict(f"{ctx.group.name}: starting the jails stripped the CARP vhid from {names}: "
                       f"a jail.conf ip4.addr/ip6.addr names an interface (\"iface|addr\"), so jail(8) "
                       f"re-added the address; drop the \"iface|\" part and let carpha manage it")


START = Action("start-jails", observe_start, plan_start, after=check_carp_addresses_kept)
STOP = Action("stop-jails", observe, plan_stop)
