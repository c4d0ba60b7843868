"""jail(8), jls(8) and service(8) with rc.d/jail and generic rc.d scripts.

jail(8) (usr.sbin/jail/jail.c, command.c): for `ip4.addr = "if|addr"` it
runs `/sbin/ifconfig if inet addr alias` before creating the jail and
`... -alias` after removing it (and undoes the alias when creation fails);
a missing path fails with "jail: web: path /x: No such file or directory".
rc.d/jail (libexec/rc/rc.d/jail) runs `jail -i -f conf -c NAME`, prints
"Starting jails: web." or " cannot start jail  "web": " plus jail's output,
and returns 0 either way. rc.subr: "Cannot 'start' jail. Set jail_enable
to YES in /etc/rc.conf or use 'onestart' instead of 'start'." (exit 0),
"NAME is not running." (status, exit 1).
"""

from __future__ import annotations

import getopt
import json

from .. import geom, ufs
from ..executor import Context, Exit, command
from .network import ifconfig

JAIL_USAGE = (
    "usage: jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n"
    "            -[cmr] param=value ... [command=command ...]\n"
    "       jail [-dqv] [-f file] -[cmr] [jail]\n"
    "       jail [-qv] [-f file] -[rR] ['*' | jail ...]\n"
    "       jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n"
    "            [-n jailname] [-s securelevel]\n"
    "            path hostname [ip[,...]] command ...")

EXEC_START_SECONDS = 1.0     # /bin/sh /etc/rc inside the jail
EXEC_STOP_SECONDS = 1.0      # /bin/sh /etc/rc.shutdown jail
# usr.sbin/jail/command.c DEFAULT_STOP_TIMEOUT (2017-2023 SPDX revision;
# reference 7.2): how long term_procs() waits after its SIGTERM.
DEFAULT_STOP_TIMEOUT = 10.0
TERM_POLL = 0.5


# The processes of a jail are not modelled one by one: a running jail has
# its daemons (exec.start ran /etc/rc), which exit on SIGTERM unless the jail
# is marked `stubborn` (a process that ignores SIGTERM); those asleep on a
# hung write (the cluster's pending writes from this jail) act on no signal
# until the request completes. SIGKILL (`killed`) ends all but the sleepers,
# which die when their request completes, never returning to user space.

def blocked_writers(host, name: str) -> int:
    jail = host.jails.get(name)
    if jail is None:
        return 0
    return sum(1 for w in host.cluster.pending_writes.values()
               if w["host"] == host.name and w["jail"] == name and w["jid"] == jail["jid"])


def jail_processes(host, name: str) -> bool:
    """Whether the jail still has any process (asleep ones included)."""
    jail = host.jails.get(name)
    return jail is not None and (not jail.get("killed") or blocked_writers(host, name) > 0)


def signal_jail(host, name: str, sig: int) -> None:
    jail = host.jails.get(name)
    if jail is None:
        return
    if sig == 9:
        jail["killed"] = True
    elif sig == 15 and not jail.get("stubborn"):
        jail["termed"] = True


def _term_procs(ctx, name: str) -> None:
    """command.c term_procs() (2017-2023 SPDX revision; reference 7.2): SIGTERM
    to every process of the jail, then wait until they are gone or
    stop.timeout (10 s; not settable with -R) passes. A sleeper on a hung
    write or a process ignoring SIGTERM keeps it waiting the whole time; if
    jail(8) is killed meanwhile (ctx.wait raises Hang), the jail survives."""
    host = ctx.host
    signal_jail(host, name, 15)
    waited = 0.0
    while waited < DEFAULT_STOP_TIMEOUT:
        jail = host.jails.get(name)
        if jail is None:
            return
        stubborn = jail.get("stubborn") and not jail.get("killed")
        if not stubborn and blocked_writers(host, name) == 0:
            return
        ctx.wait(TERM_POLL)
        waited += TERM_POLL


def _ifconfig_argv(spec: str, down: bool):
    """command.c IP__IP4_IFADDR: argv for "iface|addr[/mask] [extra...]"."""
    words = spec.split()
    iface, _, addr = words[0].partition("|")
    argv = ["/sbin/ifconfig", iface, "inet"]
    if "/" not in addr:
        argv += [addr, "netmask", "255.255.255.255"]
    else:
        ip, mask = addr.split("/", 1)
        argv += [ip, "netmask", mask] if "." in mask else [addr]
    if not down:
        argv += words[1:]
    return argv + ["-alias" if down else "alias"]


def _run_ifconfig(ctx, argv) -> int:
    sub = Context(ctx.host, argv, ctx.timeout, ctx.env)
    try:
        rc = ifconfig(sub) or 0
    except Exit as stop:
        rc = stop.code
    ctx._out.extend(sub._out)
    ctx._err.extend(sub._err)
    return rc


def _fs_wait(ctx, path: str) -> None:
    """exec.start/exec.stop write to the jail's filesystem (logs, pid files):
    with a dead -t 0 ggate peer they hang like any writer."""
    mnt = ufs.covering_mount(ctx.host, path)
    if mnt is None or mnt.get("prov") is None or mnt.get("orphaned"):
        return
    try:
        waiting = geom.write(ctx.host, mnt["prov"], {"op": "fs", "set": {}})
    except OSError:
        return
    if waiting:
        ctx.wait(geom.stall_seconds(ctx.host, mnt["prov"]))


def jail_create(ctx, name: str, iflag: bool, quiet: bool) -> int:
    host = ctx.host
    conf = host.jail_conf.get(name)
    if conf is None:
        ctx.warnx(f'"{name}" not found')         # [unverified] for an unknown name
        return 1
    if name in host.jails:
        ctx.warnx(f'"{name}" already exists')
        return 1
    done = []
    for spec in conf["ip4"]:
        if "|" not in spec:
            continue
        argv = _ifconfig_argv(spec, False)
        if _run_ifconfig(ctx, argv) != 0:
            ctx.warnx(f"{name}: {' '.join(argv)}: failed")
            _undo(ctx, done)
            return 1
        done.append(spec)
    if not ufs.path_exists(host, conf["path"]):
        ctx.warnx(f"{name}: path {conf['path']}: No such file or directory")
        _undo(ctx, done)
        return 1
    jid = host.next_jid
    host.next_jid += 1
    ips = [spec.split()[0].split("|")[-1].split("/")[0] for spec in conf["ip4"]]
    # The jail's root vnode pins the filesystem it was created on.
    mnt = ufs.covering_mount(host, conf["path"])
    host.jails[name] = {"jid": jid, "path": conf["path"], "hostname": conf["hostname"],
                        "ip4": ips, "ifaddrs": done, "mount": mnt.get("id") if mnt else None}
    if iflag:
        ctx.out(str(jid))
    elif not quiet:
        ctx.out(f"{name}: created")
    ctx.wait(EXEC_START_SECONDS)
    _fs_wait(ctx, conf["path"])
    return 0


def _undo(ctx, specs) -> None:
    for spec in reversed(specs):
        _run_ifconfig(ctx, _ifconfig_argv(spec, True))


def jail_remove(ctx, name: str, quiet: bool, note: bool, use_conf: bool = True) -> int:
    """-r (use_conf): exec.stop (which writes to the jail's filesystem and
    so hangs on a hung mirror), then the kill, then the ip4.addr aliases
    jail(8) added. -R: only the kill; "No removal-related parameters for
    this jail will be used" (jail.8), so the aliases stay."""
    host = ctx.host
    jail = host.jails.get(name)
    if jail is None:
        if not quiet:
            ctx.warnx(f'"{name}" not found')
        return 1
    if use_conf:
        ctx.wait(EXEC_STOP_SECONDS)
        _fs_wait(ctx, jail["path"])
    _term_procs(ctx, name)
    # IP__OP: jail_remove(2) kills what is left; the jail leaves jls at once
    # (a dying jail shows only with -d) [unverified: kern_jail.c not read].
    jail["killed"] = True
    host.jails.pop(name, None)
    if note and not quiet:
        ctx.out(f"{name}: removed")
    if use_conf:
        _undo(ctx, jail["ifaddrs"])
    return 0


@command("jail")
def jail(ctx):
    try:
        opts, args = getopt.getopt(ctx.args, "cdf:hiJ:lmn:p:qrRs:u:U:v")
    except getopt.GetoptError:
        ctx.usage(JAIL_USAGE)
    flags = {}
    for flag, value in opts:
        flags[flag] = value
    for flag in flags:
        if flag not in ("-c", "-r", "-R", "-f", "-i", "-q", "-v"):
            ctx.unsupported(f"option {flag}")
    create, remove = "-c" in flags, "-r" in flags or "-R" in flags
    if "-R" in flags and ("-r" in flags or "-c" in flags):
        ctx.unsupported("jail -R with -c or -r")
    if not create and not remove:
        ctx.usage(JAIL_USAGE)
    if create and remove:
        ctx.unsupported("jail -rc (restart)")
    if not args or any("=" in a for a in args):
        if args:
            ctx.unsupported("jail parameters on the command line")
        ctx.usage(JAIL_USAGE)
    conf = flags.get("-f", ctx.host.jail_conf_path)
    if conf != ctx.host.jail_conf_path:
        ctx.fail(f"{conf}: No such file or directory")       # [unverified] text
    quiet = "-q" in flags or "-i" in flags
    if create:
        if len(args) != 1:
            ctx.usage(JAIL_USAGE)
        return jail_create(ctx, args[0], "-i" in flags, quiet)
    rc = 0
    for name in args:
        if name == "*":
            ctx.unsupported("jail -r '*'")
        rc |= jail_remove(ctx, name, "-q" in flags, note=True, use_conf="-R" not in flags)
    return rc


# ---------------------------------------------------------------------------
# jls (usr.sbin/jls/jls.c, libxo revision)

def _first_ip(jail) -> str:
    return jail["ip4"][0] if jail["ip4"] else ""


PARAMS = {"jid": lambda j, n: str(j["jid"]), "name": lambda j, n: n,
          "path": lambda j, n: j["path"], "host.hostname": lambda j, n: j["hostname"],
          "ip4.addr": lambda j, n: ",".join(j["ip4"]), "dying": lambda j, n: "false"}


@command("jls")
def jls(ctx):
    args = list(ctx.args)
    style = None
    for i, arg in enumerate(list(args)):
        if arg.startswith("--libxo"):
            value = arg.partition("=")[2]
            if not value and i + 1 < len(args):
                value = args[i + 1]
                args.pop(i + 1)
            args.remove(arg)
            style = value
            break
    if style not in (None, "json"):
        ctx.unsupported(f"--libxo {style}")
    try:
        opts, params = getopt.getopt(args, "adj:hNnqsv")
    except getopt.GetoptError:
        ctx.fail("usage: jls [-dhNnqv] [-j jail] [param ...]")
    flags = dict(opts)
    for flag in flags:
        if flag not in ("-j", "-N", "-d", "-a"):
            ctx.unsupported(f"option {flag}")
    host = ctx.host
    jails = sorted(host.jails.items(), key=lambda kv: kv[1]["jid"])
    if "-j" in flags:
        key = flags["-j"]
        wanted = [(n, j) for n, j in jails if n == key or str(j["jid"]) == key]
        if not wanted:
            ctx.fail(f'jail "{key}" not found')
        jails = wanted
    for p in params:
        if p not in PARAMS:
            ctx.unsupported(f"parameter {p}")
    if style == "json":
        return _jls_json(ctx, jails, params)
    if params:
        for name, j in jails:
            ctx.out(" ".join(PARAMS[p](j, name) for p in params))
        return 0
    if "-N" in flags:
        ctx.out(f" {'JID':<15} {'IP Address':<15} {'Hostname':<29} Path")
    else:
        ctx.out(f"{'JID':>6}  IP Address{'':6}Hostname{'':22}Path")
    for name, j in jails:
        first = f" {name:<15} " if "-N" in flags else f"{j['jid']:6d}  "
        ctx.out(f"{first}{_first_ip(j):<15.15} {j['hostname']:<29.29} {j['path'][:74]}")
    return 0


def _jls_json(ctx, jails, params) -> int:
    rows = []
    for name, j in jails:
        if params:
            # "{:%s/%s}" with string values [unverified] for non-default params
            rows.append(",".join(f'"{p}":{json.dumps(PARAMS[p](j, name))}' for p in params))
        else:
            rows.append(f'"jid":{j["jid"]},"ipv4":{json.dumps(_first_ip(j))},'
                        f'"hostname":{json.dumps(j["hostname"])},"path":{json.dumps(j["path"])}')
    body = ", ".join("{" + r + "}" for r in rows)     # no jail: "[]" [unverified]
    ctx.out('{"__version": "2", "jail-information": {"jail": [' + body + ']}}')
    return 0


# ---------------------------------------------------------------------------
# service(8)

def _enabled(host, var: str) -> bool:
    return host.rc_conf.get(var, "NO").upper() in ("YES", "TRUE", "ON", "1")


def _cannot(ctx, verb: str, name: str, rcvar: str) -> int:
    ctx.out(f"Cannot '{verb}' {name}. Set {rcvar} to YES in /etc/rc.conf or use "
            f"'one{verb}' instead of '{verb}'.")
    return 0


def jail_start(ctx, names) -> int:
    host = ctx.host
    if not names:
        ctx.unsupported("starting every jail of jail.conf")
    ctx.out("Starting jails:", end="")
    for name in names:
        sub = Context(host, ["jail", "-i", "-f", host.jail_conf_path, "-c", name],
                      ctx.timeout - (host.cluster.clock.t - ctx.started), ctx.env)
        try:
            rc = jail_create(sub, name, True, True)
        except Exit as stop:
            rc = stop.code
        if rc == 0:
            ctx.out(f" {name}", end="")
            host.files[f"/var/run/jail_{name}.id"] = f"{host.jails[name]['jid']}\n"
        else:
            # echo " cannot start jail " "\"NAME\": " (two words: two spaces)
            ctx.out(f' cannot start jail  "{name}": ')
            ctx.out(sub.stdout + sub.stderr, end="")
    ctx.out(".")
    return 0


def jail_stop(ctx, names) -> int:
    host = ctx.host
    if not names:
        ctx.unsupported("stopping every running jail")
    ctx.out("Stopping jails:", end="")
    for name in names:
        if name not in host.jails:
            continue
        ctx.out(f" {name}", end="")
        sub = Context(host, ["jail", "-q", "-f", host.jail_conf_path, "-r", name],
                      ctx.timeout - (host.cluster.clock.t - ctx.started), ctx.env)
        try:
            jail_remove(sub, name, True, note=True)
        except Exit:
            pass
        if name in host.jails:
            ctx.out(sub.stdout + sub.stderr, end="")
        else:
            host.files.pop(f"/var/run/jail_{name}.id", None)
    ctx.out(".")
    return 0


def service_jail(ctx, verb: str, names) -> int:
    host = ctx.host
    one = verb.startswith("one")
    base = verb[3:] if one else verb
    # rc.subr: the rcvar check applies to start, and to stop without a pid
    # (rc.d/jail has no pidfile, so always); never to status.
    if not one and base in ("start", "stop") and not _enabled(host, "jail_enable"):
        return _cannot(ctx, base, "jail", "jail_enable")
    if base == "start":
        return jail_start(ctx, names or host.rc_conf.get("jail_list", "").split())
    if base == "stop":
        return jail_stop(ctx, names or host.rc_conf.get("jail_list", "").split())
    if base == "status":
        sub = Context(host, ["jls", "-N"], ctx.timeout, ctx.env)
        jls(sub)
        ctx.out(sub.stdout, end="")
        return 0
    ctx.unsupported(f"service jail {verb}")


def service_generic(ctx, name: str, verb: str) -> int:
    host = ctx.host
    svc = host.services[name]
    pid = svc["pid"] if host.alive(svc["pid"]) else None
    one = verb.startswith("one")
    base = verb[3:] if one else verb
    rcvar = f"{name}_enable"
    if base not in ("start", "stop", "status", "restart"):
        ctx.unsupported(f"service {name} {verb}")
    if not one and base != "status" and not _enabled(host, rcvar):
        if base != "stop" or pid is None:
            return _cannot(ctx, base, name, rcvar)
    if base == "status":
        if pid is not None:
            ctx.out(f"{name} is running as pid {pid}.")
            return 0
        ctx.out(f"{name} is not running.")
        return 1
    if base in ("stop", "restart"):
        if pid is None and base == "stop":
            ctx.err(f"{name} not running? (check /var/run/{name}.pid).")
            return 1
        if pid is not None:
            ctx.out(f"Stopping {name}.")
            del host.processes[pid]
            svc["pid"] = None
            ctx.out(f"Waiting for PIDS: {pid}.")     # wait_for_pids [unverified]
        if base == "stop":
            return 0
        pid = None
    if pid is not None:
        ctx.err(f"{name} already running?  (pid={pid}).")
        return 1
    ctx.out(f"Starting {name}.")
    svc["pid"] = host.spawn(name, kind="service", argv=[f"/usr/local/sbin/{name}"])
    host.files[f"/var/run/{name}.pid"] = f"{svc['pid']}\n"
    return 0


@command("service")
def service(ctx):
    args = list(ctx.args)
    if args and args[0].startswith("-"):
        ctx.unsupported(f"service {args[0]}")
    if len(args) < 2:
        ctx.usage("usage: service [-j <jail name or id>] -e\n"
                  "       service [-j <jail name or id>] -R\n"
                  "       service [-j <jail name or id>] [-v] -l | -r\n"
                  "       service [-j <jail name or id>] [-v] [-E var=value] <rc.d script> start|stop|etc.\n"
                  "       service -h", 1)                  # [unverified] text
    name, verb, rest = args[0], args[1], args[2:]
    if name == "jail":
        return service_jail(ctx, verb, rest)
    if name not in ctx.host.services:
        ctx.err(f"{name} does not exist in /etc/rc.d or the local startup")
        ctx.err("directories (/usr/local/etc/rc.d), or is not executable")   # [unverified]
        return 1
    if rest:
        ctx.unsupported("extra arguments to an rc.d script")
    return service_generic(ctx, name, verb)

