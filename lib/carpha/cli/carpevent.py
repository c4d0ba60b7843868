"""`carp-event SUBSYSTEM TYPE`: what devd runs for system=CARP.

devd runs actions one at a time and waits for each (reference 1.3), so this
does the least it can: validate argv strictly, append the event to the
binding's journal, make sure a worker runs (start a detached one when none
holds the worker lock) and exit. It must stay cheap: no YAML, no `sh`, no
config; the directories come from CARPHA_STATE_DIR / CARPHA_RUN_DIR or the
installed defaults. Bad argv: exit 64, one syslog line, no change."""

import os
import sys
import syslog

from ..store import journal, lock
from ..exits import CarphaError

USAGE = "usage: carp-event VHID@IFNAME MASTER|BACKUP|INIT"
TYPES = ("MASTER", "BACKUP", "INIT")
DEFAULT_STATE_DIR = "/var/db/carpha"
DEFAULT_RUN_DIR = "/var/run/carpha"
EX_OK, EX_USAGE, EX_TEMPFAIL = 0, 64, 75


def validate(argv):
    """(subsystem, type) or raise ValueError with a one-line reason."""
    if len(argv) != 2:
        raise ValueError(f"expected 2 arguments, got {len(argv)}")
    subsystem, event_type = argv
    if not journal.valid_binding(subsystem):
        raise ValueError(f"bad subsystem {subsystem!r}: expected VHID@IFNAME with vhid 1..255")
    if event_type not in TYPES:
        raise ValueError(f"bad type {event_type!r}: expected MASTER, BACKUP or INIT")
    return subsystem, event_type


def worker_argv():
    argv = [sys.executable, "-m", "carpha"]
    if os.environ.get("CARPHA_CONFIG"):
        argv += ["-c", os.environ["CARPHA_CONFIG"]]
    return argv + ["reconcile"]


def main(argv=None) -> int:
    return run_hook("carp-event", sys.argv[1:] if argv is None else argv, validate, USAGE,
                    lambda subsystem, event_type: (subsystem, {"kind": "event", "type": event_type,
                                                               "subsystem": subsystem, "source": "devd"}))


def run_hook(hook: str, argv, check, usage: str, to_record) -> int:
    """A devd hook: `check(argv)` gives the parsed arguments (ValueError:
    refused), `to_record(*parsed)` the journal's name and the record."""
    syslog.openlog("carpha", syslog.LOG_PID, syslog.LOG_DAEMON)
    try:
        parsed = check(argv)
    except ValueError as error:
        return refuse(hook, error, argv, usage)
    return journal_and_wake(hook, *to_record(*parsed))


def refuse(hook: str, error, argv, usage: str) -> int:
    """Bad argv: one syslog line, one line on stderr, exit 64, no change."""
    shown = " ".join(repr(a) for a in argv)[:200]
    syslog.syslog(syslog.LOG_ERR, f"{hook}: {error} (argv: {shown}); {usage}")
    print(f"{hook}: {error}\n{usage}", file=sys.stderr)
    return EX_USAGE


def journal_and_wake(hook: str, journal_name: str, record: dict) -> int:
    """What every devd hook does once its argv is valid: append `record` to
    the journal `journal_name`, then start a worker unless one runs."""
    state_dir = os.environ.get("CARPHA_STATE_DIR", DEFAULT_STATE_DIR)
    run_dir = os.environ.get("CARPHA_RUN_DIR", DEFAULT_RUN_DIR)
    what = f"{record.get('subsystem', journal_name)} {record['type']}"
    try:
        written = journal.append(state_dir, journal_name, record)
        syslog.syslog(syslog.LOG_NOTICE, f"{hook}: {what} (seq {written['seq']})")
    except (OSError, CarphaError) as error:
        # The worker decides from the real state, not from the journal:
        # wake it anyway (a full /var must not stop a failover).
        syslog.syslog(syslog.LOG_ERR, f"{hook}: {what}: cannot journal: {error}")
    try:
        if lock.is_held(run_dir, "worker"):
            return EX_OK
    except (OSError, CarphaError) as error:
        syslog.syslog(syslog.LOG_ERR, f"{hook}: cannot probe the worker lock: {error}")
    from ..host.runner import spawn_detached   # only now: subprocess costs import time
    spawn_detached(worker_argv())
    return EX_OK

if __name__ == "__main__":
    sys.exit(main())
