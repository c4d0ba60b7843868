"""Self-fencing: a master that can neither renew its witness lease nor reach
its peer stops serving before the peer may take over (witness_config.py proves the
timing: fence_after + interval + worst-case fencing < takeover_after).

The fence is blind and bounded. It does not observe first (an observation
can hang like anything else on a sick host): it runs every forced step,
each capped at witness.fence_step_seconds, whatever the previous one did,
in the order that stops acknowledgements soonest:
 1. drop the group's addresses: no reply reaches a client any more;
 2. `pkill -KILL -j NAME` each jail: every jailed process is killed at
    once; one asleep on a write hung on the dead peer dies as that request
    completes, before it returns to user space, so that write is never
    acknowledged (bin/pkill/pkill.c, 14.x; reference 7.2). Not `jail -R`
    first: it still sends SIGTERM and waits up to 10 s for the jail to
    empty (usr.sbin/jail/command.c term_procs(), reference 7.2), longer than
    the step's cap, and a jail(8) killed at the cap leaves the jail alive;
 3. `service NAME onestop` for the group's services;
 4. `ggatec destroy -f`: cancels the requests hung on the dead peer with
    ENXIO (reference 5; g_gate.c g_gate_destroy(), "Request canceled."), so
    the sleepers complete and exit;
 5. `jail -R` each jail, now empty: term_procs() returns at once and
    jail_remove(2) removes it; no exec.stop or removal parameter runs;
 6. `mount -p` (one capped query), then `umount -f` of every mount at or
    under each filesystem's mount point, deepest first: `jail -R` uses no
    removal parameters (jail.8), so a jail's `mount.devfs` stays mounted
    under the group's filesystem and must go before it;
 7. `gmirror stop -f`;
 8. once per boot, raise CARP demotion by carpha's share and hold it (see
    carpha.safety.maintenance) until this node's replica is in sync again.
Then the group's state says BACKUP (the heartbeat publishes "not serving")
and the journal records what ran. config.fencing_steps counts these steps.

Zero acknowledged-write loss needs the writes to the dead peer to wait,
not fail, until the fence is done: ggatec runs without -t (a sweep could
fail them 4 s after issue, config.ggate_timeout_problems), and only this
node's own heartbeat drops the peer's half, after recording it outdated
under a lease it still holds (carpha.safety.replica_drop): a node that lost the
witness never does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

from .. import clock
from ..store import journal, state
from ..safety import maintenance
from ..exits import CarphaError
from ..freebsd import commands as cmd
from ..freebsd import parse_text
from ..host.runner import CommandError

FENCED = "BACKUP"


@dataclass
class FenceReport:
    ran: List[str] = field(default_factory=list)       # "argv: result" per step
    seconds: float = 0.0
    over_budget: bool = False


def _under(mountpoint: str, path: str) -> bool:
    return path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")


def unmount_order(filesystems, mounts) -> List[str]:
    """Mount points to force-unmount: every mount at or under one of the
    group's mount points (a jail's devfs sits under it), deepest first;
    the configured ones even when `mount -p` could not be read."""
    points = {fs.mountpoint for fs in filesystems}
    for m in mounts or ():
        if any(_under(fs.mountpoint, m["mountpoint"]) for fs in filesystems):
            points.add(m["mountpoint"])
    return sorted(points, key=lambda p: (-p.rstrip("/").count("/"), p))


def group_steps(group) -> List[Tuple[str, ...]]:
    """Steps 1-5 for one group (the unmounts need `mount -p` first)."""
    steps = [cmd.alias_remove(a.interface, a.interface_address) for a in group.addresses]
    steps += [cmd.jail_sigkill(name) for name in reversed(group.jails)]
    steps += [cmd.service_stop(name) for name in reversed(group.services)]
    if group.storage.kind == "gmirror-ggate":
        steps.append(cmd.ggatec_destroy(group.storage.ggate.unit, force=True))
    steps += [cmd.jail_kill(name) for name in reversed(group.jails)]
    return steps


def fence(config, node: str, groups: Sequence[str], runner, log, *, reason: str, boot: str) -> FenceReport:
    """Fence `groups` on this node now; `boot` identifies this boot (for the
    demotion's once-per-boot accounting). Never raises for a failed step."""
    w = config.witness
    cap = float(w.fence_step_seconds)
    budget = config_budget(config, node)
    started = clock.monotonic()
    report = FenceReport()
    log.error(f"fencing {', '.join(groups)}: {reason}")

    def run(argv, kind="change"):
        try:
            result = getattr(runner, kind)(argv, timeout=cap, check=False)
            line = f"{' '.join(argv)}: exit {result.returncode}" + (
                f": {result.stderr.strip()}" if result.returncode else "")
        except CommandError as error:         # timed out or missing: go on regardless
            result, line = None, str(error)   # names the command
        report.ran.append(line)
        log.warning(f"fence: {line}")
        return result

    chosen = [config.groups[name] for name in groups]
    for group in chosen:
        for argv in group_steps(group):
            run(argv)
    listed = run(cmd.mount_list(), "query")
    try:
        mounts = parse_text("mount", listed.stdout) if listed is not None and listed.returncode == 0 else []
    except CarphaError:
        mounts = []
    for group in chosen:
        for point in unmount_order(group.filesystems, mounts):
            run(cmd.umount(point, force=True))
        if group.storage.kind == "gmirror-ggate":
            run(cmd.gmirror_stop(group.storage.mirror, force=True))
    _demote(config, run, boot, reason, log)
    report.seconds = clock.monotonic() - started
    report.over_budget = report.seconds > budget
    if report.over_budget:
        log.error(f"fence took {report.seconds:.1f} s, over its bound of {budget:g} s")
    _record(config, node, chosen, report, reason, log)
    from . import notify       # after the fence, its bound already measured
    for group in chosen:
        notify.run(config, "on_fence", group.name, node, reason, runner, log)
    return report


def config_budget(config, node: str) -> float:
    """What config check allowed this node's fence to take."""
    from ..config import fencing_time
    return fencing_time(config.witness, config.groups, node)


def _demote(config, run, boot: str, reason: str, log) -> None:
    """Raise carpha's demotion share once per boot and hold it (the worker
    lowers it once this node could serve again)."""
    def add(delta: int) -> bool:
        result = run(cmd.sysctl_add_demotion(delta))
        return result is not None and result.returncode == 0
    try:
        maintenance.raise_and_hold(config.paths.state_dir, boot, f"fenced: {reason}", add)
    except (OSError, CarphaError) as error:
        log.error(f"fence: cannot record the CARP demotion: {error}")


def _record(config, node, groups, report: FenceReport, reason: str, log) -> None:
    """State says BACKUP, and the journal says what ran; a broken
    /var must not undo a fence, so failures here are only logged (the next
    beat fences again while the state still says MASTER)."""
    for group in groups:
        try:
            saved = state.load(config.paths.state_dir, group.name)
            state.save(config.paths.state_dir, saved.with_changes(role=FENCED))
            journal.append(config.paths.state_dir, group.carp.subsystem,
                           {"kind": "fence", "group": group.name, "node": node, "reason": reason,
                            "ran": report.ran, "seconds": round(report.seconds, 3)})
        except (OSError, CarphaError) as error:
            log.error(f"fence: {group.name}: cannot record the fence: {error}")
