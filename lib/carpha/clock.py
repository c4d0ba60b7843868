"""The one source of time. Everything reads time through here so freezegun
(which patches time.time and time.monotonic) and the simulator can drive it."""

import time


def now() -> float:
    """Wall-clock seconds since the epoch (for records humans read)."""
    return time.time()


def monotonic() -> float:
    """Seconds on a clock that never goes back (for timeouts and intervals)."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
