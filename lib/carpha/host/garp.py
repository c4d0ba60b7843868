"""Announce claimed addresses on the link: gratuitous ARP and unsolicited NA.

Contract:
- `garp_frame`, `unsolicited_na_frame`, `frames_for` and `parse_mac` are pure:
  bytes in, bytes out, ValueError on bad input; no I/O.
- `open_sender(ifname)` returns a sender (`.send(frame)`, `.close()`, a
  context manager) writing whole Ethernet frames to one interface: /dev/bpf on
  FreeBSD, an AF_PACKET socket on Linux (tests and the simulator). The
  interface name is validated before any system call.
- `announce()` sends `count` rounds of one frame per address, sleeping
  `interval_seconds` between rounds (not after the last), and returns the
  number of frames sent. It logs nothing; the caller schedules the second
  burst (keepalived's garp_master_repeat / garp_master_delay: 5 now, 5 more
  after 5 s).
- I/O failures raise GarpError naming the interface and the step.

Runs no programs (nothing here goes through carpha.host.runner) and imports only
cheap stdlib modules, because the worker imports it on the failover path.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import struct
import sys

from .. import clock
from ..exits import NOPERM, SOFTWARE, CarphaError

__all__ = [
    "GarpError",
    "announce",
    "frames_for",
    "garp_frame",
    "open_sender",
    "parse_mac",
    "unsolicited_na_frame",
    "validate_ifname",
]

ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
ARPOP_REQUEST = 1
ARPOP_REPLY = 2

_BROADCAST = b"\xff" * 6
_ZERO_MAC = b"\x00" * 6
# RFC 2464 section 7: 33:33 followed by the low 32 bits of ff02::1.
_ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
_ALL_NODES = ipaddress.IPv6Address("ff02::1").packed
_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_IPPROTO_ICMPV6 = 58
_ND_NEIGHBOR_ADVERT = 136              # RFC 4861 4.4
_ND_NA_FLAG_OVERRIDE = 0x20000000      # R=0 S=0 O=1, as FreeBSD carp_send_na()
_ND_OPT_TARGET_LINKADDR = 2            # RFC 4861 4.6.1

# net/bpf.h, amd64 (reference 3.4): _IOW('B', 108, struct ifreq) with a 32-byte
# ifreq (16-byte name + 16-byte union), and _IOW('B', 117, u_int).
BIOCSETIF = 0x8020426C
BIOCSHDRCMPLT = 0x80044275
_IFNAMSIZ = 16                         # net/if.h, including the NUL

_IFNAME_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_IFNAME_REST = _IFNAME_FIRST | frozenset("0123456789_.")
_HEX = frozenset("0123456789abcdefABCDEF")


class GarpError(CarphaError):
    """Opening the interface or writing a frame failed; one line, names both."""


def parse_mac(text: str) -> bytes:
    """"58:9c:fc:02:00:02" -> 6 bytes; anything else is a ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"MAC address must be a string, not {type(text).__name__}")
    parts = text.split(":")
    if len(parts) != 6 or any(len(p) != 2 or not _HEX.issuperset(p) for p in parts):
        raise ValueError(f"{text!r} is not a MAC address like 58:9c:fc:02:00:02")
    return bytes(int(p, 16) for p in parts)


def validate_ifname(ifname: str) -> str:
    """Return `ifname` if it is a plausible interface name (^[A-Za-z][A-Za-z0-9_.]{0,14}$),
    else raise ValueError. Checked before any system call: the name goes into
    a fixed 16-byte ifreq, and nothing else (paths, ';') may reach the kernel."""
    if (
        not isinstance(ifname, str)
        or not 1 <= len(ifname) < _IFNAMSIZ
        or ifname[0] not in _IFNAME_FIRST
        or not _IFNAME_REST.issuperset(ifname)
    ):
        raise ValueError(f"{ifname!r} is not a valid interface name")
    return ifname


def _check_mac(mac: bytes) -> bytes:
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6:
        raise ValueError(f"MAC address must be 6 bytes, got {mac!r}")
    if mac[0] & 1:
        # The I/G bit: a group address is never a valid Ethernet source.
        raise ValueError(f"{mac.hex(':')} is a multicast MAC, not a source address")
    return bytes(mac)


def _as_address(address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(address, str):
        address = ipaddress.ip_address(address)
    if isinstance(address, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        address = address.ip
    if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        raise ValueError(f"{address!r} is not an IP address")
    if address.is_multicast or address.is_unspecified or address == _LIMITED_BROADCAST:
        raise ValueError(f"{address} cannot be announced: not a unicast address")
    return address


def garp_frame(mac: bytes, ip: ipaddress.IPv4Address, *, op: int = ARPOP_REQUEST) -> bytes:
    """The 42-byte Ethernet + ARP frame announcing that `ip` is at `mac`.

    op 1 (request, the default) is RFC 5227 3's ARP Announcement, as FreeBSD's
    arp_announce_ifaddr() and keepalived send it; tha is zero as in FreeBSD's
    arprequest() and RFC 5227 (keepalived uses ff:ff:ff:ff:ff:ff; receivers
    ignore tha in a request). op 2 (gratuitous reply) sets tha = sha, as
    RFC 5944 4.6 describes and Linux's arp_is_garp() requires before it
    treats a reply as gratuitous. The driver pads to the 60-byte minimum."""
    mac = _check_mac(mac)
    ip = _as_address(ip)
    if ip.version != 4:
        raise ValueError(f"{ip} is not an IPv4 address")
    if isinstance(op, bool) or op not in (ARPOP_REQUEST, ARPOP_REPLY):
        raise ValueError(f"ARP op must be 1 (request) or 2 (reply), not {op!r}")
    spa = ip.packed
    tha = mac if op == ARPOP_REPLY else _ZERO_MAC
    # RFC 826: htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op.
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac + spa + tha + spa
    return _BROADCAST + mac + struct.pack("!H", ETHERTYPE_ARP) + arp


def _checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na_frame(mac: bytes, ip: ipaddress.IPv6Address) -> bytes:
    """The 86-byte Ethernet + IPv6 + ICMPv6 unsolicited Neighbour Advertisement
    for `ip` at `mac` (RFC 4861 7.2.6): from `ip` itself to ff02::1, hop limit
    255 (receivers drop anything else, 7.1.2), Override set, Solicited and
    Router clear (as FreeBSD's carp_send_na(): the vhid address is a host
    address), with a Target Link-Layer Address option."""
    mac = _check_mac(mac)
    ip = _as_address(ip)
    if ip.version != 6:
        raise ValueError(f"{ip} is not an IPv6 address")
    src = ip.packed
    # RFC 4861 4.4 NA body (type, code, checksum, flags, target) + option
    # 4.6.1 (type 2, length 1 = 8 octets, link-layer address).
    body = struct.pack("!BBHI", _ND_NEIGHBOR_ADVERT, 0, 0, _ND_NA_FLAG_OVERRIDE) + src
    body += struct.pack("!BB", _ND_OPT_TARGET_LINKADDR, 1) + mac
    # RFC 8200 8.1 pseudo-header: src, dst, upper-layer length, 3 zero bytes, next header.
    pseudo = src + _ALL_NODES + struct.pack("!I3xB", len(body), _IPPROTO_ICMPV6)
    cksum = _checksum(pseudo + body)
    body = body[:2] + struct.pack("!H", cksum) + body[4:]
    ipv6 = struct.pack("!IHBB", 6 << 28, len(body), _IPPROTO_ICMPV6, 255) + src + _ALL_NODES
    return _ALL_NODES_MAC + mac + struct.pack("!H", ETHERTYPE_IPV6) + ipv6 + body


def frames_for(mac: bytes, addresses) -> list[bytes]:
    """One frame per distinct address, in order: ARP for IPv4, NA for IPv6.
    Addresses may be ipaddress objects (interfaces too) or strings."""
    frames = []
    seen = set()
    for address in addresses:
        address = _as_address(address)
        if address in seen:
            continue
        seen.add(address)
        if address.version == 4:
            frames.append(garp_frame(mac, address))
        else:
            frames.append(unsolicited_na_frame(mac, address))
    return frames


def _os_error(ifname: str, step: str, exc: OSError) -> GarpError:
    why = exc.strerror or str(exc)
    code = NOPERM if exc.errno in (errno.EPERM, errno.EACCES) else SOFTWARE
    return GarpError(f"{ifname}: {step}: {why}", exit_code=code)


class _Sender:
    ifname: str

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def send(self, frame: bytes) -> None:
        if self._closed:
            raise GarpError(f"{self.ifname}: send on a closed sender")
        try:
            written = self._write(frame)
        except OSError as exc:
            raise _os_error(self.ifname, self._write_step, exc) from exc
        if written != len(frame):
            raise GarpError(f"{self.ifname}: {self._write_step}: wrote {written} of {len(frame)} bytes")


class BpfSender(_Sender):
    """FreeBSD: one /dev/bpf instance bound to the interface (bpf(4))."""

    _write_step = "write to /dev/bpf"

    def __init__(self, ifname: str, device: str = "/dev/bpf"):
        self.ifname = validate_ifname(ifname)
        self._closed = True
        try:
            # A cloning device: each open is a fresh descriptor (bpf(4)).
            self._fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise _os_error(ifname, f"open {device}", exc) from exc
        self._closed = False
        try:
            step = "BIOCSETIF"
            fcntl.ioctl(self._fd, BIOCSETIF, struct.pack("16s16x", ifname.encode("ascii")))
            # Without this the kernel writes the interface's own MAC over our
            # Ethernet source (bpfwrite() -> ether_output(), net/bpf.c); the
            # CARP virtual MAC 00:00:5e:00:01:<vhid> would be lost.
            step = "BIOCSHDRCMPLT"
            fcntl.ioctl(self._fd, BIOCSHDRCMPLT, struct.pack("I", 1))
        except OSError as exc:
            self.close()
            raise _os_error(ifname, f"{step} on /dev/bpf", exc) from exc

    def _write(self, frame: bytes) -> int:
        return os.write(self._fd, frame)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)


class PacketSender(_Sender):
    """Linux: an AF_PACKET raw socket bound to the interface (packet(7))."""

    _write_step = "send on AF_PACKET socket"

    def __init__(self, ifname: str):
        self.ifname = validate_ifname(ifname)
        self._closed = True
        import socket  # only this path needs it (a few ms on the FreeBSD hook)

        try:
            # Protocol 0: a send-only socket, nothing is queued for reading.
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except OSError as exc:
            raise _os_error(ifname, "open AF_PACKET socket", exc) from exc
        self._closed = False
        try:
            self._sock.bind((ifname, 0))
        except OSError as exc:
            self.close()
            raise _os_error(ifname, "bind AF_PACKET socket", exc) from exc

    def _write(self, frame: bytes) -> int:
        return self._sock.send(frame)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sock.close()


def open_sender(ifname: str, *, platform: str | None = None) -> _Sender:
    """A sender of raw Ethernet frames on `ifname` for this platform."""
    validate_ifname(ifname)
    platform = sys.platform if platform is None else platform
    if platform.startswith("freebsd"):
        return BpfSender(ifname)
    if platform.startswith("linux"):
        return PacketSender(ifname)
    raise GarpError(f"{ifname}: cannot send raw frames on platform {platform!r} (FreeBSD or Linux only)")


def announce(
    ifname: str,
    mac: bytes,
    addresses,
    *,
    count: int = 5,
    interval_seconds: float = 0.0,
    sender_factory=open_sender,
    sleep=clock.sleep,
) -> int:
    """Send `count` rounds of one frame per address on `ifname`; return the
    number of frames sent. Frames are built before the interface is opened, so
    bad input fails without touching the network; nothing to send opens nothing."""
    validate_ifname(ifname)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, not {count!r}")
    if not interval_seconds >= 0:
        raise ValueError(f"interval_seconds must be >= 0, not {interval_seconds!r}")
    frames = frames_for(mac, addresses)
    if not frames or count == 0:
        return 0
    sent = 0
    with sender_factory(ifname) as sender:
        for round_number in range(count):
            if round_number and interval_seconds:
                sleep(interval_seconds)
            for frame in frames:
                sender.send(frame)
                sent += 1
    return sent


USAGE = "usage: carpha-garp [-c COUNT] [-r REPEAT] [-i SECONDS] -m MAC IFNAME ADDRESS ..."


def parse_args(argv):
    """(count, repeat, delay, mac, ifname, addresses) from carpha-garp's
    argv; ValueError with a one-line reason on anything else."""
    import getopt
    try:
        opts, args = getopt.getopt(list(argv), "c:r:i:m:")
    except getopt.GetoptError as error:
        raise ValueError(str(error)) from None
    options = dict(opts)
    if "-m" not in options:
        raise ValueError("-m MAC is required")
    count = int(options.get("-c", "5"))
    repeat = int(options.get("-r", "5"))
    delay = float(options.get("-i", "5"))
    if len(args) < 2 or not (0 <= count <= 100 and 0 <= repeat <= 100 and 0 <= delay <= 3600):
        raise ValueError("expected IFNAME and at least one ADDRESS; counts 0..100, delay 0..3600")
    return (count, repeat, delay, parse_mac(options["-m"]), validate_ifname(args[0]),
            [_as_address(a) for a in args[1:]])


def main(argv=None) -> int:
    """`carpha-garp`: announce ADDRESSes on IFNAME from MAC: COUNT frames
    each now, then (in a detached child, so the caller is not held up)
    REPEAT more after SECONDS, like keepalived's garp_master_delay/repeat.
    carpha runs it through carpha.host.runner, so a dry run prints it and the
    simulator records it."""
    import sys
    argv = sys.argv[1:] if argv is None else argv
    try:
        count, repeat, delay, mac, ifname, addresses = parse_args(argv)
    except ValueError as error:
        print(f"carpha-garp: {error}\n{USAGE}", file=sys.stderr)
        return 64
    try:
        announce(ifname, mac, addresses, count=count)
        if repeat and _detach():
            try:
                clock.sleep(delay)
                announce(ifname, mac, addresses, count=repeat)
            finally:
                os._exit(0)
    except GarpError as error:
        print(f"carpha-garp: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def _detach() -> bool:
    """Fork; True in the detached child (own session, stdio on /dev/null so
    the caller's pipes close now), False in the parent."""
    if os.fork() != 0:
        return False
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    return True


if __name__ == "__main__":
    raise SystemExit(main())
