"""The real-kernel lab for the network half of a failover (Linux, root).

Not used by carpha on FreeBSD; `tests/lab/` and `bench/lab.py` drive it.

Topology (`Topology`): one network namespace per machine - serverA,
serverB, serverC (the witness) and a client - each with an `em0` veth whose
peer is a port of bridge `br0` in a switch namespace of its own, so nothing
is created in the caller's namespace. Documentation addresses only
(192.0.2.0/24). Every name starts with PREFIX; `cleanup_leftovers()` kills
the processes still running in such namespaces (by pid, from `ip netns
pids`) and deletes them, and `Topology.close()` does the same for its own.

The host adapter (carpha.lab.adapter): the FreeBSD commands carpha runs,
as executables first on its PATH, each a small client of one server
(`python -m carpha.lab.harness adapter SIM_DIR`, in the switch namespace)
that keeps the simulator loaded (state in $CARPHA_SIM_DIR). For each
command the server takes the simulator's lock, copies the real kernel's view into it (em0's addresses,
MAC and carrier; the vhid's state as ucarp last reported it, INIT without
carrier as carp_sc_state() does on FreeBSD), runs the simulator's own
command - so `ifconfig` keeps FreeBSD's strict syntax, error texts and exit
codes (lib/carpha/sim/commands/network.py) - and then applies what the
command changed back to the real world:
- addresses added or removed on em0 -> `ip addr add|del` in the namespace
  (IPv6 with `nodad`: DAD is not part of what the lab measures);
- a jail that started or stopped -> a real HTTP server process on the
  group's addresses (`serve`), which acknowledges a POST only once the
  simulated mirror has the write (Cluster.write).
`carpha-garp` runs the real carpha.host.garp (AF_PACKET on Linux); `ping`
translates FreeBSD's `-t timeout` to Linux's `-w` and Linux's exit 1 (no
reply) to FreeBSD's 2 (sbin/ping/ping.8). gmirror, ggate, mount, jail and
the rest stay simulated.

devd (carpha.lab.adapter.write_devd_script): ucarp's up/down script, a
small Python program (builtin modules only, as the client). It records the
state for the adapter, then runs the action of the shipped devd/carpha.conf
rule that devd selects for `system=CARP subsystem=<vhid>@em0 type=<STATE>`
(chosen when the lab is built, as devd parses its rules at start),
expanded as devd does, through `/bin/sh -c`, with devd's PATH. The raw expansion of the older
devd is used: Debian's /bin/sh (dash 0.5.12) has no `$'...'` quoting,
which the newer devd's shell_quote() relies on (FreeBSD's sh has it).
"""

# The docstring above is also the usage text (main). The lab's modules:
# netns (the topology), adapter (the host adapter and devd), service (the
# jail's HTTP service and the client), measure (sampling, link death),
# sites (Site, WitnessSite) and movers (keepalived, bare ucarp).

from __future__ import annotations

import sys

from .adapter import serve_commands
from .measure import sample
from .service import probe, serve


def main(argv) -> int:
    if argv[:1] == ["adapter"] and len(argv) == 2:
        return serve_commands(argv[1])
    if argv[:1] == ["serve"] and len(argv) >= 4:
        return serve(*argv[1:])
    if argv[:1] == ["probe"] and len(argv) >= 3:
        return probe(*argv[1:])
    if argv[:1] == ["sample"] and len(argv) == 5:
        return sample(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
