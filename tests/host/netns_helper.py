"""Run inside a test network namespace (`ip netns exec NS python3 THIS ...`).

  send --lib LIB IFNAME MAC COUNT ADDRESS...
      carpha.host.garp.announce() on IFNAME with the real sender; prints the count.
  capture IFNAME EXPECT SECONDS
      prints "ready" once bound, then the hex of each incoming ARP or ICMPv6
      Neighbour Advertisement frame on IFNAME, one a line; stops after EXPECT
      frames or SECONDS, whichever comes first.

Executed as a script by tests/host/test_garp.py, never imported, so it
cannot clash with helpers of the same name elsewhere in tests/.
"""

import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # linux/if_packet.h: a frame this host sent
MAX_FRAMES_READ = 10000


def send(lib, ifname, mac, count, addresses):
    sys.path.insert(0, lib)
    from carpha.host import garp

    sent = garp.announce(ifname, garp.parse_mac(mac), addresses, count=int(count))
    print(sent, flush=True)
    return 0


def is_announcement(frame):
    if frame[12:14] == b"\x08\x06":
        return True
    # IPv6 (0x86dd), next header 58 (ICMPv6) at byte 20, ICMPv6 type 136 at 54.
    return len(frame) > 54 and frame[12:14] == b"\x86\xdd" and frame[20] == 58 and frame[54] == 136


def capture(ifname, expect, seconds):
    expect, deadline = int(expect), time.monotonic() + float(seconds)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind((ifname, ETH_P_ALL))
        print("ready", flush=True)
        found = 0
        for _ in range(MAX_FRAMES_READ):
            remaining = deadline - time.monotonic()
            if found >= expect or remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                frame, address = sock.recvfrom(65535)
            except socket.timeout:
                break
            if address[0] == ifname and address[2] != PACKET_OUTGOING and is_announcement(frame):
                print(frame.hex(), flush=True)
                found += 1
    return 0


def main(argv):
    if argv[:1] == ["send"] and len(argv) >= 7 and argv[1] == "--lib":
        return send(argv[2], argv[3], argv[4], argv[5], argv[6:])
    if argv[:1] == ["capture"] and len(argv) == 4:
        return capture(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
