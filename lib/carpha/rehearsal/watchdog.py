"""The watchdog in `carpha simulate`: each node's /dev/fido (carpha.sim.
watchdog, a profile per node), the heartbeat's petter driven by simulated
time, the board's reset, a kernel that freezes and resumes, and the
calibration a standby reads.

The petter runs in the driver's own turn every tick, as the heartbeat's
petting thread does: it does no I/O but the ioctl, so nothing a beat waits
on (the share, a ping) can hold it up. Its only input is the evidence the
node's heartbeat gathered. A frozen host runs nothing (its processes wait,
its heartbeat does not beat, its jails answer no client, it neither sends
nor receives), while its board's timer runs on."""

from __future__ import annotations

from typing import Dict, Optional

from ..safety import watchdog
from ..sim import watchdog as simdog

REBOOT_SECONDS = 30.0          # reset, firmware, loader, rc: until rc.d/carpha_boot
CALIBRATION_RUNS = 3


class WatchdogRig:
    def __init__(self, rehearsal, profiles: Optional[Dict[str, str]] = None):
        self.r = rehearsal
        self.devices: Dict[str, Optional[simdog.SimWatchdog]] = {}
        self.petters: Dict[str, watchdog.Petter] = {}
        self.frozen: Dict[str, float] = {}          # node -> simulated time it resumes
        self.reboot_at: Dict[str, float] = {}
        self.resets: list = []                      # (node, time)
        for node in rehearsal.configs:
            profile = (profiles or {}).get(node, "ichwd")
            host = rehearsal.cluster[node]
            self.devices[node] = simdog.make(profile, host.now)
        self._calibrate()

    # -- calibration ---------------------------------------------------------------
    def _calibrate(self) -> None:
        """What `carpha watchdog listen` records on each node for its peer:
        the peer's board armed, never petted again, timed by its last 10 ms
        beat heard before the reset (runs on a copy of the peer's device
        model, so the steady state starts with both nodes up)."""
        for node, config in self.r.configs.items():
            peer = config.groups[self.r.group.name].peer_of(node)
            device = self.devices.get(peer)
            if device is None or config.watchdog is None:
                continue
            for _ in range(CALIBRATION_RUNS):
                t = [0.0]
                copy = simdog.SimWatchdog(device.driver, lambda: t[0])
                copy.pat(watchdog.pat_word(config.watchdog.power))
                beat = watchdog.CALIBRATION_BEAT_SECONDS
                while not copy.expired():
                    t[0] = round(t[0] + beat, 6)
                last_heard = t[0] - beat             # the reset came before this beat
                watchdog.record_run(config.paths.state_dir, peer, config.watchdog.power, last_heard)

    # -- every tick --------------------------------------------------------------------
    def is_frozen(self, node: str) -> bool:
        return node in self.frozen

    def start_petter(self, node: str) -> None:
        config = self.r.configs[node]
        device = self.devices.get(node)
        if config.watchdog is None:
            return
        self.petters[node] = watchdog.Petter(
            device if device is not None else _Missing(), config.watchdog.power,
            config.watchdog.evidence_seconds, on_lapse=lambda why: self._lapse(node, why),
            on_recover=lambda: self._recover(node))

    def unusable(self, node: str) -> list:
        return watchdog.unusable(self.petters.get(node), self.r.heartbeats[node].statuses)

    def tick(self) -> None:
        now = self.r.sim_clock.monotonic()
        for node, until in list(self.frozen.items()):
            if now >= until - 1e-9:
                self.thaw(node)
        for node, petter in self.petters.items():
            host = self.r.cluster[node]
            heartbeat = self.r.heartbeats.get(node)
            if not host.up or node in self.frozen or heartbeat is None:
                continue
            io = self.r.io_timeout(node)
            serving = any(st.serving for st in heartbeat.statuses.values())
            petter.tick(now, watchdog.evidence_at(heartbeat.own_written_at, heartbeat.peer_reached_at, io),
                        serving)
        for node, device in self.devices.items():
            host = self.r.cluster[node]
            if device is None:
                continue
            if not host.up:
                device.boot()              # power off: the board's timer stops
            elif device.expired() and device.resets:
                self._reset(node)
        for node, at in list(self.reboot_at.items()):
            if now >= at:
                del self.reboot_at[node]
                self.r.boot(node)

    def _lapse(self, node: str, why: str) -> None:
        self.r.record(node, "watchdog", f"{why}; addresses down")
        config = self.r.configs[node]
        groups = [g for g, st in self.r.heartbeats[node].statuses.items() if st.serving]
        self.r.spawn(node, "lapse", lambda: watchdog.drop_addresses(config, groups, self.r.runner(node),
                                                                     self.r.log, why))

    def _recover(self, node: str) -> None:
        self.r.record(node, "watchdog", "round-trip evidence is back: petting again")
        self.r.run_worker(node, "evidence back")

    def _reset(self, node: str) -> None:
        self.r.record(node, "watchdog", "the board's watchdog fired: reset")
        self.resets.append((node, self.r.sim_clock.now()))
        if self.frozen.pop(node, None) is not None:
            self._reconnect(node)         # a reset ends the freeze
        self.r.cluster.crash(node)
        self.devices[node].boot()
        self.reboot_at[node] = self.r.sim_clock.monotonic() + REBOOT_SECONDS

    # -- a kernel that hangs ---------------------------------------------------------------
    def freeze(self, node: str, seconds: float) -> None:
        """Nothing runs on `node` for `seconds`; it sends and hears nothing.
        Then it runs on as if nothing happened (unless its board reset it)."""
        self.r.record(node, "scenario", f"the kernel freezes for {seconds:g} s")
        self.frozen[node] = self.r.sim_clock.monotonic() + seconds
        for other in self.r.configs:
            if other != node:
                self.r.cluster.cut(node, other)
        self.r.cut_witness(node)

    def thaw(self, node: str) -> None:
        self.frozen.pop(node, None)
        if not self.r.cluster[node].up:
            return
        self.r.record(node, "scenario", "the kernel runs on")
        self._reconnect(node)

    def _reconnect(self, node: str) -> None:
        for other in self.r.configs:
            if other != node:
                self.r.cluster.heal(node, other)
        self.r.restore_witness(node)


class _Missing:
    """A node with no watchdog driver: /dev/fido does not exist."""
    path = watchdog.DEVICE

    def pat(self, word: int) -> None:
        import errno
        raise OSError(errno.ENOENT, "No such file or directory")
