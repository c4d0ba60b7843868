"""carpha.host.garp: frame bytes against hand-checked hex, validation, announce()
rounds with a fake sender, the BPF sender against fake syscalls, and the real
Linux sender between two network namespaces joined by a veth pair."""

import errno
import ipaddress
import json
import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from carpha import clock
from carpha.host import garp
from carpha.exits import NOPERM

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib")
HELPER = os.path.join(HERE, "netns_helper.py")

MAC = bytes.fromhex("589cfc020002")            # 58:9c:fc:02:00:02
VMAC = bytes.fromhex("00005e00010a")           # CARP virtual MAC, vhid 10
V4 = ipaddress.IPv4Address("192.0.2.10")
V6 = ipaddress.IPv6Address("2001:db8::10")

# Written out by hand from RFC 826 / RFC 5227 3 (not produced by garp.py).
GARP_REQUEST_HEX = (
    "ffffffffffff"   # Ethernet dst: broadcast
    "589cfc020002"   # Ethernet src: 58:9c:fc:02:00:02
    "0806"           # ethertype ARP
    "0001"           # htype 1 Ethernet
    "0800"           # ptype IPv4
    "06"             # hlen
    "04"             # plen
    "0001"           # oper 1 request (ARP Announcement)
    "589cfc020002"   # sha
    "c000020a"       # spa 192.0.2.10
    "000000000000"   # tha zero
    "c000020a"       # tpa 192.0.2.10 = spa
)

# The same as a gratuitous reply: oper 2 and tha = sha (RFC 5944 4.6; Linux
# arp_is_garp() ignores replies whose tha differs from sha).
GARP_REPLY_HEX = (
    "ffffffffffff" "589cfc020002" "0806"
    "0001" "0800" "06" "04"
    "0002"           # oper 2 reply
    "589cfc020002" "c000020a"
    "589cfc020002"   # tha = sha
    "c000020a"
)

# Unsolicited NA, RFC 4861 4.4 / 7.2.6, written out by hand.
# Checksum worked by hand (RFC 1071 over the RFC 8200 8.1 pseudo-header and
# the message with a zero checksum field): 16-bit words sum to 0x35990,
# folded 0x5990 + 0x3 = 0x5993, complement 0xa66c. Re-checked below by
# _rfc1071(), which shares no code with garp.py.
NA_HEX = (
    "333300000001"   # Ethernet dst: 33:33 + low 32 bits of ff02::1 (RFC 2464 7)
    "589cfc020002"   # Ethernet src
    "86dd"           # ethertype IPv6
    "60000000"       # version 6, traffic class 0, flow label 0
    "0020"           # payload length 32 (24 NA + 8 option)
    "3a"             # next header 58 ICMPv6
    "ff"             # hop limit 255
    "20010db8000000000000000000000010"  # src 2001:db8::10 (the target itself)
    "ff020000000000000000000000000001"  # dst ff02::1 all-nodes
    "88"             # type 136 Neighbor Advertisement
    "00"             # code 0
    "a66c"           # checksum
    "20000000"       # R=0 S=0 O=1, reserved 0
    "20010db8000000000000000000000010"  # target 2001:db8::10
    "02"             # option type 2 Target Link-Layer Address
    "01"             # option length 1 (8 octets)
    "589cfc020002"   # link-layer address
)


def _rfc1071(data: bytes) -> int:
    """Internet checksum, the plain loop from RFC 1071 4.1."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def _icmpv6_checksum_ok(frame: bytes) -> bool:
    src, dst, icmp = frame[22:38], frame[38:54], frame[54:]
    pseudo = src + dst + len(icmp).to_bytes(4, "big") + b"\x00\x00\x00\x3a"
    return _rfc1071(pseudo + icmp) == 0   # a correct checksum makes the sum 0xffff


# --- pure frames -------------------------------------------------------------

def test_garp_frame_matches_hand_checked_request():
    assert garp.garp_frame(MAC, V4) == bytes.fromhex(GARP_REQUEST_HEX)
    assert len(bytes.fromhex(GARP_REQUEST_HEX)) == 42


def test_garp_frame_reply_sets_tha_to_sender():
    assert garp.garp_frame(MAC, V4, op=2) == bytes.fromhex(GARP_REPLY_HEX)


@pytest.mark.parametrize("op", [0, 3, "1", None, True])
def test_garp_frame_rejects_other_ops(op):
    with pytest.raises(ValueError):
        garp.garp_frame(MAC, V4, op=op)


def test_hand_checked_na_checksum_is_valid_by_independent_rfc1071():
    frame = bytes.fromhex(NA_HEX)
    assert _icmpv6_checksum_ok(frame)
    zeroed = frame[54:56] + b"\x00\x00" + frame[58:]
    pseudo = frame[22:54] + (32).to_bytes(4, "big") + b"\x00\x00\x00\x3a"
    assert _rfc1071(pseudo + zeroed) == 0xA66C


def test_unsolicited_na_frame_matches_hand_checked_frame():
    assert garp.unsolicited_na_frame(MAC, V6) == bytes.fromhex(NA_HEX)


def test_unsolicited_na_frame_parses_back_field_by_field():
    frame = garp.unsolicited_na_frame(VMAC, ipaddress.IPv6Address("2001:db8:5::a"))
    assert len(frame) == 86
    dst, src, ethertype = struct.unpack("!6s6sH", frame[:14])
    assert (dst, src, ethertype) == (bytes.fromhex("333300000001"), VMAC, 0x86DD)
    vtcfl, plen, nxt, hlim = struct.unpack("!IHBB", frame[14:22])
    assert vtcfl >> 28 == 6 and vtcfl & 0x0FFFFFFF == 0
    assert (plen, nxt, hlim) == (32, 58, 255)
    assert ipaddress.IPv6Address(frame[22:38]) == ipaddress.IPv6Address("2001:db8:5::a")
    assert ipaddress.IPv6Address(frame[38:54]) == ipaddress.IPv6Address("ff02::1")
    icmp_type, code, _checksum, flags = struct.unpack("!BBHI", frame[54:62])
    assert (icmp_type, code) == (136, 0)
    assert flags & 0x80000000 == 0            # Router clear
    assert flags & 0x40000000 == 0            # Solicited clear (7.2.6)
    assert flags & 0x20000000                 # Override set
    assert flags & 0x1FFFFFFF == 0            # reserved
    assert ipaddress.IPv6Address(frame[62:78]) == ipaddress.IPv6Address("2001:db8:5::a")
    opt_type, opt_len = frame[78], frame[79]
    assert (opt_type, opt_len, frame[80:86]) == (2, 1, VMAC)
    assert _icmpv6_checksum_ok(frame)


@pytest.mark.parametrize("mac", [MAC, VMAC, bytes.fromhex("020000000001")])
@pytest.mark.parametrize("ip", ["2001:db8::10", "2001:db8:ffff::ffff", "fe80::1", "2001:db8::"])
def test_unsolicited_na_checksum_verifies_for_various_inputs(mac, ip):
    assert _icmpv6_checksum_ok(garp.unsolicited_na_frame(mac, ipaddress.IPv6Address(ip)))


def test_frames_reject_the_wrong_family():
    with pytest.raises(ValueError):
        garp.garp_frame(MAC, V6)
    with pytest.raises(ValueError):
        garp.unsolicited_na_frame(MAC, V4)


@pytest.mark.parametrize("mac", [b"\x58\x9c\xfc\x02\x00", MAC + b"\x00", "58:9c:fc:02:00:02",
                                 bytes.fromhex("333300000001"), bytes.fromhex("ffffffffffff")])
def test_frames_reject_bad_or_multicast_source_macs(mac):
    with pytest.raises(ValueError):
        garp.garp_frame(mac, V4)
    with pytest.raises(ValueError):
        garp.unsolicited_na_frame(mac, V6)


@pytest.mark.parametrize("address", ["224.0.0.1", "0.0.0.0", "255.255.255.255", "ff02::1", "::", "not-an-ip", 42])
def test_frames_for_rejects_addresses_that_cannot_be_announced(address):
    with pytest.raises(ValueError):
        garp.frames_for(MAC, [address])


def test_frames_for_keeps_order_and_family_and_drops_duplicates():
    frames = garp.frames_for(MAC, ["2001:db8::10", V4, ipaddress.ip_interface("192.0.2.10/32"), V6])
    assert frames == [bytes.fromhex(NA_HEX), bytes.fromhex(GARP_REQUEST_HEX)]
    assert garp.frames_for(MAC, []) == []


# --- parsing and validation --------------------------------------------------

def test_parse_mac_accepts_either_case():
    assert garp.parse_mac("58:9c:fc:02:00:02") == MAC
    assert garp.parse_mac("58:9C:FC:02:00:02") == MAC
    assert garp.parse_mac("00:00:5e:00:01:0a") == VMAC


@pytest.mark.parametrize("text", [
    "", "58:9c:fc:02:00", "58:9c:fc:02:00:02:03", "58-9c-fc-02-00-02", "589cfc020002",
    "58:9c:fc:2:0:2", "58:9c:fc:02:00:0g", "58:9c:fc:02:00:02\n", " 58:9c:fc:02:00:02",
    "58:9c:fc:02:00:+2", "５8:9c:fc:02:00:02", MAC, None,
])
def test_parse_mac_rejects_anything_else(text):
    with pytest.raises(ValueError):
        garp.parse_mac(text)


@pytest.mark.parametrize("name", ["em0", "vtnet0", "vlan0.100", "igb0_1", "a" * 15, "A"])
def test_validate_ifname_accepts_interface_names(name):
    assert garp.validate_ifname(name) == name


BAD_IFNAMES = ["em0;reboot", "", "a" * 16, "a" * 40, "0em", "em 0", "../dev/bpf", "em0\n",
               "ém0", "em0\x00", "-em0", None, b"em0"]


@pytest.mark.parametrize("name", BAD_IFNAMES)
def test_validate_ifname_rejects_unsafe_names(name):
    with pytest.raises(ValueError):
        garp.validate_ifname(name)


# --- the FreeBSD sender against fake syscalls --------------------------------

def _iow(group: str, num: int, size: int) -> int:
    # sys/sys/ioccom.h: IOC_IN | (len & IOCPARM_MASK) << 16 | group << 8 | num
    return 0x80000000 | (size & 0x1FFF) << 16 | ord(group) << 8 | num


class FakeSyscalls:
    """Stands in for the `os` and `fcntl` modules inside carpha.host.garp."""

    O_RDWR = os.O_RDWR
    O_CLOEXEC = os.O_CLOEXEC

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def _call(self, *call):
        self.calls.append(call)
        if call[0] in self.fail:
            raise OSError(self.fail[call[0]], os.strerror(self.fail[call[0]]))

    def open(self, path, flags):
        self._call("open", path, flags)
        return 7

    def ioctl(self, fd, request, arg):
        self._call("ioctl", fd, request, bytes(arg))
        return arg

    def write(self, fd, data):
        self._call("write", fd, bytes(data))
        return len(data)

    def close(self, fd):
        self._call("close", fd)


@pytest.fixture
def fake_bpf(monkeypatch):
    def install(**fail):
        fake = FakeSyscalls({k: v for k, v in fail.items()})
        monkeypatch.setattr(garp, "os", fake)
        monkeypatch.setattr(garp, "fcntl", fake)
        return fake
    return install


def test_bpf_sender_binds_sets_header_complete_and_writes_whole_frames(fake_bpf):
    fake = fake_bpf()
    frame = bytes.fromhex(GARP_REQUEST_HEX)
    with garp.open_sender("em0", platform="freebsd14") as sender:
        sender.send(frame)
    assert fake.calls == [
        ("open", "/dev/bpf", os.O_RDWR | os.O_CLOEXEC),
        ("ioctl", 7, _iow("B", 108, 32), b"em0" + b"\x00" * 29),   # BIOCSETIF, struct ifreq
        ("ioctl", 7, _iow("B", 117, 4), struct.pack("I", 1)),      # BIOCSHDRCMPLT = 1
        ("write", 7, frame),
        ("close", 7),
    ]


def test_bpf_constants_match_the_ioccom_encoding():
    assert garp.BIOCSETIF == _iow("B", 108, 32) == 0x8020426C
    assert garp.BIOCSHDRCMPLT == _iow("B", 117, 4) == 0x80044275


def test_bpf_sender_names_interface_and_step_when_biocsetif_fails(fake_bpf):
    fake = fake_bpf(ioctl=errno.ENXIO)
    with pytest.raises(garp.GarpError, match=r"^em9: BIOCSETIF on /dev/bpf: ") as caught:
        garp.open_sender("em9", platform="freebsd13")
    assert "\n" not in str(caught.value)
    assert fake.calls[-1] == ("close", 7)


def test_bpf_sender_maps_permission_denied_to_noperm(fake_bpf):
    fake_bpf(open=errno.EACCES)
    with pytest.raises(garp.GarpError, match=r"^em0: open /dev/bpf: ") as caught:
        garp.open_sender("em0", platform="freebsd14")
    assert caught.value.exit_code == NOPERM


def test_bpf_sender_reports_write_failure(fake_bpf):
    fake_bpf(write=errno.ENETDOWN)
    with garp.open_sender("em0", platform="freebsd14") as sender:
        with pytest.raises(garp.GarpError, match=r"^em0: write to /dev/bpf: "):
            sender.send(bytes.fromhex(GARP_REQUEST_HEX))


def test_sender_refuses_to_send_after_close(fake_bpf):
    fake_bpf()
    sender = garp.open_sender("em0", platform="freebsd14")
    sender.close()
    sender.close()   # idempotent
    with pytest.raises(garp.GarpError, match="closed"):
        sender.send(b"x")


@pytest.mark.parametrize("name", BAD_IFNAMES)
@pytest.mark.parametrize("platform", ["freebsd14", "linux", "darwin"])
def test_open_sender_validates_name_before_any_syscall(fake_bpf, monkeypatch, name, platform):
    fake = fake_bpf()

    def no_socket(*args, **kwargs):
        raise AssertionError("socket() called before validation")

    monkeypatch.setattr(socket, "socket", no_socket)
    with pytest.raises(ValueError):
        garp.open_sender(name, platform=platform)
    assert fake.calls == []


def test_open_sender_refuses_other_platforms_clearly():
    with pytest.raises(garp.GarpError, match=r"^em0: .*'darwin'.*FreeBSD or Linux"):
        garp.open_sender("em0", platform="darwin")


def test_linux_sender_binds_the_interface_and_sends(monkeypatch):
    calls = []

    class FakeSocket:
        def __init__(self, family, kind, proto):
            calls.append(("socket", family, kind, proto))

        def bind(self, address):
            calls.append(("bind", address))

        def send(self, data):
            calls.append(("send", data))
            return len(data)

        def close(self):
            calls.append(("close",))

    monkeypatch.setattr(socket, "socket", FakeSocket)
    with garp.open_sender("eth0", platform="linux") as sender:
        sender.send(b"frame")
    assert calls == [("socket", socket.AF_PACKET, socket.SOCK_RAW, 0), ("bind", ("eth0", 0)),
                     ("send", b"frame"), ("close",)]


# --- announce ----------------------------------------------------------------

class Recorder:
    """A fake sender factory and sleep sharing one event log."""

    def __init__(self, fail_on_send=None):
        self.events = []
        self.fail_on_send = fail_on_send

    def factory(self, ifname):
        self.events.append(("open", ifname))
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.events.append(("close",))

    def send(self, frame):
        if self.fail_on_send is not None and len([e for e in self.events if e[0] == "send"]) == self.fail_on_send:
            raise garp.GarpError("em0: write to /dev/bpf: Network is down")
        self.events.append(("send", frame))

    def sleep(self, seconds):
        self.events.append(("sleep", seconds))


def test_announce_sends_count_rounds_and_sleeps_only_between_them():
    rec = Recorder()
    sent = garp.announce("em0", MAC, [V4, V6], count=3, interval_seconds=0.5,
                         sender_factory=rec.factory, sleep=rec.sleep)
    arp, na = ("send", bytes.fromhex(GARP_REQUEST_HEX)), ("send", bytes.fromhex(NA_HEX))
    assert sent == 6
    assert rec.events == [("open", "em0"), arp, na, ("sleep", 0.5), arp, na, ("sleep", 0.5), arp, na, ("close",)]


def test_announce_defaults_to_five_frames_per_address_without_sleeping():
    rec = Recorder()
    assert garp.announce("em0", VMAC, ["192.0.2.10"], sender_factory=rec.factory, sleep=rec.sleep) == 5
    assert [e[0] for e in rec.events] == ["open"] + ["send"] * 5 + ["close"]


def test_announce_default_sleep_goes_through_carpha_clock():
    class FakeClock:
        def __init__(self):
            self.t, self.slept = 1000.0, []

        def now(self):
            return self.t

        def monotonic(self):
            return self.t

        def sleep(self, seconds):
            self.slept.append(seconds)
            self.t += seconds

    fake, rec = FakeClock(), Recorder()
    previous = clock.use(fake)
    try:
        assert garp.announce("em0", MAC, [V4], count=3, interval_seconds=5.0, sender_factory=rec.factory) == 3
    finally:
        clock.use(previous)
    assert fake.slept == [5.0, 5.0]


@pytest.mark.parametrize("count, addresses", [(0, [V4]), (3, [])])
def test_announce_with_nothing_to_send_opens_nothing(count, addresses):
    rec = Recorder()
    assert garp.announce("em0", MAC, addresses, count=count, sender_factory=rec.factory, sleep=rec.sleep) == 0
    assert rec.events == []


@pytest.mark.parametrize("kwargs", [
    {"ifname": "em0;reboot"}, {"count": -1}, {"count": 1.5}, {"count": True},
    {"interval_seconds": -1}, {"interval_seconds": float("nan")},
    {"addresses": ["192.0.2.10", "224.0.0.18"]}, {"mac": b"\x01" * 6},
])
def test_announce_rejects_bad_input_before_opening_the_interface(kwargs):
    rec = Recorder()
    args = {"ifname": "em0", "mac": MAC, "addresses": [V4], **kwargs}
    with pytest.raises(ValueError):
        garp.announce(args.pop("ifname"), args.pop("mac"), args.pop("addresses"),
                      sender_factory=rec.factory, sleep=rec.sleep, **args)
    assert rec.events == []


def test_announce_closes_the_sender_when_a_send_fails():
    rec = Recorder(fail_on_send=3)
    with pytest.raises(garp.GarpError):
        garp.announce("em0", MAC, [V4, V6], count=5, interval_seconds=1.0,
                      sender_factory=rec.factory, sleep=rec.sleep)
    assert [e[0] for e in rec.events] == ["open", "send", "send", "sleep", "send", "close"]


def test_module_imports_only_cheap_stdlib():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules); "
            "import carpha.host.garp; print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-S", "-c", code, LIB], capture_output=True, text=True,
                         timeout=10, check=True).stdout.split()
    heavy = {"socket", "subprocess", "logging", "re", "selectors", "threading", "asyncio"}
    assert not heavy & set(out), out


# --- real frames between two network namespaces (Linux, root) ----------------

def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=5, check=check)


@pytest.fixture
def netns_pair(request):
    """Two fresh namespaces joined by a veth pair created directly inside them,
    so nothing ever exists in the caller's namespace; both are deleted by the
    finalizer, which takes the veth pair with them."""
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux network namespaces")
    if os.geteuid() != 0:
        pytest.skip("needs root for ip netns and AF_PACKET")
    if shutil.which("ip") is None:
        pytest.skip("needs the ip command (iproute2)")
    tag = f"{os.getpid()}-{secrets.token_hex(3)}"
    ns_a, ns_b = f"carpha-garp-a-{tag}", f"carpha-garp-b-{tag}"
    if_a, if_b = f"ga{os.getpid() % 10**6}", f"gb{os.getpid() % 10**6}"
    created = []

    def teardown():
        for ns in reversed(created):
            _ip("netns", "del", ns, check=False)

    request.addfinalizer(teardown)
    probe = _ip("netns", "add", ns_a, check=False)
    if probe.returncode != 0:
        pytest.skip(f"ip netns unavailable: {probe.stderr.strip()}")
    created.append(ns_a)
    _ip("netns", "add", ns_b)
    created.append(ns_b)
    _ip("link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
    for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
        # No link-local address: keeps DAD and router solicitations off the wire.
        _ip("-n", ns, "link", "set", "dev", ifname, "addrgenmode", "none")
        _ip("-n", ns, "link", "set", "dev", ifname, "up")
    mac = bytes.fromhex(json.loads(_ip("-n", ns_a, "-j", "link", "show", "dev", if_a).stdout)[0]["address"].replace(":", ""))
    # The peer already knows both addresses at a stale MAC, as a switch or
    # router would after a failover; the announcements must override it.
    _ip("-n", ns_b, "addr", "add", "192.0.2.20/24", "dev", if_b)
    _ip("-n", ns_b, "addr", "add", "2001:db8::20/64", "dev", if_b, "nodad")
    for address in ("192.0.2.10", "2001:db8::10"):
        _ip("-n", ns_b, "neigh", "replace", address, "lladdr", "02:00:00:00:00:99", "dev", if_b, "nud", "stale")
    return ns_a, if_a, ns_b, if_b, mac


def _neighbour_lladdr(ns, ifname, address):
    entries = json.loads(_ip("-n", ns, "-j", "neigh", "show", "to", address, "dev", ifname).stdout or "[]")
    return entries[0].get("lladdr") if entries else None


def _send_in(ns, ifname, mac, count, *addresses):
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, HELPER, "send", "--lib", LIB,
                           ifname, mac.hex(":"), str(count), *addresses],
                          capture_output=True, text=True, timeout=5)


def test_announce_on_a_veth_delivers_exact_frames_that_the_peer_kernel_accepts(netns_pair):
    ns_a, if_a, ns_b, if_b, mac = netns_pair
    expected = [garp.garp_frame(VMAC, V4), garp.unsolicited_na_frame(VMAC, V6)]
    expected += [garp.garp_frame(mac, V4), garp.unsolicited_na_frame(mac, V6)] * 2
    capture = subprocess.Popen(["ip", "netns", "exec", ns_b, sys.executable, HELPER, "capture",
                                if_b, str(len(expected)), "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        readable, _, _ = select.select([capture.stdout], [], [], 3)
        assert readable and capture.stdout.readline().strip() == "ready", capture.stderr
        # First as CARP would (virtual MAC), then from the veth's own MAC.
        for source, count in ((VMAC, 1), (mac, 2)):
            sent = _send_in(ns_a, if_a, source, count, "192.0.2.10", "2001:db8::10")
            assert sent.returncode == 0, sent.stderr
            assert sent.stdout.strip() == str(2 * count)
        out, err = capture.communicate(timeout=5)
        assert capture.returncode == 0, err
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait(timeout=5)
    assert [bytes.fromhex(line) for line in out.split()] == expected
    # The peer's kernel validated them (ARP sanity, hop limit 255, ICMPv6
    # checksum, the option) and moved both neighbour entries to the new MAC.
    want = mac.hex(":")
    for _ in range(20):
        found = [_neighbour_lladdr(ns_b, if_b, a) for a in ("192.0.2.10", "2001:db8::10")]
        if found == [want, want]:
            break
        time.sleep(0.05)
    assert found == [want, want]


def test_real_sender_on_a_missing_interface_fails_with_one_clear_line(netns_pair):
    ns_a = netns_pair[0]
    sent = _send_in(ns_a, "nosuch0", MAC, 1, "192.0.2.10")
    assert sent.returncode != 0
    assert "GarpError: nosuch0: bind AF_PACKET socket: No such device" in sent.stderr
