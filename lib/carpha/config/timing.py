"""The timing rules that join the witness to the groups: the self-fencing
budget (fence_after + one beat + the worst-case fence must stay below
takeover_after) and the ggatec -t sweep against that bound. Pure functions
of a Witness and the groups: the reader's cross-checks (carpha.config.checks),
safety.witness, engine.fence and `carpha watchdog calibrate` use them.
"""

from .limits import BY_HAND, MIN_FENCE_STEP_SECONDS


def fencing_steps(groups, node: str) -> int:
    """Forced steps a self-fencing node runs at worst (carpha.engine.fence): per
    group, drop each address, `pkill -KILL -j` each jail, stop each service,
    `ggatec destroy -f`, `jail -R` each jail, `umount -f` each filesystem
    and each jail's devfs under it, `gmirror stop -f`; once, `mount -p` and
    the CARP demotion."""
    steps = 2
    for group in groups.values():
        if node in group.nodes and group.storage.kind != BY_HAND:     # never fenced
            steps += (len(group.addresses) + 3 * len(group.jails) + len(group.services)
                      + len(group.filesystems) + (2 if group.storage.kind == "gmirror-ggate" else 0))
    return steps


def fencing_time(witness, groups, node: str) -> float:
    """The fence's own worst case: every forced step at its cap."""
    return fencing_steps(groups, node) * witness.fence_step_seconds


def fencing_bound(witness, groups, node: str) -> float:
    """Seconds from a master's last lease renewal until it has fenced itself
    at worst: fence_after + one heartbeat interval (fencing is checked once
    per beat) + the fence's own worst case."""
    return witness.fence_after_seconds + witness.interval_seconds + fencing_time(witness, groups, node)


def fencing_problems(witness, groups, node: str):
    """A master must be fenced before the peer may take over: fence_after +
    one heartbeat interval (fencing is checked once per beat) + the worst-case
    fencing time must stay below takeover_after. Lease only."""
    if witness.kind != "lease" or None in (witness.fence_after_seconds, witness.interval_seconds,
                                           witness.takeover_after_seconds, witness.fence_step_seconds):
        return []
    steps = fencing_steps(groups, node)
    worst = fencing_time(witness, groups, node)
    total = fencing_bound(witness, groups, node)
    if total < witness.takeover_after_seconds:
        return []
    return [f"{witness.fence_after_seconds:g} + interval {witness.interval_seconds:g} + worst-case fencing "
            f"{worst:g} ({steps} steps x fence_step_seconds {witness.fence_step_seconds:g}) = {total:g} s "
            f"is not below takeover_after_seconds {witness.takeover_after_seconds:g}"]


def fencing_remedies(witness, groups, node: str, written=None) -> str:
    """For a budget fencing_problems() refuses: each knob that alone would
    make it fit, and to what value ('' when it fits). `written`: the witness
    keys the file sets (the others are at their default)."""
    if not fencing_problems(witness, groups, node):
        return ""
    steps = fencing_steps(groups, node)
    total = fencing_bound(witness, groups, node)
    takeover, fence, interval = witness.takeover_after_seconds, witness.fence_after_seconds, witness.interval_seconds

    def knob(verb: str, key: str, now: float) -> str:
        if written is not None and key not in written:
            return f"set witness.{key} (not in the file: default {now:g})"
        return f"{verb} witness.{key} from {now:g}"

    fixes = [f"{knob('raise', 'takeover_after_seconds', takeover)} to more than {total:.4g}"
             f" (by more than {total - takeover:.4g})"]
    room = takeover - fence - interval
    if room > 0 and room / steps > MIN_FENCE_STEP_SECONDS:
        fixes.append(f"{knob('lower', 'fence_step_seconds', witness.fence_step_seconds)} to below"
                     f" {room / steps:.3g} ({steps} steps)")
    fence_room = takeover - interval - fencing_time(witness, groups, node)
    if fence_room > 0:
        fixes.append(f"{knob('lower', 'fence_after_seconds', fence)} to below {fence_room:.4g}")
    fixes.append("or give this node fewer addresses, jails (3 steps each), services or filesystems")
    return "to fix: " + ", ".join(fixes[:-1]) + ", " + fixes[-1]


# g_gate_guard() (sys/geom/gate/g_gate.c @37d84eaa, 13.x; reference 5.2)
# fails requests at least 5 whole seconds of uptime old, at a sweep every
# -t seconds from `ggatec create`: the earliest failure comes just over 4 s
# after issue, whatever -t is.
GGATE_EARLIEST_FAILURE_SECONDS = 4


def ggate_timeout_problems(witness, groups, node: str):
    """(group, problem) for each mirrored group whose ggate requests could
    fail before a fencing master has stopped: gmirror would then kick the
    peer's half and acknowledge writes on the local disk alone, and the
    peer, taking over, would not have them. Lease only; -t 0 (no sweep)
    is always fine: carpha drops the peer's half itself, and only after
    recording it outdated under its own lease."""
    if witness.kind != "lease" or None in (witness.fence_after_seconds, witness.interval_seconds,
                                           witness.fence_step_seconds):
        return []
    bound = fencing_bound(witness, groups, node)
    return [(name, f"{group.storage.ggate.timeout_seconds}: ggatec -t N sweeps every N s and fails requests "
                   f"at least 5 s old, so a write to a dead peer can fail {GGATE_EARLIEST_FAILURE_SECONDS} to "
                   f"N+5 s after issue, below the fencing bound {bound:g} s (fence_after_seconds + "
                   f"interval_seconds + worst-case fencing): an isolated master would acknowledge writes on "
                   f"its own disk alone before fencing, lost when the peer takes over; use 0 (the default: "
                   f"carpha drops a dead peer's half itself once it has recorded it outdated)")
            for name, group in sorted(groups.items())
            if node in group.nodes and group.storage.kind == "gmirror-ggate" and group.storage.ggate
            and group.storage.ggate.timeout_seconds
            and GGATE_EARLIEST_FAILURE_SECONDS < bound]
