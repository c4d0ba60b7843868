"""The hardware-watchdog lease: the master pets /dev/fido only on fresh
round-trip evidence, so a master that is isolated or hung is reset by its
board within a measured interval; the standby waits that interval (times
k) plus a margin from its last evidence of the master before it serves.

Contract:
- Pure decisions: `should_pet(now, evidence_at, bound)`, `margin_seconds`,
  `gate_opens_at`, `gate_decision`; the calibration record is parsed
  strictly (`parse_calibration`).
- `Device` is the real /dev/fido (fcntl.ioctl WDIOCPATPAT) [unverified on
  hardware]; the simulator passes its own device with the same `pat(u)`.
- `wait_gate(ctx)`: the standby's gate, run by the worker just before the
  first step that serves anybody (addresses), after its claim on the next
  generation succeeded and its storage is up (that serves nobody).

Why the gate keeps one master (I = interval, io = I/2 the bound on one
witness call or ping, B = evidence bound, W = the peer's measured reset
interval, E = the standby's last evidence of the master: when it saw the
master's counter change or its ping answered, both taken after the fact).
The master pets at P only on evidence started at >= P - B and its board
resets it by P + W. The standby opens its gate at S >= E + margin + k x W
(k >= 1) from a view at most I old, whose reads started at R >= S - I - io.
A renewal that finished before R was seen, so any the master made after E
started after R - io >= E + margin + W - I - 2 io; a link that answered
the master's ping after E would have answered the standby's within I. For
the master to be running then, its last pet before them (<= E + B: no
evidence in between) must not have run out: they started before E + B + W.
Both cannot hold when margin >= B + 2 x I. Assumed: the link fails as one
(a round trip that works for one node works for the other), and the two
monotonic clocks run at the same rate.
"""

from __future__ import annotations

import errno
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import List, Optional, Tuple

from .. import clock
from ..exits import CONFIG, DATAERR, CarphaError

# sys/sys/ioccom.h (@039ea811; the encoding is unchanged in later
# revisions): _IOC(inout, group, num, len) = inout | (len & IOCPARM_MASK)
# << 16 | group << 8 | num, IOC_IN 0x80000000, IOCPARM_MASK (1 << 13) - 1.
IOC_IN = 0x80000000
IOCPARM_MASK = (1 << 13) - 1


def _iow(group: str, num: int, size: int) -> int:
    return IOC_IN | ((size & IOCPARM_MASK) << 16) | (ord(group) << 8) | num


# sys/sys/watchdog.h: #define WDIOCPATPAT _IOW('W', 42, u_int); u_int is 4 bytes.
WDIOCPATPAT = _iow("W", 42, 4)
WD_ACTIVE = 0x8000000
WD_INTERVAL = 0x00000ff         # "a nominal patience of 2^N nanoseconds"
WD_TO_NEVER = 0
DEVICE = "/dev/fido"            # _PATH_WATCHDOG "fido" under /dev
CALIBRATION_FILE = "watchdog-calibration.json"
CALIBRATION_BEAT_SECONDS = 0.01    # the tested node beats every 10 ms during a run
MIN_RUNS = 3


def power_for(seconds: float) -> int:
    """The smallest N with 2^N ns >= seconds (watchdog.h's encoding)."""
    return max(1, math.ceil(math.log2(seconds * 1e9)))


def nominal_seconds(power: int) -> float:
    return (1 << power) / 1e9


def pat_word(power: int) -> int:
    """The u_int for WDIOCPATPAT: WD_ACTIVE with the interval, or 0 (off).
    sys/dev/watchdog/watchdog.c wd_ioctl_patpat() (@84ed59c4, 2020+):
    neither ACTIVE nor PASSIVE with a zero interval is accepted and stops
    the watchdog; ACTIVE|PASSIVE is EINVAL, PASSIVE ENOSYS."""
    return WD_TO_NEVER if power == 0 else WD_ACTIVE | (power & WD_INTERVAL)


class Device:
    """/dev/fido, owned by one process (the heartbeat). [unverified]: this
    path has not run on hardware; carpha.sim stands in for it in tests.
    watchdog.c wdog_kern_pat(): EOPNOTSUPP when no driver took the value
    (no watchdog, or a timeout the driver cannot count)."""

    def __init__(self, path: str = DEVICE):
        self.path = path
        self.fd: Optional[int] = None

    def open(self) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))

    def pat(self, word: int) -> None:
        import fcntl
        self.open()
        fcntl.ioctl(self.fd, WDIOCPATPAT, struct.pack("I", word))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# --- pure decisions -------------------------------------------------------------


def should_pet(now: float, evidence_at: Optional[float], bound: float) -> Tuple[bool, str]:
    """Pet only when round-trip evidence (a witness renewal or a peer's
    reply) started no longer than `bound` seconds ago."""
    if evidence_at is None:
        return False, "no round-trip evidence yet"
    age = now - evidence_at
    if age <= bound:
        return True, f"evidence {age:.2f} s old"
    return False, f"no round-trip evidence for {age:.2f} s (bound {bound:g} s): not petting"


def evidence_at(own_written_at: Optional[float], peer_reached_at: Optional[float],
                io_timeout: float) -> Optional[float]:
    """When the freshest evidence *started*: a write counts from its start;
    a ping from its reply minus its bound (when it may have started)."""
    times = [t for t in (own_written_at, None if peer_reached_at is None else peer_reached_at - io_timeout)
             if t is not None]
    return max(times) if times else None


def margin_seconds(witness, watchdog) -> float:
    """B + 2 x I + the configured slack (module docstring)."""
    return watchdog.margin_seconds(witness)


def gate_opens_at(last_evidence: float, margin: float, k: float, measured: float) -> float:
    return last_evidence + margin + k * measured


@dataclass(frozen=True)
class Gate:
    open: bool
    closed_for_good: bool         # the peer showed life: give up this promotion
    reason: str
    opens_at: Optional[float] = None


def gate_decision(now: float, view, group: str, margin: float, k: float, measured: float,
                  interval: float) -> Gate:
    """The standby's gate from the heartbeat's view at monotonic `now`."""
    if view is None or not 0 <= now - view.updated <= interval:
        return Gate(False, False, "waiting for a fresh heartbeat view")
    status = view.peer_status(group)
    if status is not None and not status.get("serving") and view.peer_changed_at is not None:
        return Gate(True, False, f"{view.peer} says it does not serve {group}: no wait")
    times = [t for t in (view.peer_changed_at, view.peer_reached_at) if t is not None]
    last = max(times) if times else view.started
    if now - last < margin:
        return Gate(False, True, f"{view.peer} showed life {now - last:.1f} s ago (margin {margin:g} s)")
    opens = gate_opens_at(last, margin, k, measured)
    if now >= opens:
        return Gate(True, False, f"gate open: last evidence of {view.peer} {now - last:.1f} s ago "
                                 f"(margin {margin:g} s + {k:g} x {measured:.2f} s)", opens)
    return Gate(False, False, f"gate opens in {opens - now:.2f} s", opens)


# --- calibration ------------------------------------------------------------------


class CalibrationError(CarphaError):
    exit_code = DATAERR


@dataclass(frozen=True)
class Calibration:
    node: str                    # the node whose board was reset
    power: int                   # the 2^N ns requested
    runs: Tuple[float, ...]      # seconds from its last pet to its last beat seen, per run

    @property
    def measured_seconds(self) -> float:
        """The longest run, plus one beat: the last beat heard may precede
        the reset by up to one beat period."""
        return max(self.runs) + CALIBRATION_BEAT_SECONDS


def parse_calibration(text: str, source: str) -> dict:
    """{node: Calibration}; CalibrationError names what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise CalibrationError(f"{source}: not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("nodes"), dict):
        raise CalibrationError(f"{source}: expected {{\"schema\": 1, \"nodes\": {{...}}}}")
    out = {}
    for node, entry in data["nodes"].items():
        where = f"{source}: nodes.{node}"
        if not isinstance(entry, dict):
            raise CalibrationError(f"{where}: not an object")
        power, runs = entry.get("power"), entry.get("runs")
        if not isinstance(power, int) or isinstance(power, bool) or not 1 <= power <= 63:
            raise CalibrationError(f"{where}.power: {power!r} is not in 1..63")
        if (not isinstance(runs, list) or not runs
                or not all(isinstance(r, (int, float)) and not isinstance(r, bool)
                           and math.isfinite(r) and 0 < r < 3600 for r in runs)):
            raise CalibrationError(f"{where}.runs: expected a list of seconds in (0, 3600)")
        out[node] = Calibration(node, power, tuple(float(r) for r in runs))
    return out


def calibration_path(state_dir: str) -> str:
    return os.path.join(state_dir, CALIBRATION_FILE)


def load_calibration(state_dir: str) -> dict:
    """{} when there is none; CalibrationError when unreadable or garbled."""
    from ..store.files import open_nofollow
    path = calibration_path(state_dir)
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise CalibrationError(f"{path}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(65537)
    if len(data) > 65536:
        raise CalibrationError(f"{path}: larger than 65536 bytes")
    return parse_calibration(data.decode("utf-8", "replace"), path)


def save_calibration(state_dir: str, records: dict) -> None:
    from ..store.files import ensure_private_dir, write_atomic
    ensure_private_dir(state_dir)
    data = {"schema": 1, "nodes": {n: {"power": c.power, "runs": list(c.runs)} for n, c in records.items()}}
    write_atomic(calibration_path(state_dir), json.dumps(data, sort_keys=True) + "\n")


def record_run(state_dir: str, node: str, power: int, seconds: float) -> Calibration:
    records = load_calibration(state_dir)
    earlier = records.get(node)
    runs = (earlier.runs if earlier is not None and earlier.power == power else ()) + (round(seconds, 3),)
    records[node] = Calibration(node, power, runs)
    save_calibration(state_dir, records)
    return records[node]


def standby_wait(config, node: str, calibrations: dict) -> Tuple[Optional[float], List[str]]:
    """(margin + k x measured interval of `node`'s peer, problems): what
    `node`, as the standby, waits after its last evidence of the peer."""
    wd = config.watchdog
    if wd is None:
        return None, []
    from .witness_config import leased_groups      # not a NAS group (carpha.engine.nas): it moves by hand
    peers = sorted({n for g in leased_groups(config, node) for n in g.nodes if n != node})
    if len(peers) != 1:
        return None, [f"watchdog: {node} must share its groups with exactly one peer"]
    peer = peers[0]
    found = calibrations.get(peer)
    if found is None:
        return None, [f"watchdog: {peer}'s watchdog was never calibrated (run `carpha watchdog calibrate` "
                      f"on {peer} with `carpha watchdog listen` here)"]
    problems = []
    if found.power != wd.power:
        problems.append(f"watchdog: {peer} was calibrated at 2^{found.power} ns, the config asks 2^{wd.power} ns")
    if len(found.runs) < MIN_RUNS:
        problems.append(f"watchdog: {peer} has {len(found.runs)} calibration run(s), at least {MIN_RUNS} needed")
    margin = margin_seconds(config.witness, wd)
    return margin + wd.wait_multiple * found.measured_seconds, problems


# --- the standby's gate, in the worker ------------------------------------------------


class GateClosed(CarphaError):
    """The old master showed life while the standby prepared: serve nothing."""
    exit_code = 75


def wait_gate(ctx, *, on_wait=None) -> None:
    """Block the promotion before its first serving step until the gate
    opens (no watchdog: return at once). Raises GateClosed when the peer
    shows life, CarphaError when the peer's watchdog is uncalibrated."""
    from .witness_view import load_view
    config, wd = ctx.config, ctx.config.watchdog
    if wd is None or config.witness.kind != "lease" or ctx.dry_run:
        return
    calibration = load_calibration(config.paths.state_dir).get(ctx.peer)
    if calibration is None:
        raise CarphaError(f"{ctx.group.name}: {ctx.peer}'s watchdog was never calibrated: serving nothing",
                          exit_code=CONFIG)
    margin = margin_seconds(config.witness, wd)
    interval = config.witness.interval_seconds
    deadline = clock.monotonic() + margin + wd.wait_multiple * calibration.measured_seconds + 4 * interval
    while True:
        now = clock.monotonic()
        gate = gate_decision(now, load_view(config.paths.run_dir), ctx.group.name, margin,
                             wd.wait_multiple, calibration.measured_seconds, interval)
        if gate.open:
            ctx.log.info(f"{ctx.group.name}: {gate.reason}")
            return
        if gate.closed_for_good or now >= deadline:
            # Publish "not serving" again: the old master lives and must not
            # read our intent as a second master (the worker demotes next).
            from ..store import state
            saved = state.load(config.paths.state_dir, ctx.group.name)
            state.save(config.paths.state_dir, saved.with_changes(role="BACKUP"))
            raise GateClosed(f"{ctx.group.name}: not serving: {gate.reason}")
        if on_wait is not None:
            on_wait(gate)
        clock.sleep(max(0.01, min(interval / 4, (gate.opens_at or now + interval) - now)))


def errno_name(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, str(error.errno))


# --- the petter, in the heartbeat process -------------------------------------------------


class Petter:
    """Owns the device. `tick()` is called every PET_SECONDS by a thread
    that does no other I/O (the share's I/O runs in the heartbeat's own
    thread and only feeds `evidence`), so a hung NAS withholds evidence
    and never blocks a pet. Armed only while this node serves; with no
    fresh evidence it stops petting and calls `on_lapse(reason)` once (the
    addresses go down); `on_recover()` once evidence is back in time."""

    def __init__(self, device, power: int, bound: float, on_lapse, on_recover=None, log=None,
                 started: Optional[float] = None):
        self.device, self.power, self.bound = device, power, bound
        # A heartbeat (re)started under a serving node has no evidence yet:
        # it gets `bound` seconds from its start before it lapses.
        self.started = clock.monotonic() if started is None else started
        self.on_lapse, self.on_recover, self.log = on_lapse, on_recover, log
        self.armed = self.lapsed = False
        self.error: Optional[str] = None

    def _pat(self, word: int) -> bool:
        try:
            self.device.pat(word)
            self.error = None
            return True
        except OSError as error:
            message = f"watchdog: {getattr(self.device, 'path', DEVICE)}: WDIOCPATPAT: {errno_name(error)}"
            if message != self.error and self.log is not None:
                self.log.error(message)
            self.error = message
            return False

    def tick(self, now: float, evidence: Optional[float], serving: bool) -> str:
        if not serving:
            if self.armed and self._pat(pat_word(0)):
                self.armed = False
            self.lapsed = False
            return "off"
        fresh, why = should_pet(now, evidence, self.bound)
        if evidence is None and now - self.started <= self.bound:
            return "waiting"
        if fresh:
            self.armed = self._pat(pat_word(self.power)) or self.armed
            if self.lapsed:
                self.lapsed = False
                if self.on_recover is not None:
                    self.on_recover()
            return "pet"
        if not self.lapsed:
            self.lapsed = True
            self.on_lapse(why)
        return "lapsed"


PET_SECONDS = 0.1


def unusable(petter: Optional[Petter], statuses) -> List[Tuple[str, str]]:
    """(group, reason) for each served group while the device refuses to
    be petted: the peer's gate counts on a reset that cannot come, so the
    software fence must stop this node now."""
    if petter is None or petter.error is None:
        return []
    return [(group, f"the watchdog cannot be petted ({petter.error}): the peer would count on a reset")
            for group, status in statuses.items() if status.serving]


def drop_addresses(config, groups, runner, log, reason: str) -> None:
    """No evidence: take the served groups' addresses down at once, each
    command capped (as a fence step), so no reply reaches a client while
    the board counts down; the reset is the fence."""
    from ..freebsd import commands as cmd
    from ..host.runner import CommandError
    log.error(f"watchdog: {reason}: taking down the addresses of {', '.join(groups) or 'nothing'}")
    for name in groups:
        for alias in config.groups[name].addresses:
            try:
                runner.change(cmd.alias_remove(alias.interface, alias.interface_address),
                              timeout=config.witness.fence_step_seconds, check=False)
            except CommandError as error:
                log.error(f"watchdog: {error}")


def start_petter(config, heartbeat, runner, log, *, on_recover=None, device=None):
    """The heartbeat's petter thread (real hosts); returns the Petter."""
    import threading
    wd = config.watchdog
    io = config.witness.interval_seconds / 2

    def serving():
        return [g for g, st in heartbeat.statuses.items() if st.serving]

    petter = Petter(device or Device(wd.device), wd.power, wd.evidence_seconds,
                    on_lapse=lambda why: drop_addresses(config, serving(), runner, log, why),
                    on_recover=on_recover, log=log)

    petter.stop = threading.Event()

    def loop():
        while not petter.stop.is_set():
            petter.tick(clock.monotonic(), evidence_at(heartbeat.own_written_at, heartbeat.peer_reached_at, io),
                        bool(serving()))
            clock.sleep(PET_SECONDS)
    threading.Thread(target=loop, name="carpha-watchdog", daemon=True).start()
    return petter
