"""`carpha simulate`: a scenario rehearsed on the simulated cluster
(carpha.rehearsal), for each group of the config."""

from __future__ import annotations

import json
import sys

from .. import exits
from ..exits import CarphaError


def register(sub):
    p = sub.add_parser("simulate", help="rehearse a failover on a simulated cluster, for every group")
    p.add_argument("--scenario", default="master-crash",
                   help="master-crash (default); an unknown name lists them all")
    p.add_argument("--group", help="only this group (default: each group of the config in turn)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--seed", type=int, default=1,
                   help="picks every timer's phase (default 1); the verdict says it, the same seed replays")
    p.set_defaults(handler=cmd_simulate)


def cmd_simulate(args) -> int:
    from ..rehearsal import harness, nodes, scenarios, simulate
    from ..config import loads
    if args.scenario not in scenarios.SCENARIOS:
        raise CarphaError(f"unknown scenario {args.scenario!r}; one of: {', '.join(scenarios.SCENARIOS)}",
                          exits.USAGE)
    path = args.config or harness.DEFAULT_CONFIG
    with open(path) as f:
        # A NAS group (local-gmirror) has no CARP failover to rehearse:
        # scenario nas-move moves it.
        groups = [name for name, g in loads(f.read(), path, node=nodes.group_nodes_of(path)[0]).groups.items()
                  if g.storage.kind != "local-gmirror"]
    if args.group and args.group not in groups:
        raise CarphaError(f"simulate: no group {args.group!r} in {path} (groups: {', '.join(groups)})", exits.USAGE)
    verdicts = [simulate.run_scenario(args.scenario, path, seed=args.seed, group=name, node=args.node)
                for name in ([args.group] if args.group else groups)]
    if args.json:
        json.dump(verdicts[0] if len(verdicts) == 1 else verdicts, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print("\n\n".join(simulate.format_timeline(v) for v in verdicts))
    return exits.OK if all(simulate.passed(v) for v in verdicts) else exits.FAILED
