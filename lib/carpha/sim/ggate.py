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
  requests queue in the kernel: -t N fails requests older than N s with
  EIO, -t 0 (the default) never times out;
- over a cut link nothing is noticed (TCP is silent); when the server
  rebooted or its child died, ggatec sees the connection drop, logs
  "Disconnected [host path]. Connecting..." and retries every 2 s; queued
  requests are resent once a connection works again.
"""

from __future__ import annotations

import ipaddress

from .storage import INF, apply_op

G_GATE_PORT = 3080
EXPORTS = "/etc/gg.exports"
RETRY = 2.0


def dev_by_name(host, prov: str):
    if prov.startswith("ggate") and prov[5:].isdigit():
        return host.ggate.get(int(prov[5:]))
    return None


def server(host, dev):
    return host.cluster.hosts.get(dev.remote)


def remote_disk(host, dev):
    srv = server(host, dev)
    proc = srv.processes.get(dev.conn) if srv is not None else None
    if proc is None:
        return None
    return srv.disks.get(proc["holds"])


def working(host, dev) -> bool:
    srv = server(host, dev)
    return (host.alive(dev.pid) and not dev.lost and srv is not None and srv.up
            and srv.boot_id == dev.remote_boot and srv.alive(dev.conn)
            and host.cluster.link_ok(host.name, srv.name))


def submit(host, dev, op) -> float:
    """Queue one request; returns how long its issuer waits (0, -t, INF)."""
    if working(host, dev):
        apply_op(remote_disk(host, dev).content, op)
        return 0.0
    dev.pending.append({"t": host.now(), "op": op})
    return float(dev.timeout) if dev.timeout > 0 else INF


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
        for request in dev.pending:
            if request["op"] is not None:
                apply_op(disk.content, request["op"])
        dev.pending = []


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


def request_timeouts(host, dev):
    if dev.timeout <= 0 or not dev.pending:
        return None
    return min(r["t"] for r in dev.pending) + dev.timeout


def fail_requests(host, dev) -> None:
    """g_gate_guard(): requests older than -t fail with EIO; gmirror kicks
    the component when another ACTIVE one remains."""
    from . import geom
    dev.pending = []
    for m in list(host.mirrors.values()):
        comp = m.component(dev.name)
        if comp is None:
            continue
        others = [c for c in m.active() if c is not comp]
        if others and int(host.sysctl.get("kern.geom.mirror.disconnect_on_failure", 1)):
            geom.disconnect(host, m, comp, broken=True)


def destroy(host, dev) -> None:
    """The provider vanishes (ggatec destroy / crash): ENXIO to consumers."""
    from . import geom
    host.ggate.pop(dev.unit, None)
    dev.pending = []
    host.devd(f"!system=DEVFS subsystem=CDEV type=DESTROY cdev={dev.name}")
    host.devd(f"!system=GEOM subsystem=DEV type=DESTROY cdev={dev.name}")
    geom.provider_gone(host, dev.name)
    if dev.pid in host.processes:
        del host.processes[dev.pid]
