"""`carpha maintenance on|off|status`: node-wide maintenance mode
(carpha.safety.maintenance) and the CARP demotion it holds."""

from __future__ import annotations

import json
import os
import sys

from .. import exits, clock
from ..engine import worker
from ..exits import CarphaError
from .common import make_runner, setup


def register(sub):
    p = sub.add_parser("maintenance", help="node-wide maintenance mode: no automatic failover, CARP demoted")
    msub = p.add_subparsers(dest="maintenance_command", metavar="SUBCOMMAND")
    msub.required = True
    on = msub.add_parser("on", help="turn maintenance mode on (it expires by itself)")
    on.add_argument("--reason", required=True, help="why, one line (logged and shown by status)")
    on.add_argument("--for", dest="duration", metavar="DURATION",
                    help="90s, 30m, 4h, 2d or seconds, at most 30d (default: maintenance.default_seconds)")
    on.set_defaults(handler=cmd_maintenance)
    off = msub.add_parser("off", help="turn maintenance mode off")
    off.set_defaults(handler=cmd_maintenance)
    st = msub.add_parser("status", help="whether maintenance mode is on, and until when")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=cmd_maintenance)


def _operator() -> str:
    """Who turned the mode on, for the record (sudo keeps the real login)."""
    import pwd
    name = os.environ.get("SUDO_USER")
    if name:
        return name
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def cmd_maintenance(args) -> int:
    from .. import clock
    from ..safety import maintenance
    config, logger = setup(args)
    state_dir = config.paths.state_dir
    now = clock.now()
    if args.maintenance_command == "status":
        if args.json:
            json.dump(maintenance.report(state_dir, now), sys.stdout, indent=2, sort_keys=True)
            print()
        else:
            print(maintenance.status(state_dir, now))
        return exits.OK
    if args.maintenance_command == "off":
        try:
            maintenance.read(state_dir)
        except maintenance.MaintenanceError as error:
            maintenance.disable(state_dir)
            print(f"maintenance: off (removed {error})")
            logger.info(f"maintenance mode off (removed {error})")
            return exits.OK
        mode = maintenance.disable(state_dir)
        if mode is None:
            print("maintenance: off (it was not on)")
        else:
            was = "had expired" if mode.expired(now) else "was on"
            print(f"maintenance: off ({was} since {maintenance.format_time(mode.since)}: {mode.reason})")
            logger.info(f"maintenance mode off ({was}: {mode.reason})")
        _sync_demotion(config, logger)
        return exits.OK
    try:
        seconds = (maintenance.parse_duration(args.duration) if args.duration is not None
                   else config.maintenance.default_seconds)
        mode = maintenance.enable(state_dir, args.reason, seconds, now, by=_operator())
    except ValueError as error:
        raise CarphaError(f"maintenance on: {error}", exits.USAGE) from None
    line = maintenance.describe(mode, now)
    print(line)
    logger.info(line.replace("maintenance: on", "maintenance mode on", 1))
    _sync_demotion(config, logger)
    return exits.OK


def _sync_demotion(config, logger) -> None:
    """Raise or drop carpha's CARP demotion now, not at the next worker pass
    (the worker keeps it in step afterwards, across reboots too)."""
    try:
        worker.sync_demotion(config, make_runner(config, logger), logger)
    except CarphaError as error:
        print(f"warning: CARP demotion not changed yet ({error}); the next worker pass retries",
              file=sys.stderr)
