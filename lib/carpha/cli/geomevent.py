"""`geom-event TYPE CDEV`: what devd runs when a device carpha may own
appears or disappears (devd/carpha.conf, system=DEVFS subsystem=CDEV).

Which events exist (freebsd-src, 13.x-era revisions: kern_conf.c with
devctl_notify_f and delist_dev; geom_dev.c with make_dev_s and
g_dev_callback):
- every GEOM provider gets a /dev node from g_dev_taste() (geom_dev.c):
  make_dev_s() -> make_dev_sv() -> notify_create() (kern_conf.c) sends
  `!system=DEVFS subsystem=CDEV type=CREATE cdev=<name>`, then g_dev_taste()
  sends `system=GEOM subsystem=DEV type=CREATE` with the same cdev;
- when the provider goes (ggatec destroy, gmirror stop, a mirror losing
  its last disk), g_dev_orphan() calls delist_dev() -> notify_destroy():
  `type=DESTROY` at once; the GEOM DEV DESTROY follows from g_dev_destroy()
  only once in-flight I/O has drained;
- the names: a ggate unit's provider is "ggate<unit>" (g_gate.c
  g_gate_create(), G_GATE_PROVIDER_NAME), a mirror's "mirror/<name>"
  (g_mirror.c g_mirror_launch_provider());
- kern_conf.c notify() sends nothing while the kernel is `cold` (early
  boot); the CARP events of the boot wake the worker then anyway.

This hook only validates, journals the event in the `devices` journal and
wakes the worker, which decides from what it observes, never from the
event. It loads no config, so it cannot tell our mirrors from others: a
mirror it does not own costs one worker pass that changes nothing."""

import sys

from ..store import journal
from .carpevent import run_hook

USAGE = "usage: geom-event CREATE|DESTROY ggateN|mirror/NAME"
TYPES = ("CREATE", "DESTROY")
# Plain string checks, not `re` (the hook's start-up cost, see journal).
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def valid_cdev(cdev: str) -> bool:
    """ggate<unit> (0..9999) or mirror/<name>, name as gmirror label takes
    it (config.GEOM_NAME: 1 to 15 of [A-Za-z0-9_.-])."""
    if cdev.startswith("ggate"):
        unit = cdev[len("ggate"):]
        return unit.isascii() and unit.isdigit() and len(unit) <= 4 and (unit == "0" or unit[0] != "0")
    if cdev.startswith("mirror/"):
        name = cdev[len("mirror/"):]
        return 1 <= len(name) <= 15 and all(c in _NAME_CHARS for c in name)
    return False


def validate(argv):
    """(type, cdev) or raise ValueError with a one-line reason."""
    if len(argv) != 2:
        raise ValueError(f"expected 2 arguments, got {len(argv)}")
    event_type, cdev = argv
    if event_type not in TYPES:
        raise ValueError(f"bad type {event_type!r}: expected CREATE or DESTROY")
    if not valid_cdev(cdev):
        raise ValueError(f"bad cdev {cdev!r}: expected ggateN or mirror/NAME")
    return event_type, cdev


def main(argv=None) -> int:
    return run_hook("geom-event", sys.argv[1:] if argv is None else argv, validate, USAGE,
                    lambda event_type, cdev: (journal.DEVICES, {"kind": "event", "type": event_type,
                                                                "subsystem": cdev, "source": "devd"}))

if __name__ == "__main__":
    sys.exit(main())
