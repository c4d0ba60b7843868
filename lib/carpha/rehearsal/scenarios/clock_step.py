"""The `clock-step` scenario of `carpha simulate`: what it rehearses is run()'s docstring."""

from __future__ import annotations

from ..harness import Rehearsal
from ..steps import first_time, steady_state


def run(r: Rehearsal) -> dict:
    """serverA (preferred) power-cycles and boots demoted (boot-hold); then
    ntpd steps its clock by an hour, which moves kern.boottime (kern_tc.c
    tc_setclock()). carpha's share of serverA's demotion stays exactly
    DEMOTION through the hold (never added twice), is removed once serverB
    records serverA's half in sync (not before, and not forgotten), and
    serverA takes the group back."""
    from ...safety import maintenance
    steady_state(r)
    master, peer = r.pair()
    host = r.cluster[master]
    first_time(r, lambda: r.mirror_complete(master), 240, 1.0)
    r.run_for(3)
    r.cluster.resync_rate = 2 * 1024 * 1024       # a slow resync: the hold lasts a while
    r.record(master, "scenario", "reboot (power cycle)")
    r.cluster.crash(master)
    first_time(r, lambda: r.serving() == [peer], 60)
    r.run_for(20)                                  # serverB writes: serverA's disk falls behind
    r.boot(master)
    highest = {"demotion": 0}

    def demotion():
        return int(host.sysctl["net.inet.carp.demotion"]) if host.up else None

    def doubled() -> bool:
        now = demotion() or 0
        highest["demotion"] = max(highest["demotion"], now)
        return now > maintenance.DEMOTION

    at_boot = demotion()
    r.mark_when("doubled", doubled)
    r.mark_when("released", lambda: demotion() == 0)
    r.mark_when("recorded in sync", lambda: r.saved_state(peer).replica_in_sync)
    r.run_for(5)
    r.record(master, "scenario", "ntpd steps the clock by +3600 s (kern.boottime moves with it)")
    boottime = host.sysctl["kern.boottime"]
    host.step_clock(3600)
    stepped = host.sysctl["kern.boottime"] != boottime
    after_step = demotion()
    since = r.sim_clock.now()
    first_time(r, lambda: r.marks["released"][1] is not None, 600, 1.0)
    back = first_time(r, lambda: r.serving() == [master], 300, 1.0)
    r.run_for(10)
    recorded, released = r.seconds_until("recorded in sync", since), r.seconds_until("released", since)
    in_time = recorded is not None and released is not None and recorded <= released
    exact = (at_boot == after_step == maintenance.DEMOTION and r.marks["doubled"][1] is None
             and demotion() == 0)
    verdict = r.verdict("clock-step", back, extra_ok=stepped and exact and in_time and back is not None
                        and r.serving() == [master])
    verdict["demotion"] = {"at_boot": at_boot, "after_step": after_step, "highest": highest["demotion"],
                           "final": demotion()}
    verdict["recorded_in_sync_seconds"] = recorded
    verdict["released_seconds"] = released
    return verdict
