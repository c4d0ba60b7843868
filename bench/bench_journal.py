"""Journal retention for a busy group: how many bytes a day it writes and
how many days the rotated, compressed generations keep (target: >= 30 days
within a bounded size). A busy day: cron's pass every minute (1440 quiet
`run` records, as the worker journals them), plus 24 failovers, each a devd
event and a pass that ran 12 commands. Prints figures, asserts nothing."""

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

from carpha import clock  # noqa: E402
from carpha.store import journal  # noqa: E402
from carpha.sim.clock import SimClock  # noqa: E402

DAYS = 45
BINDING = "1@em0"
COMMANDS = [f"ifconfig em0 inet 192.0.2.{i}/24 alias" for i in range(12)]


def quiet_pass(minute: int) -> dict:
    return {"kind": "run", "group": "web", "node": "serverA", "pass": 1, "decided": "MASTER", "result": "ok",
            "did": [], "duration": 0.412, "observed": {"carp": "MASTER", "events": []}}


def main() -> None:
    sim = SimClock()
    sim.t = 1796083200.0
    previous = clock.use(sim)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            day_bytes = 0
            for day in range(DAYS):
                for minute in range(1440):
                    sim.t += 60
                    if minute % 60 == 0:
                        journal.append(tmp, BINDING, {"kind": "event", "type": "MASTER", "subsystem": BINDING,
                                                      "source": "devd"})
                        journal.append(tmp, BINDING, {**quiet_pass(minute), "did": COMMANDS,
                                                      "observed": {"carp": "MASTER", "events": ["MASTER"]}})
                    journal.append(tmp, BINDING, quiet_pass(minute))
                if day == 0:
                    day_bytes = sum(os.path.getsize(os.path.join(journal.journal_dir(tmp), n))
                                    for n in os.listdir(journal.journal_dir(tmp)))
            directory = journal.journal_dir(tmp)
            on_disk = sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory))
            kept = journal.history(tmp, BINDING)
            days_kept = (kept[-1]["time"] - kept[0]["time"]) / 86400
            raw = journal.MAX_BYTES * 2 + journal.GENERATIONS * journal.MAX_BYTES
            print(f"journal, busy group: {day_bytes / 1024:.0f} KiB written per day "
                  f"({1440 + 48} records/day)")
            print(f"journal after {DAYS} days: {on_disk / 1024:.0f} KiB on disk in "
                  f"{len(os.listdir(directory)) - 1} files, {days_kept:.1f} days kept "
                  f"(target >= 30); bound {raw / 1048576:.0f} MiB if nothing compressed")
    finally:
        clock.use(previous)


if __name__ == "__main__":
    main()
