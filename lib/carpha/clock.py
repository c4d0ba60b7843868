"""The one source of time.

Everything in carpha reads time through `now()`, `monotonic()` and `sleep()`,
so freezegun (which patches time.time/time.monotonic) drives it in tests and
the simulator can substitute a simulated clock with `use()`."""

import time

_source = None


def use(source):
    """Route time through `source` (an object with now(), monotonic() and
    sleep(seconds)); None restores real time. Returns the previous source."""
    global _source
    previous, _source = _source, source
    return previous


def now() -> float:
    """Wall-clock seconds since the epoch (for records humans read)."""
    return _source.now() if _source is not None else time.time()


def monotonic() -> float:
    """Seconds on a clock that never goes back (for timeouts and intervals)."""
    return _source.monotonic() if _source is not None else time.monotonic()


def sleep(seconds: float) -> None:
    if seconds <= 0:
        return
    if _source is not None:
        _source.sleep(seconds)
    else:
        time.sleep(seconds)
