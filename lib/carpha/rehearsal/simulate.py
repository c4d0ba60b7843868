"""`carpha simulate`: run a named scenario (carpha.rehearsal.scenarios) on
a fresh simulated cluster (carpha.rehearsal.harness), then judge its
verdict and print it as a timeline."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Optional

from .. import exits
from ..exits import CarphaError
from .harness import DEFAULT_CONFIG, Rehearsal, scratch_dir
from .scenarios import SCENARIO_CONFIGS, SCENARIOS, WATCHDOG_SECTION, WITH_WATCHDOG


def run_scenario(name: str, config_path: str = DEFAULT_CONFIG, seed: int = 1, group: Optional[str] = None,
                 node: Optional[str] = None) -> dict:
    """`node`: also say what `carpha check` shows on that node at the end."""
    if config_path == DEFAULT_CONFIG:
        config_path = SCENARIO_CONFIGS.get(name, config_path)
    text = open(config_path).read()
    if name in WITH_WATCHDOG and "\nwatchdog:" not in text:
        text += WATCHDOG_SECTION
    workdir = tempfile.mkdtemp(prefix="carpha-sim-", dir=scratch_dir())
    rehearsal = None
    try:
        rehearsal = Rehearsal(text, os.path.basename(config_path), workdir, seed=seed, group=group)
        verdict = SCENARIOS[name](rehearsal)
        if node is not None:
            verdict["seen_from"] = {"node": node, "check": _check_on(rehearsal, node)}
        return verdict
    finally:
        if rehearsal is not None:
            rehearsal.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _check_on(r: Rehearsal, node: str) -> str:
    from ..ops import check
    if node not in r.configs:
        raise CarphaError(f"simulate --node {node}: not a node of any group ({', '.join(r.configs)})", exits.USAGE)
    if not r.cluster[node].up:
        return f"{node} is down"
    return check.plugin_output(check.evaluate(r.configs[node], r.runner(node), r.log))


def passed(verdict: dict) -> bool:
    inv = verdict["invariants"]
    return (inv["jails_on_one_node"] and inv["addresses_on_one_node"] and inv["mirror_mounted_once"]
            and inv["acknowledged_writes_lost"] == 0 and inv["converged"]
            and verdict["reads_from_diverged_half"] == 0)


def format_timeline(verdict: dict) -> str:
    lines = [f"scenario {verdict['scenario']} (seed {verdict['seed']}, group {verdict.get('group', '?')})"]
    for entry in verdict["timeline"]:
        lines.append(f"{entry['t']:8.3f}s  {entry['node']:<8} {entry['event']:<8} {entry['detail']}")
    inv = verdict["invariants"]
    lines.append("")
    for key, value in inv.items():
        lines.append(f"  {key}: {value}")
    if verdict.get("takeover_seconds") is not None:
        lines.append(f"  takeover_seconds: {verdict['takeover_seconds']}")
    for key in ("accepted_losses", "failed_commands"):
        items = verdict.get(key) or []
        lines.append(f"  {key}: {len(items)}")
        lines += [f"    {item}" for item in items]
    for stage in verdict.get("check_codes") or []:
        lines.append(f"  check at {stage['stage']}: " + ", ".join(
            f"{node} exit {code}" for node, code in sorted(stage["codes"].items())))
    lines.append(f"  reads_from_diverged_half: {verdict['reads_from_diverged_half']}")
    if verdict.get("seen_from"):
        lines.append(f"  carpha check on {verdict['seen_from']['node']}:")
        lines += [f"    {line}" for line in verdict["seen_from"]["check"].splitlines()]
    lines.append(f"verdict: {'PASS' if passed(verdict) else 'FAIL'} (replay: carpha simulate "
                 f"--scenario {verdict['scenario']} --seed {verdict['seed']}"
                 + (f" --group {verdict['group']})" if verdict.get("group") else ")"))
    return "\n".join(lines)
