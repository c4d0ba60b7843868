"""Simulated time for the simulated cluster.

Contract: `now()` (wall clock, seconds since the epoch), `monotonic()`,
`sleep(seconds)` and `advance(seconds)`, so a SimClock can be handed to
`carpha.clock.use()`. Time only moves when somebody sleeps or advances;
moving it runs every simulated event that falls due on the way (CARP
adverts, master-down timers, ggate request timeouts, resync progress) in
time order, through the scheduler the cluster attaches.
"""

from __future__ import annotations

# 2023-11-14 22:13:20 UTC: a fixed, readable origin keeps syslog lines and
# journal timestamps reproducible from run to run.
DEFAULT_EPOCH = 1700000000.0


class SimClock:
    def __init__(self, start: float = DEFAULT_EPOCH):
        self.epoch = float(start)
        self.t = 0.0              # seconds since the simulation started
        self._scheduler = None    # the Cluster; transient, never saved

    # -- carpha.clock source interface ------------------------------------
    def now(self) -> float:
        return self.epoch + self.t

    def monotonic(self) -> float:
        # An offset keeps simulated monotonic readings away from 0, as on a
        # host that has been up for a while.
        return 1000.0 + self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot go back in time ({seconds} s)")
        target = self.t + seconds
        if self._scheduler is not None:
            self._scheduler.run_until(target)
        self.t = max(self.t, target)

    def attach(self, scheduler) -> None:
        self._scheduler = scheduler

    def to_state(self) -> dict:
        return {"epoch": self.epoch, "t": self.t}

    @classmethod
    def from_state(cls, state: dict) -> "SimClock":
        clock = cls(state["epoch"])
        clock.t = state["t"]
        return clock
