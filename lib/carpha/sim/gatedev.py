"""A ggate<N> device in the client's kernel (sys/geom/gate/g_gate.c), as
the GEOM side sees it: found by provider name, working while its ggatec
daemon, the link and the server's ggated child are all there, requests
applied at once or queued, and when g_gate_guard() next sweeps the queue
(the -t rule is described in carpha.sim.ggate, which connects, delivers,
sweeps and destroys these devices)."""

from __future__ import annotations

import math

from .storage import apply_op


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


def submit(host, dev, op, write=None) -> bool:
    """One request: True when it completed at once, False when it waits in
    the queue (`write`: the cluster's pending write it belongs to)."""
    if working(host, dev):
        apply_op(remote_disk(host, dev).content, op)
        return True
    dev.pending.append({"t": host.now(), "op": op, "write": write})
    return False


def uptime_seconds(host, t: float) -> int:
    """time_uptime (whole seconds since boot) at wall-clock time `t`."""
    return int(t - host.booted_at)


def next_sweep(host, dev):
    """When g_gate_guard() next fails something, or None: the first run of
    the callout (armed at create, every -t seconds) at or after the oldest
    queued request, and after the last sweep already run."""
    if dev.timeout <= 0 or not dev.pending or dev.created is None:
        return None
    period = float(dev.timeout)
    oldest = min(r["t"] for r in dev.pending)
    k = max(1, math.ceil((oldest - dev.created) / period))
    at = dev.created + k * period
    if dev.last_sweep is not None and at <= dev.last_sweep:
        at = dev.last_sweep + period
    # Only requests at least 5 s of uptime old are failed (g_gate_guard()):
    # skip runs that would find none.
    while uptime_seconds(host, at) - uptime_seconds(host, oldest) < 5:
        at += period
    return at
