"""Interfaces, addresses and the CARP state machine of a simulated host.

What is modelled (freebsd-reference.md sections 2 and 3):
- per (interface, vhid) state INIT/BACKUP/MASTER; a vhid leaves INIT when
  it has an address on an up interface with net.inet.carp.allow=1;
- a MASTER advertises every advbase + clamp(advskew + demotion, 0, 240)/256 s;
- a BACKUP declares the master dead after 3*advbase + advskew/256 s without
  an advert (its own skew, not demoted) - "master timed out";
- a MASTER hearing an advert at least as frequent as its own goes BACKUP;
  a BACKUP with preempt=1 hearing a slower master takes over;
- adverts travel only between up hosts whose link is not cut, to
  interfaces on the same segment carrying the same vhid; one per address
  family the vhid has, to its `peer`/`peer6` (multicast by default; a
  unicast advert reaches only the interface holding that address);
- adding or removing an address of a vhid resets it through INIT
  (carp_attach()/carp_detach() -> carp_sc_state());
- every state change emits `!system=CARP subsystem=<vhid>@<if> type=<S>`
  and, with net.inet.carp.log >= 1, the kernel line
  `carp: <vhid>@<if>: <OLD> -> <NEW> (<reason>)` (sample syslog_carp).
Reason strings: "master timed out", "preempting a slower master",
"more frequent advertisement received", "user requested via ifconfig",
"initialization complete", "hardware interface down", "hardware interface
up", "master will time out" (reference 2.4, from ip_carp.c). Interface
down (or allow=0) also adds net.inet.carp.ifdown_demotion_factor once per
vhid; up removes it.

Kernel source read: sys/netinet/ip_carp.c, 14.0-era revision (netlink
SIOCSVH, `if_name()`, BSD-2-Clause with `$FreeBSD$`); the functions cited
below are the same in the 13.x revision (reference 2.4) except for the
unicast peer, which 13.x does not have.
"""

from __future__ import annotations

import ipaddress

from .state import model

INIT, BACKUP, MASTER = "INIT", "BACKUP", "MASTER"
# ip_carp.c carp_alloc() (14.0-era): a new vhid advertises to
# INADDR_CARP_GROUP and ff02::12 until SIOCSVH gives another address.
CARP_MCAST, CARP_MCAST6 = "224.0.0.18", "ff02::12"


@model
class Address:
    def __init__(self, af: str, addr: str, plen: int, vhid: int = 0, scopeid: int = 0):
        self.af = af          # "inet" or "inet6"
        self.addr = addr      # canonical text form
        self.plen = plen
        self.vhid = vhid      # 0: not a CARP address
        self.scopeid = scopeid  # inet6 link-local only

    def same(self, other: "Address") -> bool:
        return self.af == other.af and self.addr == other.addr

    def copy(self) -> "Address":
        return Address(self.af, self.addr, self.plen, self.vhid, self.scopeid)


@model
class Vhid:
    def __init__(self, vhid: int, advbase: int = 1, advskew: int = 0, key: str = "",
                 peer: str = CARP_MCAST, peer6: str = CARP_MCAST6):
        self.vhid = vhid
        self.advbase = advbase
        self.advskew = advskew
        self.key = key
        self.peer = peer        # sc_carpaddr: where IPv4 adverts go (14.x)
        self.peer6 = peer6      # sc_carpaddr6
        self.state = INIT
        self.next_ad = None     # MASTER: time of the next advert
        self.md_at = None       # BACKUP: time the master is declared down
        self.suppress = False   # this vhid added the ifdown demotion

    def copy_config(self) -> "Vhid":
        return Vhid(self.vhid, self.advbase, self.advskew, self.key, self.peer, self.peer6)


# Defaults reproduce the layout of sample ifconfig_carp/bsdrp-pfcarp-vm2.
DEFAULT_OPTIONS = "80028<VLAN_MTU,JUMBO_MTU,LINKSTATE>"
DEFAULT_MEDIA = "Ethernet autoselect (1000baseT <full-duplex>)"


@model
class Interface:
    def __init__(self, name: str, index: int, ether: str, *, mtu: int = 1500,
                 options: str = DEFAULT_OPTIONS, media: str = DEFAULT_MEDIA,
                 segment: str = "lan"):
        self.name = name
        self.index = index
        self.ether = ether
        self.mtu = mtu
        self.options = options
        self.media = media
        self.segment = segment
        self.up = True
        self.linklocal = False
        # Runtime state (lost on crash) and the configuration rc.conf would
        # restore at boot.
        self.addrs = []
        self.vhids = {}
        self.config_addrs = []
        self.config_vhids = {}
        self.config_linklocal = False

    # -- flags as ifconfig prints them (IFFBITS in ifconfig.c) -------------
    def flags(self) -> int:
        # BROADCAST|SIMPLEX|MULTICAST always; UP, RUNNING and the unnamed
        # 0x20 with the link: 8863 up (sample ifconfig_carp), 8802 down.
        value = 0x2 | 0x800 | 0x8000
        if self.up:
            value |= 0x1 | 0x20 | 0x40
        return value

    def has_inet6(self) -> bool:
        return any(a.af == "inet6" for a in self.addrs)

    def find(self, af: str, addr: str):
        for a in self.addrs:
            if a.af == af and a.addr == addr:
                return a
        return None


def canonical(af: str, text: str) -> str:
    if af == "inet":
        return str(ipaddress.IPv4Address(text))
    return str(ipaddress.IPv6Address(text))


def linklocal_from_mac(mac: str) -> str:
    """EUI-64 link-local address (RFC 4291 appendix A), as the kernel forms it."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    groups = [(eui[i] << 8) | eui[i + 1] for i in range(0, 8, 2)]
    return str(ipaddress.IPv6Address("fe80::" + ":".join(f"{g:x}" for g in groups)))


def classful_plen(addr: str) -> int:
    first = int(addr.split(".")[0])
    if first < 128:
        return 8
    if first < 192:
        return 16
    return 24


def broadcast(addr: str, plen: int) -> str:
    net = ipaddress.IPv4Network(f"{addr}/{plen}", strict=False)
    return str(net.broadcast_address)


# ---------------------------------------------------------------------------
# CARP timing and transitions. `host` is a carpha.sim.host.Host.

def demotion(host) -> int:
    return int(host.sysctl["net.inet.carp.demotion"])


def demoted_skew(host, vh: Vhid) -> int:
    # DEMOTE_ADVSKEW: advskew + demotion, clamped to 0..240 (reference 2.5).
    return max(0, min(vh.advskew + demotion(host), 240))


def advert_interval(host, vh: Vhid) -> float:
    return vh.advbase + demoted_skew(host, vh) / 256.0


def master_down_interval(vh: Vhid) -> float:
    return 3 * vh.advbase + vh.advskew / 256.0


def set_state(host, ifp: Interface, vh: Vhid, state: str, reason: str) -> None:
    if vh.state == state:
        return
    old = vh.state
    vh.state = state
    now = host.now()
    vh.next_ad = None
    vh.md_at = None
    if state == MASTER:
        vh.next_ad = now          # sends one advert at once
    elif state == BACKUP:
        vh.md_at = now + master_down_interval(vh)
    # carp_set_state(): devctl_notify("CARP", "<vhid>@<if>", state) on every
    # change; the log line only with net.inet.carp.log >= 1.
    host.devd(f"!system=CARP subsystem={vh.vhid}@{ifp.name} type={state}")
    if int(host.sysctl["net.inet.carp.log"]) >= 1:
        host.log("kernel", f"carp: {vh.vhid}@{ifp.name}: {old} -> {state} ({reason})")


def can_run(host, ifp: Interface, vh: Vhid) -> bool:
    return (host.up and ifp.up and int(host.sysctl["net.inet.carp.allow"]) == 1
            and "carp" in host.modules
            and any(a.vhid == vh.vhid for a in ifp.addrs))


def setrun(host, ifp: Interface, vh: Vhid, reason: str = "initialization complete") -> None:
    """carp_setrun(): out of INIT when it can run; back into INIT when not."""
    if can_run(host, ifp, vh):
        if vh.state == INIT:
            set_state(host, ifp, vh, BACKUP, "initialization complete")
    elif vh.state != INIT:
        set_state(host, ifp, vh, INIT, reason)


def sc_state(host, ifp: Interface, vh: Vhid) -> None:
    """ip_carp.c carp_sc_state() (14.0-era revision read; the same in 13.x,
    reference 2.4): link down or allow=0 -> INIT "hardware interface down",
    demoting by ifdown_demotion_factor once per vhid (sc_suppress);
    otherwise INIT "hardware interface up" then carp_setrun(), which goes
    on to BACKUP only if the vhid has an address, and undo the demotion.
    Called on link changes (carp_linkstate()), allow changes
    (carp_allow_sysctl()) and at the end of carp_attach()/carp_detach():
    adding or removing an address resets the vhid, a MASTER included
    (reference 2.4)."""
    factor = int(host.sysctl["net.inet.carp.ifdown_demotion_factor"])
    if not ifp.up or int(host.sysctl["net.inet.carp.allow"]) != 1:
        setrun(host, ifp, vh, "hardware interface down")
        if not vh.suppress:
            host.sysctl["net.inet.carp.demotion"] = demotion(host) + factor
        vh.suppress = True
    else:
        if vh.suppress:
            host.sysctl["net.inet.carp.demotion"] = demotion(host) - factor
        vh.suppress = False
        set_state(host, ifp, vh, INIT, "hardware interface up")
        setrun(host, ifp, vh)


def link_changed(host, ifp: Interface, vh: Vhid) -> None:
    """The parent interface or net.inet.carp.allow changed (carp_linkstate(),
    carp_allow_sysctl() both call carp_sc_state())."""
    sc_state(host, ifp, vh)


def advert_reaches(ifp: Interface, vh: Vhid, ifp2: Interface) -> bool:
    """Whether an advert of `vh` sent on `ifp` arrives on `ifp2` (another
    host's interface) and matches a vhid there.
    ip_carp.c carp_send_ad_locked() (14.0-era) sends one IPv4 advert to
    sc_carpaddr if the vhid has IPv4 addresses and one IPv6 advert to
    sc_carpaddr6 if it has IPv6 ones; carp_input_c() takes it only when the
    receiving interface has a CARP address of that family with that vhid.
    Modelled simply: a multicast advert reaches every interface on the
    segment, a unicast one only the interface holding the destination
    address; the receiver's own peer setting does not matter (it joins the
    CARP group in carp_multicast_setup() either way and skips the TTL check
    only in unicast mode). Routed unicast peers are not modelled."""
    if ifp2.segment != ifp.segment:
        return False
    for af, dst in (("inet", vh.peer), ("inet6", vh.peer6)):
        if not any(a.vhid == vh.vhid and a.af == af for a in ifp.addrs):
            continue
        if not any(a.vhid == vh.vhid and a.af == af for a in ifp2.addrs):
            continue
        if ipaddress.ip_address(dst).is_multicast or ifp2.find(af, dst) is not None:
            return True
    return False


def receive_advert(host, ifp: Interface, vh: Vhid, sender_interval: float) -> None:
    now = host.now()
    mine = advert_interval(host, vh)
    if vh.state == MASTER:
        if mine >= sender_interval:
            set_state(host, ifp, vh, BACKUP, "more frequent advertisement received")
    elif vh.state == BACKUP:
        if int(host.sysctl["net.inet.carp.preempt"]) and mine < sender_interval:
            set_state(host, ifp, vh, MASTER, "preempting a slower master")
        elif 3 * vh.advbase < sender_interval:
            set_state(host, ifp, vh, MASTER, "master will time out")
        else:
            vh.md_at = now + master_down_interval(vh)
