"""GEOM Gate: ggated (server) and ggatec (client) over the simulated links.

What is modelled (reference 5; sbin/ggate/ggated/ggated.c, ggatec/ggatec.c,
shared/ggate.c):
- ggated reads the exports file, takes its pidfile, daemonizes, then binds
  the port; it opens the exported device only when a client connects, in
  a forked child per connection that keeps it open (r1w1e0 for RW) until
  the client closes the connection;
- killing the ggated listener (its pidfile pid) does NOT end the children
  already serving clients: the device stays open until they are killed
  too or their client goes away cleanly;
- a client that vanishes without closing (crash, cut link) leaves the
  server child blocked in recv() forever, still holding the disk;
- ggatec create connects, creates ggate<N> and daemonizes; its I/O
  requests queue in the kernel. -t 0 (the default, G_GATE_TIMEOUT in
  shared/ggate.h) never times out: a request to a dead peer waits until
  the device is destroyed. -t N is a sweep, not a per-request timeout:
  g_gate_guard() (sys/geom/gate/g_gate.c @37d84eaa, 13.x; reference 5.2)
  runs N s after g_gate_create() and every N s after that, and fails with
  EIO every queued request at least 5 whole seconds of uptime old; so a
  request fails ~4 s to ~N+5 s after issue, by the sweep's phase;
- `ggatec destroy -f` completes every queued request with ENXIO
  ("Request canceled.", g_gate_destroy());
- over a cut link nothing is noticed (TCP is silent); when the server
  rebooted or its child died, ggatec sees the connection drop, logs
  "Disconnected [host path]. Connecting..." and retries every 2 s; queued
  requests are resent once a connection works again.
"""

from __future__ import annotations

import ipaddress

from .gatedev import remote_disk, server, uptime_seconds, working
from .storage import apply_op

G_GATE_PORT = 3080
EXPORTS = "/etc/gg.exports"
RETRY = 2.0


def _completed(host, requests) -> None:
    for request in requests:
        if request.get("write") is not None:
            host.cluster.request_done(request["write"])


# ---------------------------------------------------------------------------
# Name resolution and exports

def resolve(cluster, target: str):
    """The host answering for an IPv4 address or a host name: a CARP
    address belongs to its current MASTER (only it answers ARP)."""
    for h in cluster.hosts.values():
        if target in (h.name, h.hostname):
            return h if h.up else None
    try:
        ipaddress.IPv4Address(target)
    except ValueError:
        return None
    for h in cluster.hosts.values():
        if not h.up:
            continue
        for ifp, a in h.all_addresses("inet"):
            if a.addr == target:
                if a.vhid == 0:
                    return h
                vh = ifp.vhids.get(a.vhid)
                if vh is not None and vh.state == "MASTER":
                    return h
    return None


def client_addresses(host) -> list:
    return [a.addr for _, a in host.all_addresses("inet") if a.vhid == 0]


def parse_exports(text: str):
    """Lines `host[/mask] RO|RW|WO path` (ggated.c line_parse). Returns
    (entries, error message)."""
    entries = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) < 3:
            return None, f"Too few arguments at line {lineno}."
        if len(words) > 3:
            return None, f"Too many arguments at line {lineno}. "
        who, flags, path = words
        if flags.lower() not in ("ro", "rd", "rw", "wo"):
            return None, f"Invalid value in flags field at line {lineno}."
        entries.append({"who": who, "flags": "ro" if flags.lower() == "rd" else flags.lower(),
                        "path": path})
    if not entries:
        return None, "There are no objects to export."
    return entries, None


def export_matches(cluster, entry, client_host) -> bool:
    who, _, mask = entry["who"].partition("/")
    addrs = client_addresses(client_host)
    try:
        network = ipaddress.IPv4Network(f"{who}/{mask or 32}", strict=False)
    except ValueError:
        h = cluster.hosts.get(who)
        return h is client_host
    return any(ipaddress.IPv4Address(a) in network for a in addrs)


# ---------------------------------------------------------------------------
# Connecting

def listener(srv, port: int):
    for pid, proc in srv.processes.items():
        if proc.get("kind") == "ggated" and proc.get("port") == port:
            return pid, proc
    return None, None


def connect(host, dev, target: str):
    """Try to (re)connect; returns None or (errno name, seconds it took)."""
    from . import geom
    cluster = host.cluster
    srv = resolve(cluster, target)
    if srv is None or not cluster.link_ok(host.name, srv.name):
        # Nobody answers: connect() waits for the TCP connection timeout
        # (net.inet.tcp.keepinit, 75 s) [unverified].
        return "Operation timed out", 75.0
    lpid, lproc = listener(srv, dev.port)
    if lproc is None:
        return "Connection refused", 0.0
    entry = None
    for e in lproc["exports"]:
        if e["path"] == dev.path and export_matches(cluster, e, host):
            entry = e
            break
    if entry is None:
        # The client only sees a failed handshake; its errno is whatever
        # was left over [unverified]: "Operation not permitted" here.
        source = (client_addresses(host) or ["0.0.0.0"])[0]
        srv.log("ggated", f"Unauthorized connection from: {source}.")
        return "Operation not permitted", 0.0
    if dev.flags == "rw" and entry["flags"] != "rw":
        return "Operation not permitted", 0.0
    prov = geom.strip_dev(dev.path)
    if prov not in srv.disks:
        srv.log("ggated", f"Cannot open {dev.path}: No such file or directory.")
        return "No such file or directory", 0.0
    write = 0 if dev.flags == "ro" else 1
    if not geom.can_open(srv, prov, 1, write, 0):
        srv.log("ggated", f"Cannot open {dev.path}: Operation not permitted.")
        return "Operation not permitted", 0.0
    # fork() without exec: the child shows the listener's argument list.
    listener_argv = srv.processes.get(lpid, {}).get("argv", ["ggated"])
    # exports_check() opened the device in the listener, and
    # connection_remove() never closes c_diskfd there (ggated.c, 2017-2023
    # SPDX revision; reference 5.1): from the first client on the listener
    # itself holds the disk until it exits.
    lproc["holds"], lproc["mode"] = prov, dev.flags
    child = srv.spawn("ggated", kind="ggated-conn", listener=lpid, client=host.name, argv=list(listener_argv),
                      client_boot=host.boot_id, holds=prov, mode=dev.flags, port=dev.port,
                      unit=dev.unit)
    dev.conn = child
    dev.remote = srv.name
    dev.remote_boot = srv.boot_id
    dev.lost = False
    dev.next_retry = None
    dev.mediasize = srv.disks[prov].mediasize
    dev.sectorsize = srv.disks[prov].sectorsize
    return None


def deliver(host, dev) -> None:
    """A working connection again: queued requests are resent."""
    if dev.pending and working(host, dev):
        disk = remote_disk(host, dev)
        done, dev.pending = dev.pending, []
        for request in done:
            if request["op"] is not None:
                apply_op(disk.content, request["op"])
        _completed(host, done)


def client_closed(srv, pid) -> bool:
    """Did the client of server child `pid` close its end (FIN), and can
    the FIN reach the server now?"""
    proc = srv.processes[pid]
    cluster = srv.cluster
    client = cluster.hosts.get(proc["client"])
    if client is None or not client.up or client.boot_id != proc["client_boot"]:
        return False        # crashed client: no FIN ever comes
    if not cluster.link_ok(srv.name, client.name):
        return False
    dev = client.ggate.get(proc["unit"])
    return dev is None or dev.conn != pid or not client.alive(dev.pid)


def refresh_server(srv) -> None:
    from . import geom
    if not srv.up:
        return
    for pid in [p for p, proc in srv.processes.items() if proc.get("kind") == "ggated-conn"]:
        if pid in srv.processes and client_closed(srv, pid):
            held = srv.processes.pop(pid)["holds"]
            geom.released(srv, held, True)


def refresh_client(host, dev) -> None:
    """Notice a dropped connection when the link lets the RST/FIN through."""
    if not host.alive(dev.pid):
        return
    srv = server(host, dev)
    if not dev.lost and srv is not None and host.cluster.link_ok(host.name, srv.name) and srv.up:
        if srv.boot_id != dev.remote_boot or not srv.alive(dev.conn):
            dev.lost = True
            host.log("ggatec", f"Disconnected [{dev.info_host} {dev.path}]. Connecting...")
            dev.next_retry = host.now()
    deliver(host, dev)


def retry(host, dev) -> None:
    """The reconnect loop of g_gatec_loop(): one attempt, then sleep 2 s."""
    error = connect(host, dev, dev.info_host)
    if error is None:
        deliver(host, dev)
        return
    dev.next_retry = host.now() + RETRY
    host.log("ggatec", f"Connecting [{dev.info_host} {dev.path}]...")


def sweep(host, dev) -> None:
    """One run of g_gate_guard(): queued requests at least 5 whole seconds
    of uptime old fail with EIO ("Request timeout."); gmirror kicks the
    component when another ACTIVE one remains (g_mirror_regular_request_error,
    disconnect_on_failure=1; reference 5.2), and the parent write completes
    successfully on the other half."""
    from . import geom
    now = host.now()
    dev.last_sweep = now
    failed = [r for r in dev.pending if uptime_seconds(host, now) - uptime_seconds(host, r["t"]) >= 5]
    if not failed:
        return
    dev.pending = [r for r in dev.pending if r not in failed]
    for _ in failed:
        host.log("kernel", "Request timeout.")      # G_GATE_LOGREQ [unverified exact prefix]
    for m in list(host.mirrors.values()):
        comp = m.component(dev.name)
        if comp is None:
            continue
        others = [c for c in m.active() if c is not comp]
        if others and int(host.sysctl.get("kern.geom.mirror.disconnect_on_failure", 1)):
            geom.disconnect(host, m, comp, broken=True)
    _completed(host, failed)


def destroy(host, dev) -> None:
    """The provider vanishes (`ggatec destroy -f`): queued requests get
    ENXIO ("Request canceled.", g_gate_destroy() in g_gate.c @37d84eaa,
    13.x); gmirror disconnects the component and bumps syncid, not genid
    (reference 5.2), and the parent writes complete on the other half."""
    from . import geom
    host.ggate.pop(dev.unit, None)
    canceled, dev.pending = dev.pending, []
    host.provider_events(dev.name, "DESTROY")
    geom.provider_gone(host, dev.name, write_failed=any(r.get("op") for r in canceled))
    if dev.pid in host.processes:
        del host.processes[dev.pid]
    _completed(host, canceled)
