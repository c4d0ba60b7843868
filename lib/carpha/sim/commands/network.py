"""ifconfig(8): status output and the address/CARP subset carpha uses.

Output layout follows sample ifconfig_carp/bsdrp-pfcarp-vm2 (flags,
options, ether, inet, inet6, carp, media, status, nd6), with the tabs the
real tool prints (printf("\\tinet %s", ...) in sbin/ifconfig/af_inet.c).
Address semantics follow the ioctl path (13.x): in_aifaddr_ioctl /
in_difaddr_ioctl (reference 3.2) and ifconfig.c's clearaddr/newaddr.
CARP keywords follow sbin/ifconfig/ifcarp.c: the 13.x-era revision
(SPDX BSD-2-Clause-FreeBSD, no `peer`) on a 13.x host, the 14.0-era one
(`if_ctx`, libifconfig, `peer`/`peer6`/`mcast`/`mcast6`) on a 14.x host
(Host.release).
"""

from __future__ import annotations

import getopt
import ipaddress

from .. import net
from ..executor import command
from ..net import Address, Vhid

# sbin/ifconfig/ifconfig.c usage(); the option list in front of "interface"
# comes from registered modules and its order is [unverified].
USAGE = (
    "usage: ifconfig [-f type:format] [-C] [-g groupname] [-L] interface address_family\n"
    "                [address [dest_address]] [parameters]\n"
    "       ifconfig interface create\n"
    "       ifconfig -a [-C] [-g groupname] [-L] [-d] [-m] [-u] [-v] [address_family]\n"
    "       ifconfig -l [-d] [-u] [address_family]\n"
    "       ifconfig [-C] [-g groupname] [-L] [-d] [-m] [-u] [-v]"
)

IFFBITS = [(0x1, "UP"), (0x2, "BROADCAST"), (0x4, "DEBUG"), (0x8, "LOOPBACK"),
           (0x10, "POINTOPOINT"), (0x40, "RUNNING"), (0x80, "NOARP"), (0x100, "PROMISC"),
           (0x200, "ALLMULTI"), (0x400, "OACTIVE"), (0x800, "SIMPLEX"), (0x1000, "LINK0"),
           (0x2000, "LINK1"), (0x4000, "LINK2"), (0x8000, "MULTICAST")]

# Keywords ifconfig knows that the simulator does not model.
UNMODELLED = {"mtu", "metric", "description", "descr", "-description", "-descr", "name",
              "arp", "-arp", "promisc", "-promisc", "media", "mediaopt", "-mediaopt",
              "vnet", "-vnet", "tunnel", "-tunnel", "create", "destroy", "plumb", "unplumb",
              "anycast", "tentative", "-tentative", "deprecated", "autoconf", "pltime",
              "vltime", "eui64", "debug", "-debug",
              "monitor", "-monitor", "staticarp", "-staticarp", "lro", "-lro", "tso", "-tso",
              "txcsum", "-txcsum", "rxcsum", "-rxcsum", "vlanhwtag", "-vlanhwtag", "group",
              "-group", "fib", "tunnelfib", "accept_rtadv", "-accept_rtadv", "ifdisabled",
              "-ifdisabled", "auto_linklocal", "-auto_linklocal", "nud", "-nud"}

# 14.0-era ifcarp.c carp_cmds[]: unicast CARP; 13.x ifcarp.c has none of them.
CARP14_WORDS = ("peer", "peer6", "mcast", "mcast6")


def flags_text(value: int) -> str:
    names = ",".join(name for bit, name in IFFBITS if value & bit)
    return f"flags={value:x}<{names}>"


def inet_line(a: Address, style: str) -> str:
    """in_status(): -f inet:cidr|dotted, else the hex netmask."""
    text = f"\tinet {a.addr}"
    mask = (0xFFFFFFFF << (32 - a.plen)) & 0xFFFFFFFF
    if style == "cidr":
        text += f"/{a.plen}"
    elif style == "dotted":
        text += f" netmask {ipaddress.IPv4Address(mask)}"
    else:
        text += f" netmask 0x{mask:08x}"
    text += f" broadcast {net.broadcast(a.addr, a.plen)}"
    if a.vhid:
        text += f" vhid {a.vhid}"
    return text


def inet6_line(a: Address, ifp, cidr: bool) -> str:
    shown = a.addr + (f"%{ifp.name}" if a.scopeid else "")
    text = f"\tinet6 {shown}" + (f"/{a.plen}" if cidr else f" prefixlen {a.plen}")
    if a.scopeid:
        text += f" scopeid 0x{a.scopeid:x}"
    if a.vhid:
        text += f" vhid {a.vhid}"
    return text


def status(ifp, fmt: dict, release: int = 13) -> list:
    lines = [f"{ifp.name}: {flags_text(ifp.flags())} metric 0 mtu {ifp.mtu}"]
    if ifp.options:
        lines.append(f"\toptions={ifp.options}")
    lines.append(f"\tether {ifp.ether}")
    for a in ifp.addrs:
        if a.af == "inet":
            lines.append(inet_line(a, fmt.get("inet", "")))
    for a in sorted((a for a in ifp.addrs if a.af == "inet6"), key=lambda a: not a.scopeid):
        lines.append(inet6_line(a, ifp, fmt.get("inet6") == "cidr"))
    # carp_status(): one line per vhid; the 14.0-era ifcarp.c adds
    # printf("\t      peer %s peer6 %s\n", inet_ntoa(), inet_ntop()) (reference 2.3).
    for v in sorted(ifp.vhids):
        vh = ifp.vhids[v]
        lines.append(f"\tcarp: {vh.state} vhid {vh.vhid} advbase {vh.advbase} advskew {vh.advskew}")
        if release >= 14:
            lines.append(f"\t      peer {vh.peer} peer6 {vh.peer6}")
    lines.append(f"\tmedia: {ifp.media}")
    lines.append("\tstatus: active" if ifp.up else "\tstatus: no carrier")
    if ifp.has_inet6():
        lines.append("\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>")
    else:
        lines.append("\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>")
    return lines


def parse_format(ctx, text: str) -> dict:
    fmt = {}
    for category in text.split(","):
        name, sep, modifier = category.partition(":")
        if not sep or not modifier:
            ctx.warnx(f"Skipping invalid format specification: {category}\n")
            continue
        known = ("cidr", "dotted", "hex") if name == "inet" else ("cidr",)
        if name in ("inet", "inet6") and modifier not in known:
            ctx.unsupported(f"-f {category}")
        if name in ("ether", "addr"):
            ctx.unsupported(f"-f {category}")
        fmt[name] = modifier
    return fmt


@command("ifconfig")
def ifconfig(ctx):
    host = ctx.host
    try:
        opts, args = getopt.getopt(ctx.args, "G:adf:klmnuvg:CL")
    except getopt.GetoptError:
        ctx.usage(USAGE)
    all_, names_only, fmt = False, False, {}
    for flag, value in opts:
        if flag == "-a":
            all_ = True
        elif flag == "-l":
            names_only = True
        elif flag == "-f":
            fmt.update(parse_format(ctx, value))
        else:
            ctx.unsupported(f"option {flag}")
    ordered = sorted(host.interfaces.values(), key=lambda i: i.index)
    if names_only:
        if all_ or len(args) > 1:
            ctx.usage(USAGE)
        ctx.out(" ".join(i.name for i in ordered))
        return 0
    if not args or all_:
        if len(args) > 1:
            ctx.usage(USAGE)
        if args:
            ctx.unsupported("address family filter")
        for ifp in ordered:
            for line in status(ifp, fmt, host.release):
                ctx.out(line)
        return 0
    ifp = host.interface(args[0])
    if ifp is None:
        ctx.fail(f"interface {args[0]} does not exist")
    if len(args) == 1:
        for line in status(ifp, fmt, host.release):
            ctx.out(line)
        return 0
    return configure(ctx, ifp, args[1:])


def _getaddr(ctx, af: str, text: str):
    """in_getaddr/in6_getaddr: address with an optional /len."""
    addr, _, width = text.partition("/")
    plen = None
    if width:
        limit = 32 if af == "inet" else 128
        if not width.isdigit() or int(width) > limit:
            ctx.fail(f"{text}: bad value (width invalid)" if af == "inet" else f"{width}: bad value")
        plen = int(width)
    try:
        addr = net.canonical(af, addr)
    except ValueError:
        ctx.fail(f"{addr}: bad value")
    return addr, plen


def configure(ctx, ifp, words):
    host = ctx.host
    af = "inet"
    if words and words[0] in ("inet", "inet6"):
        af = words.pop(0)
    elif words and words[0] in ("link", "ether", "lladdr"):
        ctx.unsupported(f"address family {words[0]}")
    doalias = 0
    addr = plen = None
    vhid = advskew = advbase = key = carp_state = None
    # 14.0-era ifcarp.c carp_ctor() presets both to the multicast groups.
    peer, peer6 = net.CARP_MCAST, net.CARP_MCAST6
    up = None
    i = 0

    def arg(name):
        if i + 1 >= len(words):
            ctx.fail(f"'{name}' requires argument")
        return words[i + 1]

    while i < len(words):
        word = words[i]
        if word in ("alias", "add"):
            doalias = 1
        elif word in ("-alias", "delete", "remove"):
            doalias = -1
        elif word in ("up", "down"):
            up = word == "up"
        elif word == "vhid":
            value = arg(word)
            try:
                vhid = int(value)
            except ValueError:
                vhid = 0
            if vhid <= 0 or vhid > 255:
                ctx.fail("vhid must be greater than 0 and less than 255")
            i += 1
        elif word in ("advskew", "advbase", "pass", "state"):
            value = arg(word)
            if vhid is None:
                ctx.fail(f"{'passwd' if word == 'pass' else word} requires vhid")
            if word == "advskew":
                advskew = int(value) if value.lstrip("-").isdigit() else 0
            elif word == "advbase":
                advbase = int(value) if value.isdigit() else 0
            elif word == "pass":
                key = value
            else:
                if value.upper() not in ("INIT", "BACKUP", "MASTER"):
                    ctx.fail("unknown state")
                carp_state = value.upper()
            i += 1
        elif word in CARP14_WORDS:
            if host.release < 14:
                # No such command in 13.x ifcarp.c: ifconfig takes the word
                # for an address, which in_getaddr() cannot parse (the
                # simulator's unknown-word path; a host name "peer" that
                # resolves is not modelled [unverified]).
                ctx.fail(f"{word}: bad value")
            if word == "peer":
                # setcarp_peer(): inet_addr(val), no check; needs no vhid
                # (without one no callback runs and it is ignored).
                value = arg(word)
                try:
                    peer = str(ipaddress.IPv4Address(value))
                except ValueError:
                    ctx.unsupported(f"peer {value!r} (not a dotted quad)")
                i += 1
            elif word == "peer6":
                value = arg(word)
                try:
                    peer6 = str(ipaddress.IPv6Address(value))
                except ValueError:
                    ctx.fail(f"Invalid IPv6 address {value}")   # setcarp_peer6()
                i += 1
            elif word == "mcast":
                peer = net.CARP_MCAST
            else:
                peer6 = net.CARP_MCAST6
        elif word == "netmask" and af == "inet":
            value = arg(word)
            try:
                plen = ipaddress.IPv4Network(f"0.0.0.0/{value}").prefixlen
            except ValueError:
                try:
                    plen = ipaddress.IPv4Network(f"0.0.0.0/{int(value, 16)}").prefixlen
                except ValueError:
                    ctx.fail(f"{value}: bad value")
            i += 1
        elif word == "prefixlen" and af == "inet6":
            value = arg(word)
            if not value.isdigit() or int(value) > 128:
                ctx.fail(f"{value}: bad value")
            plen = int(value)
            i += 1
        elif word == "broadcast":
            i += 1
        elif word in UNMODELLED:
            ctx.unsupported(f"parameter '{word}'")
        elif addr is None:
            addr, width = _getaddr(ctx, af, word)
            if width is not None:
                plen = width
        else:
            ctx.unsupported("a destination address")
        i += 1

    if up is not None:
        set_link(host, ifp, up)
    # Deferred callbacks first: SIOCSVH creates or updates the vhid.
    if vhid is not None:
        if "carp" not in host.modules:
            ctx.fail("SIOCSVH: Protocol not supported")   # [unverified] text
        if advskew is not None and not 0 <= advskew < 255:
            ctx.fail("SIOCSVH: Invalid argument")
        if advbase is not None and not 0 < advbase < 256:
            ctx.fail("SIOCSVH: Invalid argument")
        vh = ifp.vhids.get(vhid)
        if vh is None:
            vh = ifp.vhids[vhid] = Vhid(vhid)
        if advskew is not None:
            vh.advskew = advskew
        if advbase is not None:
            vh.advbase = advbase
        if key is not None:
            vh.key = key[:20]
        if host.release >= 14:
            # setcarp_callback() copies the preset (multicast unless `peer`/
            # `mcast` was given) whenever it is not INADDR_ANY, and
            # carp_ioctl_set() applies any non-zero address: every `vhid N`
            # command without `peer` puts the vhid back on multicast (2.2).
            if peer != "0.0.0.0":
                vh.peer = peer
            if peer6 != "::":
                vh.peer6 = peer6
        if carp_state is not None and vh.state != net.INIT and carp_state != vh.state:
            if carp_state == net.BACKUP:
                net.set_state(host, ifp, vh, net.BACKUP, "user requested via ifconfig")
            elif carp_state == net.MASTER:
                net.set_state(host, ifp, vh, net.MASTER, "user requested via ifconfig")
    if addr is None:
        if doalias == -1 or plen is not None:
            ctx.unsupported("removing or masking without an address")
        return 0
    if doalias == -1:
        existing = ifp.find(af, addr)
        if existing is None:
            ctx.fail("ioctl (SIOCDIFADDR): Can't assign requested address")
        remove_address(host, ifp, existing)
        return 0
    if doalias == 0:
        # No "alias": SIOCDIFADDR without a valid address first deletes the
        # interface's first address of this family (in_difaddr_ioctl).
        first = next((a for a in ifp.addrs if a.af == af and not a.scopeid), None)
        if first is not None:
            remove_address(host, ifp, first)
    if plen is None:
        if af == "inet":
            plen = net.classful_plen(addr)
            host.log("kernel", f"{ifp.name}: set address: WARNING: network mask should be "
                               "specified; using historical default")
        else:
            plen = 64        # in6_postproc(): prefixlen 64 unless given
    if vhid is not None and vhid not in ifp.vhids:
        ctx.fail("ioctl (SIOCAIFADDR): Protocol not supported")     # [unverified] text
    existing = ifp.find(af, addr)
    if existing is not None:
        # Re-adding is delete + add: in.c in_aifaddr_ioctl() (14.x-era) calls
        # in_difaddr_ioctl() with SIOCAIFADDR, in6.c in6_control()
        # SIOCAIFADDR_IN6 (13.x-era) detaches the same way: carp_detach()
        # with keep_cif, so the vhid stays even if empty, in INIT (3.2).
        remove_address(host, ifp, existing, keep_cif=True)
    ifp.addrs.append(Address(af, addr, plen, vhid or 0))
    if vhid:
        # carp_attach() ends with carp_sc_state(): INIT, then BACKUP (2.4).
        net.sc_state(host, ifp, ifp.vhids[vhid])
    return 0


def remove_address(host, ifp, a: Address, keep_cif: bool = False) -> None:
    ifp.addrs.remove(a)
    if not a.vhid or a.vhid not in ifp.vhids:
        return
    vh = ifp.vhids[a.vhid]
    # ip_carp.c carp_detach(): carp_sc_state() (INIT, then BACKUP if the
    # vhid keeps an address), then carp_destroy() when keep_cif is false
    # (SIOCDIFADDR) and no address is left (reference 2.2, 2.4, 3.2).
    net.sc_state(host, ifp, vh)
    if not keep_cif and not any(x.vhid == a.vhid for x in ifp.addrs):
        if vh.suppress:
            # carp_destroy(): carp_demote_adj(-ifdown_adj, "vhid removed")
            host.sysctl["net.inet.carp.demotion"] = net.demotion(host) - \
                int(host.sysctl["net.inet.carp.ifdown_demotion_factor"])
        del ifp.vhids[a.vhid]


def set_link(host, ifp, up: bool) -> None:
    if ifp.up == up:
        return
    ifp.up = up
    for vh in ifp.vhids.values():
        net.link_changed(host, ifp, vh)



@command("ping")
def ping(ctx):
    """Reachability only: exit 0 when some up host holding the address (a
    plain alias, or a CARP address in MASTER state) is reachable over the
    simulated links, else exit 2 after the -t timeout (sbin/ping/ping.8:
    "0 at least one response was heard, 2 the transmission was successful
    but no responses were received"). [unverified] ping's report lines are
    not modelled: carpha reads the exit status only."""
    import getopt
    try:
        opts, args = getopt.getopt(ctx.args, "nqc:t:")
    except getopt.GetoptError:
        ctx.usage("usage: ping [-n] [-c count] [-t timeout] host", 64)
    values = dict(opts)
    if len(args) != 1:
        ctx.usage("usage: ping [-n] [-c count] [-t timeout] host", 64)
    target = args[0]
    for host in ctx.cluster.hosts.values():
        if not host.up or not ctx.cluster.link_ok(ctx.host.name, host.name):
            continue
        for ifp in host.interfaces.values():
            for addr in ifp.addrs:
                if addr.addr != target:
                    continue
                if not addr.vhid or ifp.vhids.get(addr.vhid) is not None and \
                        ifp.vhids[addr.vhid].state == "MASTER":
                    return 0
    ctx.wait(float(values.get("-t", "1")))
    return 2
