"""`carpha watchdog calibrate` and `carpha watchdog listen`: measure how
long a node's board takes to reset after its last pet, timed by its peer.

The tested node arms /dev/fido, pets it for a second while it beats to
the peer over UDP every 10 ms, says "stopped" and pets no more, and goes on
beating until the board resets it. The peer, on its own monotonic clock,
takes the time from the "stopped" datagram to the last beat it heard and
records it (carpha.safety.watchdog.record_run) for the gate to wait on. Each run
resets the tested node: run it several times (config check wants 3). A
board whose beats go on long after "stopped" does not reset (a BIOS can
block it: ichwd's NO_REBOOT bit, ichwd_clear_noreboot()): nothing is
recorded, and the listener says so.

The datagram: `carpha-watchdog 1 NODE RUN KIND SEQ`, KIND beat|stopped,
checked strictly (from the peer's address, that node, a number, a run id of
hex digits); anything else is ignored. [unverified]: never run on
hardware; the tests run both ends on the loopback with a fake device."""

from __future__ import annotations

import os
import re
import sys
from typing import Callable, Optional

from .. import clock, exits
from ..safety import watchdog
from ..exits import CarphaError

MAGIC = "carpha-watchdog"
DATAGRAM = re.compile(r"carpha-watchdog 1 ([A-Za-z0-9][A-Za-z0-9_.-]{0,62}) ([0-9a-f]{8,32}) (beat|stopped) ([0-9]{1,9})")
SILENCE_SECONDS = 2.0         # no beat this long after "stopped": the board reset
NO_RESET_SECONDS = 120.0      # still beating this long after "stopped": it does not reset
WARMUP_SECONDS = 1.0


def datagram(node: str, run: str, kind: str, seq: int) -> bytes:
    return f"{MAGIC} 1 {node} {run} {kind} {seq}".encode()


def parse_datagram(data: bytes):
    """(node, run, kind, seq) or None."""
    try:
        match = DATAGRAM.fullmatch(data.decode("ascii"))
    except UnicodeDecodeError:
        return None
    return None if match is None else (match.group(1), match.group(2), match.group(3), int(match.group(4)))


def send_run(device, power: int, node: str, target, *, send: Callable[[bytes], None],
             run: Optional[str] = None, limit: float = NO_RESET_SECONDS) -> float:
    """The tested node's part: arm, warm up, stop petting, beat until the
    board resets (this never returns then). Returns the seconds it kept
    beating when the board did not reset within `limit` (then disarmed)."""
    run = run or os.urandom(8).hex()
    beat = watchdog.CALIBRATION_BEAT_SECONDS
    seq = 0
    started = clock.monotonic()
    while clock.monotonic() - started < WARMUP_SECONDS:
        device.pat(watchdog.pat_word(power))
        send(datagram(node, run, "beat", seq))
        seq += 1
        clock.sleep(beat)
    device.pat(watchdog.pat_word(power))            # the last pet
    stopped = clock.monotonic()
    send(datagram(node, run, "stopped", seq))
    while clock.monotonic() - stopped < limit:
        seq += 1
        send(datagram(node, run, "beat", seq))
        clock.sleep(beat)
    device.pat(watchdog.pat_word(0))
    return clock.monotonic() - stopped


class Listener:
    """The peer's part: the runs of `node` heard on `sock`, each measured
    from its "stopped" to its last beat, on this machine's clock."""

    def __init__(self, node: str, source: Optional[str] = None):
        self.node, self.source = node, source
        self.runs: dict = {}          # run -> {"stopped": t, "last": t}

    def hear(self, data: bytes, sender: str, now: float) -> None:
        if self.source is not None and sender != self.source:
            return
        parsed = parse_datagram(data)
        if parsed is None or parsed[0] != self.node:
            return
        _, run, kind, _ = parsed
        entry = self.runs.setdefault(run, {"stopped": None, "last": None})
        if kind == "stopped" and entry["stopped"] is None:
            entry["stopped"] = now
        entry["last"] = now

    def finished(self, now: float):
        """[(run, seconds or None if it did not reset)] of the runs over."""
        out = []
        for run, entry in self.runs.items():
            if entry["stopped"] is None:
                continue
            if now - entry["last"] >= SILENCE_SECONDS:
                out.append((run, entry["last"] - entry["stopped"]))
            elif now - entry["stopped"] >= NO_RESET_SECONDS:
                out.append((run, None))
        return out


def listen(config, peer: str, runs: int, sock, echo=print, timeout: Optional[float] = None) -> int:
    """Record `runs` runs of `peer`; exit code."""
    source = str(config.nodes[peer].address)
    listener = Listener(peer, source)
    done: set = set()
    started = clock.monotonic()
    sock.settimeout(0.5)
    while len(done) < runs:
        if timeout is not None and clock.monotonic() - started > timeout:
            echo(f"watchdog listen: {len(done)} of {runs} run(s) of {peer} in {timeout:g} s")
            return exits.TEMPFAIL
        try:
            data, (sender, _port) = sock.recvfrom(256)
            listener.hear(data, sender, clock.monotonic())
        except TimeoutError:     # socket.timeout is TimeoutError since Python 3.10
            pass
        for run, seconds in listener.finished(clock.monotonic()):
            if run in done:
                continue
            done.add(run)
            if seconds is None:
                echo(f"watchdog listen: {peer} kept beating {NO_RESET_SECONDS:g} s after its last pet: its "
                     f"board does not reset (BIOS or hardware blocks the watchdog); nothing recorded")
                return exits.FAILED
            found = watchdog.record_run(config.paths.state_dir, peer, config.watchdog.power, seconds)
            echo(f"watchdog listen: {peer} run {len(found.runs)}: reset {seconds:.2f} s after its last pet "
                 f"(recorded; the gate waits {found.measured_seconds:.2f} s x {config.watchdog.wait_multiple:g})")
    return exits.OK


def _config_with_watchdog(args):
    from .common import load_config
    config = load_config(args)
    if config.watchdog is None:
        raise CarphaError(f"{config.path}: no watchdog section: nothing to calibrate", exits.CONFIG)
    return config


def _peer(config) -> str:
    from ..safety.witness_config import peer_of
    return peer_of(config, config.node)


def cmd_calibrate(args) -> int:
    from ..store.lock import Lock, LockBusy
    from ..store.state import load as load_state
    config = _config_with_watchdog(args)
    wd, peer = config.watchdog, _peer(config)
    target = (str(config.nodes[peer].address), wd.calibration_port)
    serving = [name for name, g in config.groups.items() if config.node in g.nodes
               and load_state(config.paths.state_dir, name).role == "MASTER"]
    plan = [f"open {wd.device} and arm it: WDIOCPATPAT {watchdog.WDIOCPATPAT:#x} with "
            f"{watchdog.pat_word(wd.power):#x} (2^{wd.power} ns, {watchdog.nominal_seconds(wd.power):.2f} s nominal)",
            f"beat to {target[0]}:{target[1]} every {watchdog.CALIBRATION_BEAT_SECONDS * 1000:g} ms "
            f"(run `carpha watchdog listen` on {peer} first)",
            f"stop petting after {WARMUP_SECONDS:g} s: the board resets {config.node}"]
    if serving:
        raise CarphaError(f"watchdog calibrate: {config.node} serves {', '.join(serving)}: move it first "
                          f"(carpha switchover); the reset would take it down", exits.TEMPFAIL)
    if args.dry_run:
        for line in plan:
            print(f"would {line}")
        return exits.OK
    try:
        held = Lock(config.paths.run_dir, "heartbeat", purpose="watchdog calibrate").acquire(timeout=0)
    except LockBusy:
        raise CarphaError("watchdog calibrate: carpha heartbeat runs and owns the watchdog: "
                          "service carpha_heartbeat stop first", exits.TEMPFAIL) from None
    import socket     # here, not at the top: main imports every subcommand, the worker too
    device = watchdog.Device(wd.device)
    sock = socket.socket(socket.AF_INET6 if ":" in target[0] else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        device.open()
        for line in plan:
            print(line, flush=True)
        kept = send_run(device, wd.power, config.node, target, send=lambda data: sock.sendto(data, target))
    except OSError as error:
        raise CarphaError(f"watchdog calibrate: {wd.device}: {error.strerror or error}", exits.UNAVAILABLE) from None
    finally:
        sock.close()
        device.close()
        held.release()
    print(f"watchdog calibrate: the board did not reset within {kept:.0f} s of the last pet: the watchdog "
          f"is disabled in BIOS or hardware; use no watchdog section (the software fence)", file=sys.stderr)
    return exits.FAILED


def cmd_listen(args) -> int:
    config = _config_with_watchdog(args)
    peer = _peer(config)
    mine = str(config.nodes[config.node].address)
    import socket     # here, not at the top: main imports every subcommand, the worker too
    sock = socket.socket(socket.AF_INET6 if ":" in mine else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((mine, config.watchdog.calibration_port))
        print(f"watchdog listen: waiting for {args.runs} run(s) of {peer} on {mine}:"
              f"{config.watchdog.calibration_port}", flush=True)
        return listen(config, peer, args.runs, sock, timeout=args.timeout)
    except OSError as error:
        raise CarphaError(f"watchdog listen: {mine}:{config.watchdog.calibration_port}: {error.strerror or error}",
                          exits.UNAVAILABLE) from None
    finally:
        sock.close()


def check_lines(config):
    """What `carpha config check` says about the watchdog: (lines, problems)."""
    if config.watchdog is None:
        if config.witness.kind != "lease":
            return [], []
        from ..config import fencing_bound
        bound = fencing_bound(config.witness, config.groups, config.node)
        return [f"no watchdog: the software fence (bound {bound:g} s); the standby waits "
                f"takeover_after_seconds {config.witness.takeover_after_seconds:g} s"], []
    try:
        calibrations = watchdog.load_calibration(config.paths.state_dir)
    except CarphaError as error:
        return [], [str(error)]
    wait, problems = watchdog.standby_wait(config, config.node, calibrations)
    if not os.path.exists(config.watchdog.device):
        # watchdog.c makes /dev/fido when the framework loads; a driver
        # (ichwd, itwd, amdsbwd, ...) must take the pats [unverified].
        problems.append(f"watchdog.device: {config.watchdog.device} does not exist: no watchdog here "
                        f"(load its driver, e.g. kldload ichwd, or remove the watchdog section)")
    if wait is None:
        return [], problems
    peer = _peer(config)
    margin = watchdog.margin_seconds(config.witness, config.watchdog)
    return [f"watchdog: {config.node} serves {wait:.2f} s after its last evidence of {peer} (margin "
            f"{margin:g} s + {config.watchdog.wait_multiple:g} x {peer}'s measured "
            f"{calibrations[peer].measured_seconds:.2f} s)"], problems


def register(sub) -> None:
    p = sub.add_parser("watchdog", help="the hardware watchdog: calibrate it with the peer")
    wsub = p.add_subparsers(dest="watchdog_command", metavar="SUBCOMMAND")
    wsub.required = True
    c = wsub.add_parser("calibrate", help="arm /dev/fido, stop petting and let the peer time the reset "
                                          "(this node resets)")
    c.add_argument("--dry-run", action="store_true", help="print what it would do and change nothing")
    c.set_defaults(handler=cmd_calibrate)
    w = wsub.add_parser("listen", help="time the peer's calibration runs and record them here")
    w.add_argument("--runs", type=int, default=watchdog.MIN_RUNS, help="runs to record (default 3)")
    w.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    w.set_defaults(handler=cmd_listen)
