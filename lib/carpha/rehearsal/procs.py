"""The simulated processes of a rehearsal and the clock that runs them:
each process (a worker, a heartbeat's beat) is a thread of its own, run
one at a time by the driver's clock in order of wake-up time, so processes
of different machines interleave in simulated time as separate processes
do. A process of a crashed machine unwinds (ProcKilled)."""

from __future__ import annotations

import threading
from typing import Callable, List

from ..sim.clock import SimClock


class ProcKilled(BaseException):
    """Its machine crashed under a simulated process: unwind (BaseException,
    so carpha's own `except Exception` handlers do not swallow it)."""


class Proc:
    """One simulated process (a worker, a heartbeat beat): its own thread,
    run by the DriverClock one at a time, so processes of different machines
    interleave in simulated time as separate processes do, and none runs
    nested inside another's sleep. `alive()` says whether its machine still
    runs the boot it started in."""

    def __init__(self, name: str, alive: Callable[[], bool], work: Callable[[], None], on_error):
        self.name = name
        self.alive = alive
        self.wake = None              # simulated t to resume at; None: running or done
        self.done = False
        self._work, self._on_error = work, on_error
        self._resume = threading.Event()
        self._paused = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"sim-{name}", daemon=True)

    def _main(self) -> None:
        DriverClock.local.proc = self
        self._resume.wait()
        self._resume.clear()
        try:
            if not self.alive():
                raise ProcKilled()
            self._work()
        except ProcKilled:
            pass
        except Exception as error:   # a failed run is part of the story
            self._on_error(error)
        finally:
            self.done = True
            self._paused.set()

    def sleep_until(self, wake: float) -> None:
        """In the process's own thread: hand the turn back until `wake`."""
        self.wake = wake
        self._paused.set()
        self._resume.wait()
        self._resume.clear()
        if not self.alive():
            raise ProcKilled()

    def run_turn(self) -> None:
        """In the driver's thread: let it run until it sleeps or ends."""
        self.wake = None
        self._paused.clear()
        if not self.thread.is_alive() and not self.done:
            self.thread.start()
        self._resume.set()
        self._paused.wait()

    def paused(self) -> bool:
        """Its machine's kernel is frozen: not scheduled until it runs on."""
        return False


class DriverClock(SimClock):
    """The simulated clock. Time moves only in the driver's thread (the
    scenario, an administrator's command): on the way it runs the cluster's
    events, `on_time()` (heartbeats, the client, devd's workers, cron) and,
    in order of their wake-up times, the simulated processes whose sleep is
    over. A process sleeping (carpha.clock.sleep, a simulated command that
    blocks) only hands the turn back."""
    on_time = None
    local = threading.local()
    STEP = 0.5

    def __init__(self):
        super().__init__()
        self.procs: List[Proc] = []

    def spawn(self, proc: Proc) -> Proc:
        proc.wake = self.t
        self.procs.append(proc)
        return proc

    def advance(self, seconds: float) -> None:
        proc = getattr(self.local, "proc", None)
        if proc is not None:
            proc.sleep_until(self.t + max(0.0, seconds))
            return
        target = self.t + seconds
        self._run_ready()
        while target - self.t > 1e-9:
            wakes = [p.wake for p in self.procs if p.wake is not None and p.wake > self.t]
            nxt = min([target, self.t + self.STEP] + wakes)
            super().advance(nxt - self.t)
            if self.on_time is not None:
                self.on_time()
            self._run_ready()

    def _run_ready(self) -> None:
        for _ in range(100_000):
            ready = [p for p in self.procs if p.wake is not None and p.wake <= self.t + 1e-9 and not p.paused()]
            if not ready:
                break
            min(ready, key=lambda p: p.wake).run_turn()
            self.procs = [p for p in self.procs if not p.done]
        else:
            raise RuntimeError("simulated processes do not settle")

    def running(self, prefix: str) -> bool:
        return any(p.name.startswith(prefix) and not p.done for p in self.procs)

    def stop_all(self) -> None:
        for p in list(self.procs):
            if not p.done and p.thread.is_alive():
                p.alive = lambda: False
                p.run_turn()
        self.procs = []
