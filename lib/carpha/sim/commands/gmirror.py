"""gmirror(8): the userland side (sbin/geom/core/geom.c, lib/geom/mirror/
geom_mirror.c) in front of the kernel side (sys/geom/mirror/g_mirror_ctl.c).

Errors come back as `gmirror: <message>` and exit 1 (geom.c run_command);
`status`/`list` need the class in the kernel ("Command 'status' not
available; try 'load' first."); `load` when the module is already in the
kernel is refused by the geom.c revision the reference describes (the
newest revision makes it a NOP: Host.geom_load_is_noop).
"""

from __future__ import annotations

import getopt

from .. import gatedev, geom
from ..executor import Exit, command
from ..storage import BALANCES, INF, humanize, metadata_hash, new_metadata

# (getopt letters, usage lines) per verb, from class_commands[] and
# std_commands[]; G_FLAG_VERBOSE commands also take -v.
CLASS = {
    "activate": ("v", ["[-v] name prov ..."]),
    "clear": ("v", ["[-v] prov ..."]),
    "configure": ("vab:dfFhnp:s:", ["[-adfFhnv] [-b balance] [-s slice] name",
                                    "[-v] -p priority name prov"]),
    "create": ("vb:Fns:", ["[-Fnv] [-b balance] [-s slice] name prov ..."]),
    "deactivate": ("v", ["[-v] name prov ..."]),
    "destroy": ("vf", ["[-fv] name ..."]),
    "dump": ("", ["prov ..."]),
    "forget": ("v", ["name ..."]),
    "label": ("vb:Fhns:", ["[-Fhnv] [-b balance] [-s slice] name prov ..."]),
    "insert": ("vhip:", ["[-hiv] [-p priority] name prov ..."]),
    "rebuild": ("v", ["[-v] name prov ..."]),
    "remove": ("v", ["[-v] name prov ..."]),
    "resize": ("vs:", ["[-s size] [-v] name"]),
    "stop": ("vf", ["[-fv] name ..."]),
}
STD = {
    "help": ("", [None]),
    "list": ("a", ["[-a] [name ...]"]),
    "status": ("ags", ["[-ags] [name ...]"]),
    "load": ("v", ["[-v]"]),
    "unload": ("v", ["[-v]"]),
}


def usage_text() -> str:
    lines, prefix = [], "usage:"
    for table in (CLASS, STD):
        for verb, (_, usages) in table.items():
            for text in usages:
                lines.append(f"{prefix} gmirror {verb}" + (f" {text}" if text else ""))
                prefix = "      "
    return "\n".join(lines)


class GctlError(Exception):
    pass


@command("gmirror")
def gmirror(ctx):
    if not ctx.args:
        ctx.usage(usage_text())
    verb = ctx.args[0]
    table = CLASS if verb in CLASS else STD if verb in STD else None
    if table is None:
        ctx.warnx(f"Unknown command: {verb}.")
        ctx.usage(usage_text())
    loaded = "geom_mirror" in ctx.host.modules
    if table is STD:
        available = {"help": True, "list": loaded, "status": loaded,
                     "load": (not loaded) or ctx.host.geom_load_is_noop,
                     "unload": loaded}[verb]
        if not available:
            ctx.fail(f"Command '{verb}' not available; try 'load' first.")
    letters = table[verb][0]
    try:
        opts, args = getopt.getopt(ctx.args[1:], letters)
    except getopt.GetoptError:
        ctx.usage(usage_text())
    flags = {}
    for flag, value in opts:
        if flag in flags and flag != "-v":
            ctx.warnx(f"Option '{flag[1]}' specified twice.")
            ctx.usage(usage_text())
        flags[flag] = value
    verbose = "-v" in flags
    handler = HANDLERS.get(verb)
    if handler is None:
        ctx.unsupported(f"gmirror {verb}")
    kernel = verb in KERNEL_VERBS
    if kernel and not loaded:
        ctx.fail("Class not found")          # gctl: no MIRROR class [unverified]
    try:
        handler(ctx, flags, args)
    except GctlError as error:
        ctx.warnx(str(error))
        raise Exit(1)
    if verbose:
        ctx.out("Done.")
    return 0


# ---------------------------------------------------------------------------
# std commands

def do_help(ctx, flags, args):
    ctx.usage(usage_text())


def _visible(ctx, all_):
    return [m for m in ctx.host.mirrors.values() if m.launched or all_]


def _find(ctx, name):
    return ctx.host.mirrors.get(geom.strip_dev(name))


def _consumer_text(ctx, m, comp) -> str:
    if comp.state == "SYNCHRONIZING":
        geom.sync_progress(ctx.host, m, comp)
        pct = comp.sync_offset * 100 // m.mediasize if m.mediasize else 0
        return f"{comp.prov} (SYNCHRONIZING, {pct}%)"
    return f"{comp.prov} ({comp.state})"


def do_status(ctx, flags, args):
    script, geoms, all_ = "-s" in flags, "-g" in flags, "-a" in flags
    if args:
        chosen = []
        for name in args:
            m = _find(ctx, name)
            if m is None:
                raise GctlError(f"No such geom: {name}.")
            chosen.append(m)
    else:
        chosen = _visible(ctx, all_)
    if not chosen:
        return
    # status_update_len(): -s starts from 0, else from "Name"/"Status".
    name_len = 0 if script else len("Name")
    status_len = 0 if script else len("Status")
    for m in chosen:
        if geoms:
            name_len = max(name_len, len(m.name))
            status_len = max(status_len, len(m.status()))
        elif m.launched:
            name_len = max(name_len, len(m.provider))
            status_len = max(status_len, len(m.status()))
    if not script:
        ctx.out(f"{'Name':>{name_len}}  {'Status':>{status_len}}  Components")
    for m in chosen:
        if not geoms and not m.launched:
            continue         # status_one_geom_prs(): no provider, no line
        name, status = (m.name if geoms else m.provider), m.status()
        comps = m.consumers()
        if not comps:
            ctx.out(f"{name:>{name_len}}  {status:>{status_len}}  N/A")
        for comp in comps:
            ctx.out(f"{name:>{name_len}}  {status:>{status_len}}  {_consumer_text(ctx, m, comp)}")
            if not script:
                name = status = ""


def list_geom(ctx, m) -> None:
    host = ctx.host
    ctx.out(f"Geom name: {m.name}")
    # libgeom prints a geom's config in the reverse of g_mirror_dumpconf()'s
    # order (sample gmirror_list).
    ctx.out(f"State: {m.status()}")
    ctx.out(f"Components: {m.ndisks}")
    ctx.out(f"Balance: {m.balance}")
    ctx.out(f"Slice: {m.slice}")
    ctx.out(f"Flags: {', '.join(sorted(m.mflags, key=['NOFAILSYNC', 'NOAUTOSYNC'].index)) or 'NONE'}")
    ctx.out(f"GenID: {m.genid}")
    ctx.out(f"SyncID: {m.syncid}")
    ctx.out(f"ID: {m.mid}")
    if m.launched:
        r, w, e = geom.access(host, m.provider)
        ctx.out("Providers:")
        ctx.out(f"1. Name: {m.provider}")
        ctx.out(f"   Mediasize: {m.mediasize} ({humanize(m.mediasize)})")
        ctx.out(f"   Sectorsize: {m.sectorsize}")
        ctx.out(f"   Mode: r{r}w{w}e{e}")
    comps = m.consumers()
    if comps:
        ctx.out("Consumers:")
        order = ["DIRTY", "HARDCODED", "INACTIVE", "SYNCHRONIZING", "FORCE_SYNC", "BROKEN"]
        for n, comp in enumerate(comps, start=1):
            size = geom.mediasize(host, comp.prov)
            ctx.out(f"{n}. Name: {comp.prov}")
            ctx.out(f"   Mediasize: {size} ({humanize(size)})")
            ctx.out(f"   Sectorsize: {geom.sectorsize(host, comp.prov)}")
            ctx.out("   Mode: r1w1e1")
            ctx.out(f"   State: {comp.state}")
            ctx.out(f"   Priority: {comp.priority}")
            flags = [f for f in order if f in comp.flags]
            ctx.out(f"   Flags: {', '.join(flags) or 'NONE'}")
            ctx.out(f"   GenID: {comp.genid}")
            ctx.out(f"   SyncID: {comp.syncid}")
            if comp.state == "SYNCHRONIZING":
                geom.sync_progress(host, m, comp)
                if comp.sync_offset > 0:
                    ctx.out(f"   BytesSynced: {comp.sync_offset}")
                ctx.out(f"   Synchronized: {comp.sync_offset * 100 // m.mediasize}%")
            ctx.out(f"   ID: {comp.did}")
    ctx.out("")


def do_list(ctx, flags, args):
    if args:
        for name in args:
            m = _find(ctx, name)
            if m is None:
                ctx.fail(f"Class 'MIRROR' does not have an instance named '{name}'.")
            list_geom(ctx, m)
    else:
        for m in _visible(ctx, "-a" in flags):
            list_geom(ctx, m)


def do_load(ctx, flags, args):
    if "geom_mirror" not in ctx.host.modules:
        ctx.host.kldload("geom_mirror")
    if "-v" in flags:
        ctx.out("Module available.")


def do_unload(ctx, flags, args):
    if ctx.host.mirrors:
        raise GctlError("Could not unload module: Device busy.")
    ctx.host.modules.discard("geom_mirror")
    for key in list(ctx.host.sysctl):
        if key.startswith("kern.geom.mirror."):
            del ctx.host.sysctl[key]


# ---------------------------------------------------------------------------
# userland class commands (work without the module)

def do_label(ctx, flags, args):
    if len(args) < 2:
        raise GctlError("Too few arguments.")
    balance = flags.get("-b", "load")
    if balance not in BALANCES:
        raise GctlError("Invalid balance algorithm.")
    error = geom.label(ctx.host, args[0], args[1:], balance=balance, hardcoded="-h" in flags,
                       slice_=int(flags.get("-s", 4096)), noautosync="-n" in flags,
                       nofailsync="-F" in flags)
    if error:
        raise GctlError(error)
    if "-v" in flags:
        for prov in args[1:]:
            ctx.out(f"Metadata value stored on {geom.strip_dev(prov)}.")


def do_clear(ctx, flags, args):
    if not args:
        raise GctlError("Too few arguments.")
    failed = False
    for name in args:
        prov = geom.strip_dev(name)
        if not geom.provider_exists(ctx.host, prov):
            ctx.err(f"Can't clear metadata on {name}: No such file or directory.")
            failed = True
            continue
        if not geom.can_open(ctx.host, prov, 1, 1, 0):
            ctx.err(f"Can't clear metadata on {name}: Operation not permitted.")
            failed = True
            continue
        if geom.read_md(ctx.host, prov) is None:
            ctx.err(f"Can't clear metadata on {name}: Invalid argument.")   # [unverified]
            failed = True
            continue
        geom.write_md(ctx.host, prov, None)
        geom.released(ctx.host, prov, True)
        if "-v" in flags:
            ctx.out(f"Metadata cleared on {name}.")
    if failed:
        raise GctlError("Not fully done.")


def dump_md(ctx, md) -> None:
    ctx.out(f"     magic: {md['magic']}")
    ctx.out(f"   version: {md['version']}")
    ctx.out(f"      name: {md['name']}")
    ctx.out(f"       mid: {md['mid']}")
    ctx.out(f"       did: {md['did']}")
    ctx.out(f"       all: {md['all']}")
    ctx.out(f"     genid: {md['genid']}")
    ctx.out(f"    syncid: {md['syncid']}")
    ctx.out(f"  priority: {md['priority']}")
    ctx.out(f"     slice: {md['slice']}")
    ctx.out(f"   balance: {md['balance']}")
    ctx.out(f" mediasize: {md['mediasize']}")
    ctx.out(f"sectorsize: {md['sectorsize']}")
    ctx.out(f"syncoffset: {md['sync_offset']}")
    mflags = [f for f in ("NOFAILSYNC", "NOAUTOSYNC") if f in md["mflags"]]
    ctx.out("    mflags: " + (" ".join(mflags) or "NONE"))
    dflags = [f for f in ("DIRTY", "SYNCHRONIZING", "FORCE_SYNC", "INACTIVE") if f in md["dflags"]]
    ctx.out("    dflags: " + (" ".join(dflags) or "NONE"))
    ctx.out(f"hcprovider: {md['provider']}")
    ctx.out(f"  provsize: {md['provsize']}")
    ctx.out(f"  MD5 hash: {metadata_hash(md)}")


def do_dump(ctx, flags, args):
    if not args:
        raise GctlError("Too few arguments.")
    failed = False
    for name in args:
        prov = geom.strip_dev(name)
        md = geom.read_md(ctx.host, prov) if geom.provider_exists(ctx.host, prov) else None
        if md is None:
            why = ("No such file or directory" if not geom.provider_exists(ctx.host, prov)
                   else "Invalid argument")                 # [unverified] errno
            ctx.err(f"Can't read metadata from {name}: {why}.")
            failed = True
            continue
        ctx.out(f"Metadata on {name}:")
        dump_md(ctx, md)
        ctx.out("")
    if failed:
        raise GctlError("Not fully done.")


def do_activate(ctx, flags, args):
    if len(args) < 2:
        raise GctlError("Too few arguments.")
    failed = False
    for name in args[1:]:
        prov = geom.strip_dev(name)
        md = geom.read_md(ctx.host, prov) if geom.provider_exists(ctx.host, prov) else None
        if md is None:
            ctx.err(f"Cannot read metadata from {name}: Invalid argument.")   # [unverified]
            failed = True
            continue
        if md["name"] != args[0]:
            ctx.err(f"Provider {name} is not the mirror {args[0]} component.")
            failed = True
            continue
        md["dflags"] = [f for f in md["dflags"] if f != "INACTIVE"]
        geom.write_md(ctx.host, prov, md)
        geom.released(ctx.host, prov, True)
        if "-v" in flags:
            ctx.out(f"Provider {name} activated.")
    if failed:
        raise GctlError("Not fully done.")


# ---------------------------------------------------------------------------
# kernel class commands (g_mirror_ctl.c)

def _device(ctx, name):
    m = ctx.host.mirrors.get(name)
    if m is None:
        raise GctlError(f"No such device: {name}.")
    return m


def do_insert(ctx, flags, args):
    if len(args) < 2:
        raise GctlError("Too few arguments.")
    host = ctx.host
    m = _device(ctx, args[0])
    while not m.launched:
        # g_mirror_find_launched_device(M_WAITOK) sleeps until it launches.
        if m.state == "STARTING":
            ctx.wait(max(0.0, m.launch_deadline - host.now()) + 0.001)
        m = host.mirrors.get(args[0])
        if m is None:
            raise GctlError(f"No such device: {args[0]}.")
    if len(m.components) < m.ndisks:
        raise GctlError("Not all disks connected.")
    priority = int(flags.get("-p", 0))
    first_error = None
    inserted = []
    for name in args[1:]:
        prov = geom.strip_dev(name)
        if not geom.provider_exists(host, prov):
            first_error = first_error or f'Provider not found: "{name}"'
            continue
        if m.component(prov) is not None:
            first_error = first_error or f"Provider {prov} already inserted."
            continue
        if not geom.can_open(host, prov, 0, 1, 1):
            first_error = first_error or f"Cannot access provider {prov}."
            continue
        if m.mediasize > geom.mediasize(host, prov) - geom.sectorsize(host, prov):
            first_error = first_error or f"Provider {prov} too small."
            continue
        dflags = ["INACTIVE"] if "-i" in flags else []
        md = new_metadata(m.name, m.mid, host.cluster.random32(), m.ndisks + 1, priority,
                          balance=m.balance, slice_=m.slice, mediasize=m.mediasize,
                          sectorsize=m.sectorsize, provider=prov if "-h" in flags else "",
                          provsize=geom.mediasize(host, prov), genid=m.genid, syncid=0,
                          mflags=sorted(m.mflags), dflags=dflags)
        if not geom.write_md(host, prov, md):
            ctx.wait(geom.stall_seconds(host, prov) or INF)
            first_error = first_error or f"Cannot store metadata on {prov}."
            continue
        m.ndisks += 1
        inserted.append((prov, md))
    for prov, md in inserted:
        md["all"] = m.ndisks
        geom.write_md(host, prov, md)
    if inserted:
        geom.update_all_md(host, m)
        for prov, _ in inserted:
            geom.released(host, prov, True)    # "wait for retaste"
    if first_error:
        raise GctlError(first_error)


def _leaving(m, names, verb: str):
    """The components `names` that may leave the mirror, in order, and the
    first refusal (g_mirror_ctl.c reports the first error and goes on): an
    unknown provider, or the last ACTIVE component."""
    active = len(m.active())
    leaving, first_error = [], None
    for name in names:
        comp = m.component(geom.strip_dev(name))
        if comp is None:
            first_error = first_error or f"No such provider: {name}."
            continue
        if comp.state == "ACTIVE":
            if active <= 1:
                first_error = first_error or f"{m.name}: Can't {verb} the last ACTIVE component {name}."
                continue
            active -= 1
        leaving.append(comp)
    return leaving, first_error


def do_remove(ctx, flags, args):
    if len(args) < 2:
        raise GctlError("Too few arguments.")
    host = ctx.host
    m = _device(ctx, args[0])
    if len(m.components) < m.ndisks:
        raise GctlError("Not all disks connected. Try 'forget' command first.")
    leaving, first_error = _leaving(m, args[1:], "remove")
    for comp in leaving:
        geom.write_md(host, comp.prov, None)
        m.components.remove(comp)
        m.ndisks -= 1
        host.log("kernel", f"GEOM_MIRROR: Device {m.name}: provider {comp.prov} destroyed.")
        geom.update_all_md(host, m)
        geom.released(host, comp.prov, True)
    if first_error:
        raise GctlError(first_error)


def do_forget(ctx, flags, args):
    if not args:
        raise GctlError("Missing device(s).")
    for name in args:
        m = _device(ctx, name)
        if len(m.components) == m.ndisks:
            continue        # "All disks connected in %s, skipping." (debug 1)
        m.ndisks = len(m.components)
        geom.update_all_md(ctx.host, m)


def do_configure(ctx, flags, args):
    host = ctx.host
    if len(args) not in (1, 2):
        raise GctlError("Invalid number of arguments.")
    priority = int(flags.get("-p", -1))
    if priority < -1 or priority > 255:
        raise GctlError(f"Priority range is 0 to 255, {priority} given")
    if priority > -1 and len(args) < 2:
        raise GctlError("Priority needs a disk name")
    for a, b, na, nb in (("-a", "-n", "autosync", "noautosync"), ("-f", "-F", "failsync", "nofailsync"),
                         ("-h", "-d", "hardcode", "dynamic")):
        if a in flags and b in flags:
            raise GctlError(f"'{na}' and '{nb}' specified.")
    m = _device(ctx, args[0])
    balance = flags.get("-b", "")
    if balance and balance not in BALANCES:
        raise GctlError("Invalid balance algorithm.")
    balance = balance or m.balance
    slice_ = int(flags["-s"]) if "-s" in flags else m.slice
    other = {"-a", "-n", "-f", "-F", "-h", "-d", "-s", "-b"} & set(flags)
    if priority > -1 and other:
        raise GctlError("only -p accepted when setting priority")
    if (balance == m.balance and slice_ == m.slice and priority == -1
            and not ({"-a", "-n", "-f", "-F", "-h", "-d"} & set(flags))):
        raise GctlError("Nothing has changed.")
    if (priority == -1 and len(args) != 1) or (priority > -1 and len(args) != 2):
        raise GctlError("Invalid number of arguments.")
    if len(m.components) < m.ndisks:
        raise GctlError("Not all disks connected. Try 'forget' command first.")
    m.balance, m.slice = balance, slice_
    if "-n" in flags:
        m.mflags.add("NOAUTOSYNC")
    if "-a" in flags:
        m.mflags.discard("NOAUTOSYNC")
    if "-F" in flags:
        m.mflags.add("NOFAILSYNC")
    if "-f" in flags:
        m.mflags.discard("NOFAILSYNC")
    for comp in m.components:
        if priority > -1:
            if comp.prov == args[1]:
                if comp.priority == priority:
                    raise GctlError("Nothing has changed.")
                comp.priority = priority
                geom.update_md(host, m, comp)
            continue
        if "-h" in flags:
            comp.flags.add("HARDCODED")
            comp.hardcoded = comp.prov
        elif "-d" in flags:
            comp.flags.discard("HARDCODED")
            comp.hardcoded = ""
        geom.update_md(host, m, comp)


def do_deactivate(ctx, flags, args):
    if len(args) < 2:
        raise GctlError("Too few arguments.")
    m = _device(ctx, args[0])
    leaving, first_error = _leaving(m, args[1:], "deactivate")
    for comp in leaving:
        comp.flags.add("INACTIVE")
        comp.flags.discard("FORCE_SYNC")
        geom.update_md(ctx.host, m, comp)
        geom.disconnect(ctx.host, m, comp, broken=False)
    if first_error:
        raise GctlError(first_error)


def do_rebuild(ctx, flags, args):
    if len(args) < 2:
        raise GctlError("Too few arguments.")
    host = ctx.host
    m = _device(ctx, args[0])
    first_error = None
    for name in args[1:]:
        comp = m.component(geom.strip_dev(name))
        if comp is None:
            first_error = first_error or f"No such provider: {name}."
            continue
        if len(m.active()) == 1 and comp.state == "ACTIVE":
            first_error = first_error or f"Provider {name} is the last active provider in {m.name}."
            break
        comp.syncid = 0
        if "NOAUTOSYNC" in m.mflags:
            comp.flags.add("FORCE_SYNC")
        geom.write_md(host, comp.prov, geom.fill_md(m, comp, host))
        m.components.remove(comp)
        host.log("kernel", f"GEOM_MIRROR: Device {m.name}: provider {comp.prov} disconnected.")
        md = geom.read_md(host, comp.prov)
        if md is None or not geom.add_disk(host, m, comp.prov, md):
            first_error = first_error or f"Cannot reconnect component {comp.prov}."
    if first_error:
        raise GctlError(first_error)


def _stop(ctx, flags, args, wipe: bool):
    if not args:
        raise GctlError("Missing device(s).")
    host = ctx.host
    for name in args:
        m = _device(ctx, name)
        r, w, e = geom.access(host, m.provider) if m.launched else (0, 0, 0)
        if (r or w or e) and "-f" not in flags:
            raise GctlError(f"Cannot destroy device {m.name} (error=16).")
        # g_mirror_destroy_device() (g_mirror_ctl.c @e4452d45, 14.x;
        # reference 4.4): every connected component's metadata is rewritten
        # with DIRTY cleared (zeroed by destroy), a remote half's too: that
        # write waits for a dead ggate peer like any other (for ever with -t 0).
        for comp in list(m.components):
            dev = gatedev.dev_by_name(host, comp.prov)
            if dev is not None and not gatedev.working(host, dev):
                ctx.wait(geom.stall_seconds(host, comp.prov) or INF)
        for comp in m.components:
            comp.flags.discard("DIRTY")
            if wipe:
                geom.write_md(host, comp.prov, None)
            else:
                geom.update_md(host, m, comp)
        geom.destroy_mirror(host, m)
        host.log("kernel", f"GEOM_MIRROR: Device {m.name} destroyed.")   # [unverified] text


def do_stop(ctx, flags, args):
    _stop(ctx, flags, args, wipe=False)


def do_destroy(ctx, flags, args):
    _stop(ctx, flags, args, wipe=True)


HANDLERS = {
    "help": do_help, "status": do_status, "list": do_list, "load": do_load,
    "unload": do_unload, "label": do_label, "clear": do_clear, "dump": do_dump,
    "activate": do_activate, "insert": do_insert, "remove": do_remove,
    "forget": do_forget, "configure": do_configure, "deactivate": do_deactivate,
    "rebuild": do_rebuild, "stop": do_stop, "destroy": do_destroy,
}
KERNEL_VERBS = {"insert", "remove", "forget", "configure", "deactivate", "rebuild",
                "stop", "destroy", "create", "resize"}
