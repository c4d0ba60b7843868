"""sysctl(8), kldload(8), kldstat(8), logger(1), kill(1), pgrep/pkill(1),
daemon(8)."""

from __future__ import annotations

import getopt
import os
import re
import subprocess

from .. import geom
from ..executor import COMMANDS, Exit, Hang, command
from ..kernel import CARP_SYSCTLS, KLD_MODULES, MIRROR_SYSCTLS

# sbin/sysctl/sysctl.c usage() of the revision read (13.x adds -B/-f/-T/-t/-W).
SYSCTL_USAGE = ("usage: sysctl [-bdehiNnoqx] name[=value] ...\n"
                "       sysctl [-bdehNnoqx] -a")
NODES = {"net.inet.carp": list(CARP_SYSCTLS), "kern.geom.mirror": list(MIRROR_SYSCTLS)}
# Opaque OIDs and their format strings: kern.boot_id is CTLTYPE_STRUCT
# (== CTLTYPE_OPAQUE, sys/sys/sysctl.h) with format "" (kern_mib.c).
OPAQUE = {"kern.boot_id": ""}


@command("kenv")
def kenv(ctx):
    """bin/kenv/kenv.c (@035f94f6) `kenv name=value`: ksetenv() prints
    name="value"; a failed kenv(2) warns "unable to set NAME to VALUE" and
    main() returns -1 (exit 255). Only setting is simulated."""
    if len(ctx.args) != 1 or "=" not in ctx.args[0] or ctx.args[0].startswith("-"):
        ctx.unsupported("kenv other than NAME=VALUE")
    name, _, value = ctx.args[0].partition("=")
    ctx.host.kenv[name] = value
    ctx.out(f'{name}="{value}"')
    return 0


@command("sysctl")
def sysctl(ctx):
    try:
        opts, args = getopt.getopt(ctx.args, "AabdehiNnoqwxX")
    except getopt.GetoptError:
        ctx.usage(SYSCTL_USAGE)
    flags = {f for f, _ in opts}
    for flag in flags - {"-n", "-q", "-i", "-e", "-N", "-x"}:
        ctx.unsupported(f"option {flag}")
    if not args:
        ctx.usage(SYSCTL_USAGE)
    host = ctx.host
    sep = "=" if "-e" in flags else ": "
    rc = 0

    def show(name):
        if "-N" in flags:
            return name
        if name in OPAQUE:
            return show_opaque(name)
        if "-x" in flags:
            ctx.unsupported(f"-x on {name}")
        value = str(host.sysctl[name])
        return value if "-n" in flags else f"{name}{sep}{value}"

    def show_opaque(name):
        # sysctl.c show_var() (13.x-era revision: SPDX BSD-3-Clause with
        # $FreeBSD$, -B/-f/-T/-t/-W): an opaque OID with no printer is not
        # even fetched without -b/-o/-x, and a failed fetch (kern.boot_id's
        # ENXIO) prints nothing; both return 1, so parse() prints no newline
        # and the exit status stays 0. With -x: "Format:%s Length:%zu
        # Dump:0x" and every byte as %02x. 14.x not read [unverified].
        value = host.sysctl[name]
        if "-x" not in flags or value is None:
            return None
        dump = f"Format:{OPAQUE[name]} Length:{len(value) // 2} Dump:0x{value}"
        return dump if "-n" in flags else f"{name}{sep}{dump}"

    def out(text) -> None:
        if text is not None:
            ctx.out(text)

    for arg in args:
        name, eq, value = arg.partition("=")
        node = NODES.get(name)
        if node is not None and (name != "kern.geom.mirror" or "geom_mirror" in host.modules):
            if eq:
                ctx.fail(f"oid '{name}' isn't a leaf node")
            for leaf in node:
                out(show(leaf))
            continue
        if name not in host.sysctl:
            if "-i" in flags:
                continue
            if "-q" in flags:
                raise Exit(1)
            ctx.fail(f"unknown oid '{name}'")
        if not eq:
            out(show(name))
            continue
        if name in OPAQUE:
            # parse(): not CTLFLAG_WR (kern_mib.c: CTLFLAG_RD).
            ctx.fail(f"oid '{name}' is read only")
        value = value.lstrip()
        if name != "kern.hostname":
            if value == "":
                ctx.fail("empty numeric value")
            try:
                int(value, 0)
            except ValueError:
                ctx.fail(f"invalid integer '{value}'")
            value = int(value, 0)
        old = str(host.sysctl[name])
        host.write_sysctl(name, value)
        new = str(host.sysctl[name])
        ctx.out(f"{old} -> {new}" if "-n" in flags else f"{name}{sep}{old} -> {new}")
    return rc


# Module files the simulated kernel can load (/boot/kernel/*.ko).
KNOWN_KLDS = set(KLD_MODULES) | {"if_bridge", "if_lagg", "pf", "zfs"}
KLD_IDS = {"carp": 5, "geom_mirror": 6, "geom_gate": 7}


def load_module(host, name: str) -> None:
    host.kldload(name)


@command("kldload")
def kldload(ctx):
    try:
        opts, args = getopt.getopt(ctx.args, "nqv")
    except getopt.GetoptError:
        ctx.usage("usage: kldload [-nqv] file ...")     # [unverified] text
    flags = {f for f, _ in opts}
    if not args:
        ctx.usage("usage: kldload [-nqv] file ...")
    errors = 0
    for arg in args:
        if "/" in arg:
            ctx.unsupported("loading a module by path")
        name = arg[:-3] if arg.endswith(".ko") else arg
        if name not in KNOWN_KLDS:
            ctx.warnx(f"can't load {arg}: No such file or directory")
            errors += 1
            continue
        if name in ctx.host.modules:
            if "-n" not in flags:
                # kldload.c: EEXIST is reported with its own wording.
                ctx.warnx(f"can't load {arg}: module already loaded or in kernel")
                errors += 1
            continue
        load_module(ctx.host, name)
        if "-v" in flags:
            ctx.out(f"Loaded {arg}, id={KLD_IDS.get(name, 9)}")
    return 1 if errors else 0


@command("kldunload")
def kldunload(ctx):
    # freebsd-src sbin/kldunload/kldunload.c: err(1, "can't find file %s")
    # when kldfind() fails, err(1, "can't unload file") when the module is
    # busy (a geom class with live geoms refuses: EBUSY).
    try:
        opts, args = getopt.getopt(ctx.args, "fvi:n:")
    except getopt.GetoptError:
        ctx.usage("usage: kldunload [-fv] -i id ...\n       kldunload [-fv] [-n] name ...")
    if len(args) != 1 or opts:
        ctx.unsupported("kldunload options or several files")
    name = args[0][:-3] if args[0].endswith(".ko") else args[0]
    if name not in ctx.host.modules:
        ctx.fail(f"can't find file {args[0]}: No such file or directory")
    if name == "geom_mirror" and ctx.host.mirrors:
        ctx.fail("can't unload file: Device busy")
    ctx.host.modules.discard(name)
    if name == "geom_mirror":
        for key in list(ctx.host.sysctl):
            if key.startswith("kern.geom.mirror."):
                del ctx.host.sysctl[key]
    return 0


@command("kldstat")
def kldstat(ctx):
    usage = ("usage: kldstat [-v] [-i id] [-n filename]\n"
             "       kldstat [-q] [-m modname]")
    try:
        opts, args = getopt.getopt(ctx.args, "i:m:n:qv")
    except getopt.GetoptError:
        ctx.usage(usage)
    if args:
        ctx.usage(usage)
    values = dict(opts)
    quiet = "-q" in values
    loaded_modules = {KLD_MODULES.get(k, k) for k in ctx.host.modules}
    if "-m" in values:
        name = values["-m"]
        if name not in loaded_modules:
            if not quiet:
                ctx.warnx(f"can't find module {name}: No such file or directory")
            return 1
        if quiet:
            return 0
        ctx.out("Id  Refs Name")
        ctx.out(f"{500 + sorted(loaded_modules).index(name):3d} {1:4d} {name}")   # ids [unverified]
        return 0
    if "-n" in values and quiet:
        # Exit status only, as newer kldstat does with -q [unverified].
        name = values["-n"]
        name = name[:-3] if name.endswith(".ko") else name
        return 0 if name in ctx.host.modules else 1
    ctx.unsupported("the kldstat file table")


@command("logger")
def logger(ctx):
    try:
        opts, args = getopt.getopt(ctx.args, "46Aif:H:h:P:p:st:")
    except getopt.GetoptError:
        ctx.usage("usage: logger [-46Ais] [-f file] [-h host] [-P port] [-p pri] [-t tag]\n"
                  "              [-S addr:port] [message ...]")    # [unverified] text
    tag, pri, pid = "root", "user.notice", False
    for flag, value in opts:
        if flag == "-t":
            tag = value
        elif flag == "-p":
            pri = value
        elif flag == "-i":
            pid = True
        elif flag == "-s":
            pass
        else:
            ctx.unsupported(f"option {flag}")
    if not args:
        ctx.unsupported("reading the message from stdin")
    message = " ".join(args)
    if "-s" in dict(opts):
        ctx.err(f"{tag}: {message}")
    ctx.host.log(f"{tag}[{ctx.host.next_pid}]" if pid else tag, message, pri)
    return 0


# ---------------------------------------------------------------------------
# Processes

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 30, "USR2": 31, "TERM": 15, "0": 0}


def signal_number(text: str):
    text = text.upper()
    if text.startswith("SIG"):
        text = text[3:]
    if text.isdigit():
        return int(text)
    return SIGNALS.get(text)


def terminate(host, pid: int, sig: int) -> None:
    """Deliver a signal: 0 probes, HUP is handled by the daemons modelled,
    anything else ends the process with its side effects."""
    if sig == 0:
        return
    proc = host.processes.get(pid)
    if sig == 1 and proc.get("kind") in ("ggated", "service"):
        return
    del host.processes[pid]
    kind = proc.get("kind")
    if kind in ("ggated-conn", "ggated") and proc.get("holds"):
        # The child closes the exported device (and its client sees a FIN);
        # the listener closes the descriptors it kept (ggate.connect).
        geom.released(host, proc["holds"], proc.get("mode") != "ro")
    elif kind == "ggatec":
        dev = host.ggate.get(proc.get("unit"))
        if dev is not None and dev.pid == pid:
            dev.pid = None
    elif kind == "service":
        svc = host.services.get(proc["name"])
        if svc is not None and svc["pid"] == pid:
            svc["pid"] = None
    host.cluster.refresh()


@command("kill")
def kill(ctx):
    args = list(ctx.args)
    usage = ("usage: kill [-s signal_name] pid ...\n"
             "       kill -l [exit_status]\n"
             "       kill -signal_name pid ...\n"
             "       kill -signal_number pid ...")
    sig = 15
    if args and args[0] == "-s":
        if len(args) < 2 or signal_number(args[1]) is None:
            ctx.usage(usage, 2)
        sig = signal_number(args[1])
        args = args[2:]
    elif args and args[0].startswith("-") and args[0] != "--":
        if args[0] == "-l":
            ctx.unsupported("kill -l")
        sig = signal_number(args[0][1:])
        if sig is None:
            ctx.fail(f"unknown signal {args[0][1:]}; valid signals:", 2)
        args = args[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        ctx.usage(usage, 2)
    rc = 0
    for arg in args:
        if not arg.lstrip("-").isdigit():
            ctx.warnx(f"illegal process id: {arg}")
            rc = 2
            continue
        pid = int(arg)
        if pid not in ctx.host.processes:
            ctx.warnx(f"{arg}: No such process")      # [unverified] bin/kill warn("%s")
            rc = 1
            continue
        terminate(ctx.host, pid, sig)
    return rc


def _pidfile_pid(ctx, path: str, locked: bool = False):
    text = ctx.host.files.get(path)
    if text is None:
        # pkill.c takepid(): STATUS_ERROR [unverified text and code].
        ctx.fail(f"Cannot open pidfile `{path}': No such file or directory", 3)
    text = text.strip()
    if not text:
        ctx.fail(f"Pidfile `{path}' is empty", 3)
    try:
        pid = int(text)
    except ValueError:
        ctx.fail(f"Invalid pid in file `{path}'", 3)
    # -L: the pidfile must be flock(2)ed, as pidfile(3) keeps it while its
    # daemon runs; a lockable file means the daemon is gone (pkill.c takepid()).
    if locked and not ctx.host.alive(pid):
        ctx.fail(f"File '{path}' can be locked", 3)
    return pid


def _matches(ctx, pkill: bool):
    args = list(ctx.args)
    sig = 15
    if pkill and args and args[0].startswith("-") and signal_number(args[0][1:]) is not None:
        sig = signal_number(args[0][1:])
        args = args[1:]
    try:
        opts, args = getopt.getopt(args, "DF:G:I:LM:N:P:SU:ac:d:fg:ij:lnoqs:t:u:vx")
    except getopt.GetoptError:
        ctx.usage(f"usage: {ctx.prog} [-LSfilnoqvx] [-d delim] [-F pidfile] [-G gid] [-j jail]\n"
                  "             [-P ppid] [-U uid] [-c class] [-g pgrp] [-s sid] [-t tty] [-u euid]\n"
                  "             pattern ...", 2)        # [unverified] text
    flags = dict(opts)
    for flag in flags:
        if flag not in ("-F", "-L", "-x", "-f", "-j"):
            ctx.unsupported(f"option {flag}")
    if "-j" in flags:
        if args or len(flags) > 1:
            ctx.unsupported("pkill -j with other criteria")
        return _jail_matches(ctx, flags["-j"]), sig
    if "-L" in flags and "-F" not in flags:
        ctx.usage(f"usage: {ctx.prog} [-F pidfile] [-Lfx] pattern ...", 2)   # -L needs -F [unverified text]
    if not args and "-F" not in flags:
        ctx.usage(f"usage: {ctx.prog} [-F pidfile] [-fx] pattern ...", 2)
    only = _pidfile_pid(ctx, flags["-F"], "-L" in flags) if "-F" in flags else None
    found = []
    for pid in sorted(ctx.host.processes):
        proc = ctx.host.processes[pid]
        if only is not None and pid != only:
            continue
        subject = " ".join(proc.get("argv", [proc["name"]])) if "-f" in flags else proc["name"]
        if args:
            pattern = args[0]
            hit = (re.fullmatch(pattern, subject) if "-x" in flags else re.search(pattern, subject))
            if not hit:
                continue
        found.append(pid)
    return found, sig


def _jail_matches(ctx, spec: str):
    """pkill -j (bin/pkill/pkill.c makelist(), @4ce57647, 14.x; reference
    7.2): jids or names (jail_getid()), every process whose own jid is the
    jail's. Jailed processes are not in host.processes: a jail stands for
    its processes, one match per jail that still has any (ones asleep on
    a hung request included)."""
    from .jails import jail_processes
    host = ctx.host
    found = []
    for word in spec.split(","):
        if word in ("any", "0"):
            names = list(host.jails)
        elif word == "none":
            ctx.unsupported("pkill -j none")
        else:
            names = [n for n, j in host.jails.items() if word in (n, str(j["jid"]))]
            if not names:
                ctx.fail(f"Invalid jail ID or name `{word}'", 2)
        found += [("jail", n) for n in names if jail_processes(host, n)]
    return found


@command("pgrep")
def pgrep(ctx):
    found, _ = _matches(ctx, False)
    for pid in found:
        ctx.out(str(pid))
    return 0 if found else 1


@command("pkill")
def pkill(ctx):
    from .jails import signal_jail
    found, sig = _matches(ctx, True)
    for pid in found:
        if isinstance(pid, tuple):
            signal_jail(ctx.host, pid[1], sig)
        elif pid in ctx.host.processes:
            terminate(ctx.host, pid, sig)
    return 0 if found else 1


@command("daemon")
def daemon(ctx):
    """daemon(8): run a command detached. A simulated command runs in the
    model (its output goes nowhere); anything else is started for real."""
    try:
        opts, args = getopt.getopt(ctx.args, "+cfrSp:P:t:u:o:s:T:l:R:")
    except getopt.GetoptError:
        ctx.usage("usage: daemon [-cfrS] [-p child_pidfile] [-P supervisor_pidfile]\n"
                  "              [-u user] [-o output_file] [-t title]\n"
                  "              [-l syslog_facility] [-s syslog_priority]\n"
                  "              [-T syslog_tag] [-R restart_delay_secs]\n"
                  "command arguments ...")                  # [unverified] text
    flags = dict(opts)
    for flag in flags:
        if flag not in ("-c", "-f", "-p", "-t", "-S", "-T"):
            ctx.unsupported(f"option {flag}")
    if not args:
        ctx.usage("usage: daemon [-cfrS] [-p child_pidfile] ... command arguments ...")
    name = os.path.basename(args[0])
    if name in COMMANDS:
        from ..executor import Context
        sub = Context(ctx.host, args, float("inf"), ctx.env)
        try:
            COMMANDS[name](sub)
        except (Exit, Hang):
            pass
        pid = ctx.host.spawn(name, kind="daemon-child", argv=args)
    else:
        env = {k: v for k, v in ctx.env.items()}
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True, cwd="/")
        pid = proc.pid
    if "-p" in flags:
        ctx.host.files[flags["-p"]] = f"{pid}\n"
    return 0
