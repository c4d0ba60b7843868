"""argv builders for every FreeBSD command carpha runs. Pure: they return
tuples; only carpha.host.runner runs them. Each cites where its syntax comes from
(../shared/freebsd-reference.md section, or the man page/source)."""

from __future__ import annotations

import math
from typing import Tuple

Argv = Tuple[str, ...]


# ifconfig(8): reference 2.2, 3.1
def ifconfig_all() -> Argv:
    return ("ifconfig",)


def alias_add(interface: str, address) -> Argv:
    """`address` is an ipaddress.IPv4Interface/IPv6Interface. Always give the
    prefix: without one the kernel falls back to the classful mask (3.1)."""
    if address.version == 4:
        return ("ifconfig", interface, "inet", str(address.with_prefixlen), "alias")
    return ("ifconfig", interface, "inet6", str(address.ip), "prefixlen",
            str(address.network.prefixlen), "alias")


def alias_remove(interface: str, address) -> Argv:
    family = "inet" if address.version == 4 else "inet6"
    return ("ifconfig", interface, family, str(address.ip), "-alias")


# The CARP multicast groups (ip_carp.c carp_alloc(); 14.x ifconfig prints
# them as `peer 224.0.0.18 peer6 ff02::12`, reference 2.3).
CARP_MCAST, CARP_MCAST6 = "224.0.0.18", "ff02::12"


def carp_peer_args(peer=None, peer6=None) -> Argv:
    """`peer A` / `peer6 B` for whichever of the observed addresses is not
    the multicast default. 14.x ifconfig resets both to multicast on every
    `vhid N` command that does not repeat them (ifcarp.c carp_ctor() and
    setcarp_callback(), reference 2.2), so each vhid command carpha runs
    passes them again. Nothing for 13.x, which prints no peer line (and has
    no `peer` keyword)."""
    args: Argv = ()
    if peer is not None and peer != CARP_MCAST:
        args += ("peer", str(peer))
    if peer6 is not None and peer6 != CARP_MCAST6:
        args += ("peer6", str(peer6))
    return args


def carp_force(interface: str, vhid: int, state: str, *, peer=None, peer6=None) -> Argv:
    # `state` is applied only when the vhid is not in INIT (2.2).
    return ("ifconfig", interface, "vhid", str(vhid), "state", state.lower()) + carp_peer_args(peer, peer6)


def carp_advskew(interface: str, vhid: int, advskew: int, *, peer=None, peer6=None) -> Argv:
    # advskew 0..254 (the ioctl rejects >= 255), reference 2.2
    if not 0 <= advskew <= 254:
        raise ValueError(f"advskew {advskew} is not in 0..254")
    return ("ifconfig", interface, "vhid", str(vhid), "advskew", str(advskew)) + carp_peer_args(peer, peer6)


# kldload(8): reference 10 (-n: no error if already loaded); kldunload(8):
# sbin/kldunload/kldunload.c ("can't unload file: Device busy" while in use)
def kldload(module: str) -> Argv:
    return ("kldload", "-n", module)


def kldunload(module: str) -> Argv:
    return ("kldunload", module)


# gmirror(8): reference 4.1, 4.4
def gmirror_list() -> Argv:
    return ("gmirror", "list")


def gmirror_dump(provider: str) -> Argv:
    return ("gmirror", "dump", provider)


def gmirror_forget(mirror: str) -> Argv:
    return ("gmirror", "forget", mirror)


def gmirror_insert(mirror: str, provider: str, priority: int) -> Argv:
    return ("gmirror", "insert", "-p", str(priority), mirror, provider)


def gmirror_priority(mirror: str, provider: str, priority: int) -> Argv:
    return ("gmirror", "configure", "-p", str(priority), mirror, provider)


def gmirror_balance(mirror: str, balance: str) -> Argv:
    return ("gmirror", "configure", "-b", balance, mirror)



def gmirror_remove(mirror: str, provider: str) -> Argv:
    # g_mirror_ctl_remove(): detaches the component and clears its metadata
    # (reference 4.4).
    return ("gmirror", "remove", mirror, provider)


def gmirror_clear(provider: str) -> Argv:
    # lib/geom/mirror/geom_mirror.c mirror_clear(): zeroes the metadata
    # sector; a cleared disk is never tasted into a mirror (reference 4.4).
    return ("gmirror", "clear", provider)


def gmirror_stop(mirror: str, force: bool = False) -> Argv:
    return ("gmirror", "stop", "-f", mirror) if force else ("gmirror", "stop", mirror)


# ggatec(8): reference 5.2. Without -t (G_GATE_TIMEOUT 0) a request to a
# dead peer waits until the device is destroyed, so the mirror never drops
# the peer's half on its own: carpha drops it on purpose once it has
# recorded the peer's replica outdated (carpha.safety.replica_drop). -t N would be
# a sweep every N s failing requests at least 5 s old (g_gate_guard(),
# sys/geom/gate/g_gate.c @37d84eaa, 13.x): a write could be acknowledged on
# the local half alone some 4 s after a peer died.
def ggatec_create(host: str, path: str, *, port: int, unit: int, timeout: int = 0) -> Argv:
    if timeout < 0:
        raise ValueError("ggatec timeout must be >= 0 s")
    sweep = ("-t", str(timeout)) if timeout else ()
    return ("ggatec", "create", "-o", "rw", "-p", str(port), *sweep, "-u", str(unit), host, path)


def ggatec_destroy(unit: int, force: bool = True) -> Argv:
    return ("ggatec", "destroy", "-f", "-u", str(unit)) if force else ("ggatec", "destroy", "-u", str(unit))


def ggatec_list() -> Argv:
    return ("ggatec", "list", "-v")


# ggated(8): usage "[-nv] [-a address] [-F pidfile] [-p port] [-R rcvbuf]
# [-S sndbuf] [exports file]" (freebsd-src sbin/ggate/ggated/ggated.c); the
# pidfile is a pidfile(3), locked while ggated runs, so pgrep/pkill -L -F
# never match a recycled pid.
def ggated_start(*, port: int, pidfile: str, exports: str) -> Argv:
    return ("ggated", "-p", str(port), "-F", pidfile, exports)


# pgrep/pkill(1) -f -x: "-f Match against full argument lists", "-x Require
# an exact match of the process name, or argument list if -f is given"
# (bin/pkill/pkill.1); the pattern is an extended regex. ggated forks a child per connection that keeps the exported disk
# open and shows the listener's argument list; killing only the pidfile's
# pid would leave that child holding the disk. Matching our own exact argv
# (unique per group: it names the group's pidfile) reaches both.
_ERE_SPECIAL = set(".[]()*+?{}|^$\\")


def ere_literal(text: str) -> str:
    return "".join("\\" + c if c in _ERE_SPECIAL else c for c in text)


def pgrep_argv(argv: Argv) -> Argv:
    return ("pgrep", "-f", "-x", ere_literal(" ".join(argv)))


def pkill_argv(argv: Argv) -> Argv:
    return ("pkill", "-f", "-x", ere_literal(" ".join(argv)))


# fsck(8)/fsck_ffs(8): reference 8
def fsck_preen(device: str) -> Argv:
    return ("fsck", "-p", "-t", "ufs", device)


def fsck_yes(device: str) -> Argv:
    return ("fsck", "-y", "-t", "ufs", device)


# mount(8)/umount(8): reference 8
def mount_list() -> Argv:
    return ("mount", "-p")


def mount(device: str, mountpoint: str, fstype: str, options=()) -> Argv:
    argv = ("mount", "-t", fstype)
    if options:
        argv += ("-o", ",".join(options))
    return argv + (device, mountpoint)


def umount(mountpoint: str, force: bool = False) -> Argv:
    return ("umount", "-f", mountpoint) if force else ("umount", mountpoint)


# jails: reference 7. `service jail start` exits 0 on failure, so every start
# is verified with `jls -j NAME jid`.
def jls_names() -> Argv:
    return ("jls", "-N")


def jls_jid(name: str) -> Argv:
    return ("jls", "-j", name, "jid")


def jail_start(name: str) -> Argv:
    # onestart: failover jails are kept out of jail_list/jail_enable on purpose
    return ("service", "jail", "onestart", name)


def jail_stop(name: str) -> Argv:
    return ("service", "jail", "onestop", name)


def jail_remove(name: str) -> Argv:
    # jail(8) -r: runs exec.stop, SIGTERM, waits stop.timeout (reference 7.2)
    return ("jail", "-r", name)


def jail_sigkill(name: str) -> Argv:
    # pkill -j NAME: every process of the jail (bin/pkill/pkill.c makelist(),
    # @4ce57647, 14.x; reference 7.2); SIGKILL cannot be ignored, and a
    # process asleep on a hung write dies as its request completes, before
    # it returns to user space. Exit 1 when the jail has no process left.
    return ("pkill", "-KILL", "-j", name)


def jail_kill(name: str) -> Argv:
    # jail(8) -R: removes the jail "without using the configuration file. No
    # removal-related parameters for this jail will be used - the jail will
    # simply be removed" (no exec.stop that could hang); -r and -R both kill
    # all jailed processes (usr.sbin/jail/jail.8).
    return ("jail", "-R", name)


def service_status(name: str) -> Argv:
    return ("service", name, "onestatus")


def service_start(name: str) -> Argv:
    return ("service", name, "onestart")


def service_stop(name: str) -> Argv:
    return ("service", name, "onestop")


# ping(8)
def ping(address, timeout: float) -> Argv:
    """One echo request, giving up after `timeout` seconds.
    FreeBSD ping(8) (sbin/ping/ping.8): `-t timeout` is "a timeout, in
    seconds, before ping exits regardless of how many packets have been
    received" (the TTL is -m; Linux's -t is the TTL). sbin/ping/ping.c reads
    it with strtoul and rejects values below 1: whole seconds, at least 1.
    -n: "No attempt will be made to lookup symbolic names" (DNS may be gone
    in the very partition we probe). The same flags work for IPv6 addresses
    on FreeBSD 13+ (sbin/ping/tests/ping_test.sh: `ping -6 -c 1 -s 8 -t 1`).
    Exit 0: a reply was heard; 2: none; other: error."""
    seconds = max(1, math.ceil(timeout))
    return ("ping", "-n", "-c", "1", "-t", str(seconds), str(address))


# sysctl(8): reference 2.6 (writing demotion ADDS the value)


def sysctl_get_value(name: str) -> Argv:
    return ("sysctl", "-n", name)


def sysctl_boot_id() -> Argv:
    """kern.boot_id is an opaque struct: sysctl prints it only with -x (or
    -b/-o), as "Format: Length:16 Dump:0x<hex>" (sbin/sysctl/sysctl.c
    show_var(), 13.x-era revision; 14.x [unverified]): read as a token."""
    return ("sysctl", "-n", "-x", "kern.boot_id")


def kenv_set(name: str, value: str) -> Argv:
    """A kernel environment variable: a CTLFLAG_RWTUN sysctl reads it when
    its module loads (bin/kenv/kenv.c @035f94f6: prints name="value")."""
    return ("kenv", f"{name}={value}")


def sysctl_add_demotion(delta: int) -> Argv:
    return ("sysctl", f"net.inet.carp.demotion={delta}")
