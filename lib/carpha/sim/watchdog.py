"""/dev/fido on a simulated host: WDIOCPATPAT with watchdog.h's 2^N ns
encoding, each driver's granularity, the reset when the timer runs out
(the host reboots; the board's timer runs on while the kernel is frozen).

The framework (sys/dev/watchdog/watchdog.c @84ed59c4, 2020+,
wd_ioctl_patpat() and wdog_kern_pat()): bits outside ACTIVE|PASSIVE|
LASTVAL|INTERVAL, or ACTIVE and PASSIVE together, are EINVAL; PASSIVE is
ENOSYS; neither with interval 0 turns the watchdog off; otherwise each
driver gets the interval and the call fails EOPNOTSUPP unless one took it.

Drivers (seconds from the pet to the reset, `fires_after(power)`; None:
the driver refuses the value and the timer stops):
- ichwd (sys/dev/ichwd/ichwd.c, id 1618115143, 2018-2023 era: TCO v4,
  SPDX -FreeBSD with $FreeBSD$; ichwd_event(), ichwd_tmr_set()): ticks =
  2^N ns / ICHWD_TICK (600000000 ns, ichwd.h), raised to TCO_RLD_TMR_MIN
  (4) and capped at TCO_RLD2_TMR_MAX (0x3ff). ichwd_attach() disables
  the SMI handler, so the first run-down only sets TCO_TIMEOUT and the
  reset comes at the second ("ran down twice", TCO_SECOND_TO_STS in
  ichwd.h): 2 x ticks x 0.6 s. (TCO v3 counts other ticks: not modelled.)
- itwd, an ITE Super I/O (sys/dev/itwd/itwd.c @a11a4ee4, wd_func()):
  whole seconds, 2^(N-30) for N >= 30, else 1; above 255 s refused.
- amdsbwd (sys/dev/amdsbwd/amdsbwd.c, id 896151733, amdsbwd_event(),
  amdsbwd_attach_sb(): ms_per_tick 1000): ticks = 2^(N-20) ms / 1000,
  at least 1, above 65535 refused.
A BIOS that blocks the reset (ichwd_clear_noreboot() failing leaves no
device at all) is `resets=False`: the timer runs out and nothing happens.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable, Optional

WD_ACTIVE = 0x8000000
WD_PASSIVE = 0x0400000
WD_LASTVAL = 0x0200000
WD_INTERVAL = 0x00000ff
ICHWD_TICK_NS = 600_000_000
TCO_RLD_TMR_MIN = 4
TCO_RLD2_TMR_MAX = 0x3FF


def ichwd_seconds(power: int) -> Optional[float]:
    ticks = (1 << power) // ICHWD_TICK_NS
    ticks = min(max(ticks, TCO_RLD_TMR_MIN), TCO_RLD2_TMR_MAX)
    return 2 * ticks * ICHWD_TICK_NS / 1e9


def itwd_seconds(power: int) -> Optional[float]:
    seconds = (1 << (power - 30)) if power >= 30 else 1
    return float(seconds) if seconds <= 255 else None


def amdsbwd_seconds(power: int) -> Optional[float]:
    ticks = ((1 << (power - 20)) if power >= 20 else 0) // 1000
    ticks = max(ticks, 1)
    return float(ticks) if ticks <= 65535 else None


DRIVERS = {"ichwd": ichwd_seconds, "itwd": itwd_seconds, "amdsbwd": amdsbwd_seconds}
# A scenario gives each node one of these: no watchdog, a fast Super I/O
# one, the cheap Intel PC's ichwd, a slow AMD one.
PROFILES = {"none": None, "fast": "itwd", "ichwd": "ichwd", "slow": "amdsbwd"}


@dataclass
class SimWatchdog:
    driver: str
    now: Callable[[], float]          # the host's monotonic time (the board's timer)
    resets: bool = True
    deadline: Optional[float] = None  # when the board resets the host
    last_pat: Optional[float] = None
    last_power: int = 0

    def pat(self, word: int) -> None:
        """The ioctl; raises OSError with the framework's errno."""
        if word & ~(WD_ACTIVE | WD_PASSIVE | WD_LASTVAL | WD_INTERVAL):
            raise OSError(errno.EINVAL, "Invalid argument")
        mode = word & (WD_ACTIVE | WD_PASSIVE)
        if mode == WD_ACTIVE | WD_PASSIVE or (mode == 0 and word & (WD_INTERVAL | WD_LASTVAL)):
            raise OSError(errno.EINVAL, "Invalid argument")
        if mode == WD_PASSIVE:
            raise OSError(errno.ENOSYS, "Function not implemented")
        power = word & WD_INTERVAL
        if word & WD_LASTVAL:
            if power:
                raise OSError(errno.EINVAL, "Invalid argument")
            power = self.last_power
        else:
            self.last_power = power
        if power == 0:
            self.deadline = None          # WD_TO_NEVER: every driver stops its timer
            return
        seconds = DRIVERS[self.driver](power)
        if seconds is None:
            self.deadline = None
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        self.last_pat = self.now()
        self.deadline = self.last_pat + seconds

    def expired(self) -> bool:
        """The board's timer ran out (whether or not it resets the host)."""
        return self.deadline is not None and self.now() >= self.deadline - 1e-9

    def boot(self) -> None:
        """Every driver's attach starts with the timer disabled."""
        self.deadline, self.last_pat = None, None


def make(profile: str, now: Callable[[], float]) -> Optional[SimWatchdog]:
    driver = PROFILES[profile]
    return None if driver is None else SimWatchdog(driver, now)
