"""IP aliases of a group: claim on the master, release elsewhere.

Traps handled (reference 3.2): re-adding an existing IPv4 address succeeds
but is a delete+add that drops its vhid, so an address already present is
never added again; an address that carries a vhid belongs to CARP (rc.conf)
and is neither added nor removed; the kernel accepts the same address on a
second interface, so every interface is checked; deleting a missing address
fails, so only present ones are removed."""

from __future__ import annotations

from ..store import state
from ..freebsd import commands as cmd
from ..host.observe import find_address, get_interfaces
from .base import Action, Conflict, Step, Wait

# A new IPv6 address is "tentative" until duplicate address detection ends
# (net.inet6.ip6.dad_count probes, 1 s each by default); services binding it
# meanwhile get EADDRNOTAVAIL (reference 3.2; rc.d/jail waits likewise in
# need_dad_wait). Jails start only after it clears.
DAD_WAIT_SECONDS = 5.0


def plan_claim(ctx, interfaces):
    steps = []
    for alias in ctx.group.addresses:
        if alias.interface not in interfaces:
            raise Conflict(f"{ctx.group.name}: interface {alias.interface} does not exist on {ctx.node}")
        places = find_address(interfaces, alias.ip)
        elsewhere = [p["interface"] for p in places if p["interface"] != alias.interface]
        if elsewhere:
            raise Conflict(f"{ctx.group.name}: {alias.ip} is configured on {elsewhere[0]}, "
                           f"not {alias.interface}; remove it there first")
        if not places:
            steps.append(Step(cmd.alias_add(alias.interface, alias.interface_address),
                              f"claim {alias.interface_address} on {alias.interface}"))
    if any(s.argv[2] == "inet6" for s in steps):
        steps.append(Wait("duplicate address detection of the new IPv6 aliases", _dad_done, DAD_WAIT_SECONDS))
    return steps


def _dad_done(ctx) -> bool:
    interfaces = get_interfaces(ctx)
    for alias in ctx.group.addresses:
        if alias.version == 6:
            for entry in interfaces.get(alias.interface, {}).get("inet6", []):
                if entry["address"] == str(alias.ip) and "tentative" in entry.get("flags", []):
                    return False
    return True


def plan_release(ctx, interfaces):
    steps = []
    for alias in ctx.group.addresses:
        for place in find_address(interfaces, alias.ip):
            if place["interface"] == alias.interface and place["vhid"] is None:
                steps.append(Step(cmd.alias_remove(alias.interface, alias.interface_address),
                                  f"release {alias.ip} from {alias.interface}"))
    return steps


def observe_announcement(ctx) -> dict:
    """Whether the addresses are still to be announced: a claim added some
    (owed, recorded by CLAIM, so a run killed between adding and announcing
    announces on the next one), or a promotion's generation was not
    announced yet (a re-promotion with its aliases still present announces
    too: neighbours may point at the peer's MAC). A promotion records its
    role and generation before it serves (worker intent); a dry run records
    nothing, so it announces when a claim would add an address."""
    saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
    generation = saved.generation if saved.role == "MASTER" else None
    due = saved.announce_owed or (generation is not None and saved.announced_for != generation)
    if ctx.dry_run and not due:
        interfaces = get_interfaces(ctx)
        due = any(not find_address(interfaces, a.ip) for a in ctx.group.addresses)
    return {"due": due, "generation": generation}


def plan_announce(ctx, seen):
    if not seen["due"]:
        return []
    return [Step(argv, f"announce {' '.join(argv[argv.index('-m') + 2:])}", "change")
            for argv in announce_argv(ctx, get_interfaces(ctx))]


def mark_announced(ctx, seen) -> None:
    if ctx.dry_run or not seen["due"]:
        return
    changes = {"announce_owed": False}
    if seen["generation"] is not None:
        changes["announced_for"] = seen["generation"]
    state.update(ctx.config.paths.state_dir, ctx.group.name, **changes)


def owe_announcement(ctx, interfaces_before) -> None:
    """The claim added addresses: ANNOUNCE owes neighbours the news."""
    if not ctx.dry_run:
        state.update(ctx.config.paths.state_dir, ctx.group.name, announce_owed=True)


def announce_argv(ctx, interfaces):
    """carpha-garp commands: gratuitous ARP / unsolicited NA for every
    claimed address, so neighbours stop sending to the old master's MAC now,
    not when their cache expires. CARP's own vhid addresses are left out."""
    argvs = []
    by_interface = {}
    for alias in ctx.group.addresses:
        places = find_address(interfaces, alias.ip)
        # A vhid address is CARP's: CARP announces it from the virtual MAC
        # (00:00:5e:00:01:VHID); a frame from the interface's own MAC would
        # send neighbours to the wrong one.
        if any(p["vhid"] is not None for p in places):
            continue
        by_interface.setdefault(alias.interface, []).append(str(alias.ip))
    garp = ctx.config.garp
    for name, ips in by_interface.items():
        mac = interfaces.get(name, {}).get("ether")
        if not mac:
            ctx.log.warning(f"{ctx.group.name}: {name} has no ether address; no gratuitous ARP sent")
            continue
        argvs.append(("carpha-garp", "-c", str(garp.count), "-r", str(garp.repeat_count),
                      "-i", f"{garp.repeat_after_seconds:g}", "-m", mac, name, *ips))
    return argvs


# Announcing is its own action, after CLAIM in a promotion and in the
# claim-addresses hook alike (engine.transitions).
CLAIM = Action("claim-addresses", get_interfaces, plan_claim, after=owe_announcement)
ANNOUNCE = Action("announce-addresses", observe_announcement, plan_announce, after=mark_announced)
RELEASE = Action("release-addresses", get_interfaces, plan_release)
