"""ggatec(8) and ggated(8) (sbin/ggate/ggatec/ggatec.c, ggated/ggated.c,
shared/ggate.c). Without -v their diagnostics go to syslog only; `destroy`
forces verbose mode, so its errors print "error: ..." on stdout."""

from __future__ import annotations

import getopt

from .. import geom, ggate
from ..executor import Exit, command
from ..storage import GgateDev

GGATEC_USAGE = (
    "usage: ggatec create [-nv] [-o <ro|wo|rw>] [-p port] [-q queue_size] [-R rcvbuf] "
    "[-S sndbuf] [-s sectorsize] [-t timeout] [-u unit] <host> <path>\n"
    "       ggatec rescue [-nv] [-o <ro|wo|rw>] [-p port] [-R rcvbuf] [-S sndbuf] "
    "<-u unit> <host> <path>\n"
    "       ggatec destroy [-f] <-u unit>\n"
    "       ggatec list [-v] [-u unit]")
GGATED_USAGE = ("usage: ggated [-nv] [-a address] [-F pidfile] [-p port] [-R rcvbuf] "
                "[-S sndbuf] [exports file]")

# Which actions accept which option (ggatec.c main()).
ALLOWED = {"f": {"destroy"}, "n": {"create", "rescue"}, "o": {"create", "rescue"},
           "p": {"create", "rescue"}, "q": {"create"}, "R": {"create", "rescue"},
           "S": {"create", "rescue"}, "s": {"create"}, "t": {"create"},
           "u": {"create", "rescue", "destroy", "list"}, "v": {"create", "rescue", "list"}}


def _xlog(ctx, verbose: bool, message: str):
    """g_gate_xlog(): "error: <msg>" + "error: Exiting." on stdout with -v,
    syslog otherwise; exit 1."""
    if verbose:
        ctx.out(f"error: {message}")
        ctx.out("error: Exiting.")
    else:
        ctx.host.log("ggatec", message, "daemon.err")
        ctx.host.log("ggatec", "Exiting.", "daemon.err")
    raise Exit(1)


def _number(ctx, text: str, what: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        ctx.fail(f"Invalid {what}.")


@command("ggatec")
def ggatec(ctx):
    if not ctx.args:
        ctx.usage(GGATEC_USAGE)
    action = ctx.args[0].lower()
    if action not in ("create", "destroy", "list", "rescue"):
        ctx.usage(GGATEC_USAGE)
    try:
        opts, args = getopt.getopt(ctx.args[1:], "fno:p:q:R:S:s:t:u:v")
    except getopt.GetoptError:
        ctx.usage(GGATEC_USAGE)
    flags = {}
    for flag, value in opts:
        if action not in ALLOWED[flag[1]]:
            ctx.usage(GGATEC_USAGE)
        flags[flag] = value
    mode = "rw"
    if "-o" in flags:
        mode = flags["-o"].lower()
        if mode not in ("ro", "wo", "rw"):
            ctx.fail("Invalid argument for '-o' option.")
    port = _number(ctx, flags["-p"], "port") if "-p" in flags else ggate.G_GATE_PORT
    timeout = _number(ctx, flags["-t"], "timeout") if "-t" in flags else 0
    unit = _number(ctx, flags["-u"], "unit number") if "-u" in flags else -1
    for opt in ("-q", "-R", "-S", "-s", "-n"):
        if opt in flags:
            ctx.unsupported(f"option {opt}")
    verbose = "-v" in flags
    if action == "create":
        if verbose:
            ctx.unsupported("ggatec create -v (stays in the foreground)")
        if len(args) != 2:
            ctx.usage(GGATEC_USAGE)
        return create(ctx, args[0], args[1], port, timeout, unit, mode)
    if action == "rescue":
        if len(args) != 2:
            ctx.usage(GGATEC_USAGE)
        if unit == -1:
            ctx.err("Required unit number.")
            ctx.usage(GGATEC_USAGE)
        return rescue(ctx, args[0], args[1], port, unit, mode, verbose)
    if action == "destroy":
        if unit == -1:
            ctx.err("Required unit number.")
            ctx.usage(GGATEC_USAGE)
        return destroy(ctx, unit, "-f" in flags)
    if args:
        ctx.usage(GGATEC_USAGE)
    return list_units(ctx, unit, verbose)


def create(ctx, target, path, port, timeout, unit, mode):
    host = ctx.host
    if "geom_gate" not in host.modules:
        host.kldload("geom_gate")     # g_gate_load_module()
    dev = GgateDev(unit, target, port, path, timeout, mode, None)
    error = ggate.connect(host, dev, target)
    if error is not None:
        why, seconds = error
        ctx.wait(seconds)
        _xlog(ctx, False, f"Cannot connect: {why}.")
    if unit >= 0 and unit in host.ggate:
        # G_GATE_CMD_CREATE fails; the connection is closed on exit.
        _drop_connection(host, dev)
        _xlog(ctx, False, "ggatec: ioctl(/dev/ggctl): File exists.")
    if unit < 0:
        unit = 0
        while unit in host.ggate:
            unit += 1
        ctx.out(f"ggate{unit}")
    dev.unit = unit
    dev.created = host.now()          # g_gate_create() arms the guard from here
    server = host.cluster.hosts[dev.remote]
    server.processes[dev.conn]["unit"] = unit
    dev.pid = host.spawn("ggatec", kind="ggatec", unit=unit,
                         argv=["ggatec", "create", "-u", str(unit), target, path])
    host.ggate[unit] = dev
    host.provider_events(dev.name, "CREATE")
    geom.taste(host, dev.name)
    return 0


def _drop_connection(host, dev) -> None:
    server = host.cluster.hosts.get(dev.remote)
    if server is not None and dev.conn in server.processes:
        held = server.processes.pop(dev.conn)["holds"]
        geom.released(server, held, dev.flags != "ro")


def rescue(ctx, target, path, port, unit, mode, verbose):
    host = ctx.host
    dev = host.ggate.get(unit)
    if dev is None:
        _xlog(ctx, verbose, "ggatec: ioctl(/dev/ggctl): Device not configured.")
    old = host.processes.get(dev.pid)
    if old is not None:
        del host.processes[dev.pid]
    dev.info_host, dev.path, dev.port, dev.flags = target, path, port, mode
    dev.pid = None
    error = ggate.connect(host, dev, target)
    if error is not None:
        why, seconds = error
        ctx.wait(seconds)
        _xlog(ctx, verbose, f"Cannot connect: {why}.")
    dev.pid = host.spawn("ggatec", kind="ggatec", unit=unit,
                         argv=["ggatec", "rescue", "-u", str(unit), target, path])
    ggate.deliver(host, dev)   # G_GATE_CMD_CANCEL requeues, requests resent
    return 0


def destroy(ctx, unit, force):
    host = ctx.host
    dev = host.ggate.get(unit) if "geom_gate" in host.modules else None
    if dev is None:
        _xlog(ctx, True, "ggatec: ioctl(/dev/ggctl): Device not configured.")
    r, w, e = geom.access(host, dev.name)
    if (r or w or e) and not force:
        _xlog(ctx, True, "ggatec: ioctl(/dev/ggctl): Device busy.")
    ggate.destroy(host, dev)
    host.cluster.refresh()
    return 0


def list_units(ctx, unit, verbose):
    host = ctx.host
    if "geom_gate" not in host.modules:
        return 0
    for n in sorted(host.ggate):
        if unit >= 0 and n != unit:
            continue
        dev = host.ggate[n]
        if not verbose:
            ctx.out(dev.name)
            continue
        r, w, e = geom.access(host, dev.name)
        from ..storage import humanize
        ctx.out(f"       NAME: {dev.name}")
        ctx.out(f"       info: {dev.info_host}:{dev.port} {dev.path}")
        ctx.out("     access: " + {"rw": "read-write", "ro": "read-only", "wo": "write-only"}[dev.flags])
        ctx.out(f"    timeout: {dev.timeout}")
        ctx.out(f"queue_count: {len(dev.pending)}")
        ctx.out(f" queue_size: {dev.queue_size}")
        ctx.out(" references: 1")                       # [unverified] value
        ctx.out(f"  mediasize: {dev.mediasize} ({humanize(dev.mediasize)})")
        ctx.out(f" sectorsize: {dev.sectorsize}")
        ctx.out(f"       mode: r{r}w{w}e{e}")
        ctx.out("")
    return 0


@command("ggated")
def ggated(ctx):
    host = ctx.host
    try:
        opts, args = getopt.getopt(ctx.args, "a:hnp:F:R:S:v")
    except getopt.GetoptError:
        ctx.usage(GGATED_USAGE)
    flags = dict(opts)
    if "-h" in flags:
        ctx.usage(GGATED_USAGE)
    if "-v" in flags:
        ctx.unsupported("ggated -v (stays in the foreground)")
    for opt in ("-n", "-R", "-S"):
        if opt in flags:
            ctx.unsupported(f"option {opt}")
    port = ggate.G_GATE_PORT
    if "-p" in flags:
        try:
            port = int(flags["-p"])
        except ValueError:
            ctx.fail("Invalid port.")
    if "-a" in flags:
        ctx.unsupported("binding to one address (-a)")
    pidfile = flags.get("-F", "/var/run/ggated.pid")
    exports = args[0] if args else ggate.EXPORTS
    text = host.read_file(exports)
    if text is None:
        _log_exit(host, f"Cannot open exports file ({exports}): No such file or directory.")
    entries, error = ggate.parse_exports(text)
    if error:
        _log_exit(host, error)
    # pidfile_open(): another live ggated holding this pidfile refuses.
    holder = _pidfile_holder(host, pidfile)
    if holder is not None:
        ctx.fail(f"Daemon already running, pid: {holder}.")
    pid = host.spawn("ggated", kind="ggated", port=port, exports=entries, pidfile=pidfile,
                     argv=["ggated"] + list(ctx.args))
    host.files[pidfile] = f"{pid}\n"
    lpid, _ = ggate.listener(host, port)
    if lpid != pid:
        # The daemonized child cannot bind: its parent already exited 0.
        del host.processes[pid]
        host.log("ggated", "bind(): Address already in use.", "daemon.err")
        host.log("ggated", "Exiting.", "daemon.err")
        return 0
    host.log("ggated", f"Listen on port: {port}.", "daemon.info")
    host.cluster.refresh()
    return 0


def _pidfile_holder(host, pidfile: str):
    for pid, proc in host.processes.items():
        if proc.get("kind") == "ggated" and proc.get("pidfile") == pidfile:
            return pid
    return None


def _log_exit(host, message: str):
    host.log("ggated", message, "daemon.err")
    host.log("ggated", "Exiting.", "daemon.err")
    raise Exit(1)
