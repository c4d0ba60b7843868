"""`carpha log [GROUP] [--since TIME]`: the journal as a timeline
(carpha.ops.logview)."""

from __future__ import annotations

import json
import sys

from .. import exits, clock
from ..ops import logview
from ..store import journal
from typing import Optional
from .common import load_config, group_of


def register(sub) -> None:
    p = sub.add_parser("log", help="the journal as a timeline: events, decisions, commands, outcomes")
    p.add_argument("group", nargs="?", help="only this group")
    p.add_argument("--since", help="from this time (2026-12-01, 2026-12-01T10:00Z) or age (30m, 4h, 2d)")
    p.add_argument("--json", action="store_true", help="the records as JSON lines")
    p.set_defaults(handler=cmd_log)


def cmd_log(args) -> int:
    config = load_config(args)
    groups = [group_of(config, args.group)] if args.group else \
        [g for g in config.groups.values() if config.node in g.nodes]
    since: Optional[float] = logview.parse_since(args.since, clock.now()) if args.since else None
    for group in groups:
        records = [r for r in journal.history(config.paths.state_dir, group.journal)
                   if r.get("group") in (None, group.name)
                   and (since is None or logview.record_time(r) >= since)]
        if args.json:
            for record in records:
                print(json.dumps(record, sort_keys=True))
            continue
        lines = logview.timeline(records, group.name)
        print("\n".join(lines) if lines else f"{group.name}: nothing journaled"
              + (f" since {logview.stamp(since)}" if since is not None else ""))
    sys.stdout.flush()
    return exits.OK
