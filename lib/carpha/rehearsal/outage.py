"""Where a takeover's outage goes, crash to the first client write the new
master acknowledges: marks on what the new master has (checked after every
command), then the parts (detection, decision, mirror, fsck, mount,
gate_wait, announce, jails, first_write). master-crash-watchdog and
bench/bench_watchdog.py report them."""

from __future__ import annotations

from .harness import WRITE_EVERY, Rehearsal
from .steps import first_time, steady_state


def watch_takeover(r: Rehearsal, node: str) -> None:
    """Marks for takeover_parts, on what `node` has (checked after every command)."""
    state = lambda: r.node_state(node)      # noqa: E731
    r.mark_when("mounted", lambda: bool(state()["mounts"]))
    r.mark_when("addressed", lambda: bool(state()["addresses"]))
    r.mark_when("served", lambda: r.serving() == [node])
    before = len(r.cluster.acknowledged)
    r.mark_when("first acknowledged write",
                lambda: any(b.startswith(f"{node}:") for b in r.cluster.acknowledged[before:]))


def takeover_parts(r: Rehearsal, node: str, since: float) -> dict:
    """Where the outage went after the fault at `since`: detection (to
    devd's MASTER event on `node`), decision (the worker until its first
    storage command: settle, the lease, the claim), mirror (until the
    kernel launches it: its /dev/mirror node appears), fsck, mount (until
    mounted), gate_wait (until the first address), announce (gratuitous ARP
    until the first jail starts), jails (until the first jail runs),
    first_write (until the client's next write is acknowledged there). From
    the simulated world (watch_takeover) and the commands' start times."""
    mine = [e for e in r.timeline if e["node"] == node and e["t"] >= since - r.t0 - 1e-9]

    def ran(prefix):
        return next((e["t"] + r.t0 for e in mine if e["event"] == "run" and e["detail"].startswith(prefix)), None)

    def mark(name):
        return r.marks.get(name, (None, None))[1]
    def devd(words):
        return next((e["t"] + r.t0 for e in mine if e["event"] == "devd" and words in e["detail"]), None)
    points = [("detection", devd(f"system=CARP subsystem={r.group.carp.subsystem} type=MASTER")),
              ("decision", ran(("pkill", "kenv", "kldload"))),
              ("mirror", devd(f"system=DEVFS subsystem=CDEV type=CREATE cdev=mirror/{r.group.storage.mirror}")),
              ("fsck", ran("mount ")), ("mount", mark("mounted")), ("gate_wait", mark("addressed")),
              ("announce", ran("service jail onestart")), ("jails", mark("served")),
              ("first_write", mark("first acknowledged write"))]
    parts, previous = {}, since
    for name, at in points:
        if at is not None:
            parts[name] = round(at - previous, 3)
            previous = at
    return parts


def crash_and_time(r: Rehearsal) -> tuple:
    steady_state(r)
    master, peer = r.pair()
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.record(master, "scenario", "crash (power cut)")
    crashed = r.sim_clock.now()
    watch_takeover(r, peer)
    r.cluster.crash(master)
    # To the first client write the new master acknowledges, not merely to
    # its jails starting (the client writes every WRITE_EVERY seconds).
    mark = "first acknowledged write"
    first_time(r, lambda: r.marks[mark][1] is not None, 90, WRITE_EVERY / 5)
    return crashed, r.seconds_until(mark, crashed)
