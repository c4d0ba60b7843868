"""carpha.safety.watchdog: the ioctl number and its word, the petting rule, the
standby's gate, the calibration record; carpha.sim.watchdog: /dev/fido and
each driver's granularity as their source counts it."""

import errno
import json
import os
import threading

import pytest

from carpha.cli import calibrate
from carpha.safety import watchdog
from carpha.config import ConfigError, loads
from carpha.sim import watchdog as simdog
from carpha.safety.witness_view import View

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "examples", "three-servers.yaml")


def example(extra="\nwatchdog: {}\n", node="serverB"):
    return loads(open(EXAMPLE).read() + extra, "carpha.yaml", node=node)


# --- the device word -------------------------------------------------------------

def test_wdiocpatpat_is_iow_w_42_of_a_four_byte_u_int():
    # IOC_IN | 4 << 16 | 'W' << 8 | 42 (sys/sys/ioccom.h, sys/sys/watchdog.h)
    assert watchdog.WDIOCPATPAT == 0x8004572A


def test_the_pat_word_is_wd_active_with_the_power_and_zero_turns_it_off():
    assert watchdog.pat_word(31) == 0x8000000 | 31
    assert watchdog.pat_word(0) == 0


def test_power_for_rounds_up_to_the_next_power_of_two_nanoseconds():
    assert watchdog.power_for(1.0) == 30          # 2^30 ns = 1.07 s
    assert watchdog.power_for(2.0) == 31
    assert watchdog.nominal_seconds(31) == pytest.approx(2.147, abs=1e-3)


# --- the drivers -------------------------------------------------------------------

def test_ichwd_counts_at_least_four_ticks_of_0_6_s_and_resets_at_the_second_run_down():
    assert simdog.ichwd_seconds(30) == pytest.approx(4.8)      # 1 tick, raised to 4, twice
    assert simdog.ichwd_seconds(31) == pytest.approx(4.8)      # 3 ticks, raised to 4
    assert simdog.ichwd_seconds(33) == pytest.approx(2 * 14 * 0.6)


def test_super_io_and_amd_count_whole_seconds():
    assert simdog.itwd_seconds(29) == 1.0 and simdog.itwd_seconds(31) == 2.0
    assert simdog.itwd_seconds(39) is None                     # 512 s: more than 255, refused
    assert simdog.amdsbwd_seconds(31) == 2.0                   # 2048 ms / 1000 ms per tick
    assert simdog.amdsbwd_seconds(25) == 1.0                   # too short: 1 tick


def test_the_sim_device_resets_after_the_drivers_time_and_a_pat_restarts_it():
    now = [0.0]
    dev = simdog.SimWatchdog("ichwd", lambda: now[0])
    dev.pat(watchdog.pat_word(31))
    now[0] = 4.7
    assert not dev.expired()
    dev.pat(watchdog.pat_word(31))
    now[0] = 9.4
    assert not dev.expired()
    now[0] = 9.5
    assert dev.expired()


def test_the_sim_device_refuses_what_wd_ioctl_patpat_refuses():
    dev = simdog.SimWatchdog("ichwd", lambda: 0.0)
    for word, code in ((simdog.WD_ACTIVE | simdog.WD_PASSIVE | 31, errno.EINVAL),
                       (simdog.WD_PASSIVE | 31, errno.ENOSYS), (31, errno.EINVAL), (1 << 30, errno.EINVAL)):
        with pytest.raises(OSError) as caught:
            dev.pat(word)
        assert caught.value.errno == code
    dev.pat(watchdog.pat_word(31))
    dev.pat(0)                                                 # off
    assert dev.deadline is None


def test_a_timeout_the_driver_cannot_count_stops_the_timer_and_says_eopnotsupp():
    dev = simdog.SimWatchdog("itwd", lambda: 0.0)
    dev.pat(watchdog.pat_word(31))
    with pytest.raises(OSError) as caught:
        dev.pat(watchdog.pat_word(39))
    assert caught.value.errno == errno.EOPNOTSUPP and dev.deadline is None


# --- petting ------------------------------------------------------------------------

def test_pet_only_on_evidence_younger_than_the_bound():
    assert watchdog.should_pet(10.0, 9.1, 1.0)[0]
    assert not watchdog.should_pet(10.0, 8.9, 1.0)[0]
    assert not watchdog.should_pet(10.0, None, 1.0)[0]


def test_a_ping_counts_from_when_it_may_have_started():
    assert watchdog.evidence_at(None, 10.0, 0.25) == 9.75
    assert watchdog.evidence_at(9.9, 10.0, 0.25) == 9.9


class Recorder:
    def __init__(self):
        self.words = []

    def pat(self, word):
        self.words.append(word)


def test_the_petter_arms_while_serving_lapses_once_then_recovers_and_disarms_when_idle():
    dev, lapses, recoveries = Recorder(), [], []
    petter = watchdog.Petter(dev, 31, 1.0, on_lapse=lapses.append, on_recover=lambda: recoveries.append(1),
                             started=0.0)
    assert petter.tick(10.0, 9.5, serving=True) == "pet"
    assert petter.tick(11.0, 9.5, serving=True) == "lapsed"
    assert petter.tick(11.1, 9.5, serving=True) == "lapsed"
    assert len(lapses) == 1 and dev.words == [watchdog.pat_word(31)]     # no pet while lapsed
    assert petter.tick(11.2, 11.0, serving=True) == "pet" and recoveries == [1]
    assert petter.tick(12.0, 11.9, serving=False) == "off" and dev.words[-1] == 0


def test_a_petter_started_under_a_serving_node_waits_one_bound_for_evidence_before_it_lapses():
    lapses = []
    petter = watchdog.Petter(Recorder(), 31, 1.0, on_lapse=lapses.append, started=5.0)
    assert petter.tick(5.5, None, serving=True) == "waiting" and not lapses
    assert petter.tick(6.1, None, serving=True) == "lapsed" and len(lapses) == 1


def test_a_petter_that_cannot_pat_logs_once_and_goes_on():
    class Missing:
        path = "/dev/fido"

        def pat(self, word):
            raise OSError(errno.ENOENT, "No such file or directory")

    said = []

    class Log:
        def error(self, line):
            said.append(line)
    petter = watchdog.Petter(Missing(), 31, 1.0, on_lapse=lambda why: None, log=Log(), started=0.0)
    petter.tick(1.0, 0.9, True)
    petter.tick(1.1, 1.0, True)
    assert said == ["watchdog: /dev/fido: WDIOCPATPAT: ENOENT"]


def test_the_petting_thread_keeps_petting_while_the_share_hangs(tmp_path):
    # The heartbeat's share I/O hangs (a hard NFS mount) for 1.2 s, longer
    # than the evidence bound; the peer answers ping. The petter thread
    # only reads what the beats left, so it pets throughout.
    import time
    from carpha.engine.lease import Heartbeat
    config = example(node="serverA")
    share, state = tmp_path / "share", tmp_path / "state"
    share.mkdir()
    hb = Heartbeat(str(share), "serverA", "serverB", str(state), probe_peer=lambda timeout: True,
                   io_timeout=0.1, require_mount=False)
    hung = threading.Event()
    real = hb._share_io
    hb._share_io = lambda statuses, progress: (hung.wait(), real(statuses, progress))
    hb.statuses = {"web": type("S", (), {"serving": True})()}
    dev = Recorder()
    import logging
    petter = watchdog.start_petter(config, hb, runner=None, log=logging.getLogger("test"), device=dev)
    stop = time.monotonic() + 1.2
    while time.monotonic() < stop:
        hb.beat()                      # waits io_timeout on the hung share, then pings
        hb.statuses = {"web": type("S", (), {"serving": True})()}
        time.sleep(0.1)
    petter.stop.set()
    hung.set()
    pats = [w for w in dev.words if w]
    assert hb.own_ok is False and len(pats) >= 8


# --- the gate -------------------------------------------------------------------------

def view(now, *, changed=None, reached=None, serving=True, updated=None):
    return View(node="serverB", peer="serverA", directory="/w", pid=1, started=0.0,
                updated=now if updated is None else updated, own_ok=True, own_error=None,
                own_written_at=now, peer_counter=5, peer_changed_at=changed, peer_error=None,
                peer_reachable=False, peer_reached_at=reached,
                peer_groups={"web": {"serving": serving, "generation": 1, "replica_in_sync": True}})


def test_the_gate_opens_at_last_evidence_plus_margin_plus_k_times_the_interval():
    gate = watchdog.gate_decision(16.85, view(16.85, changed=10.0, reached=9.0), "web", 2.1, 1.0, 4.8, 0.5)
    assert not gate.open and not gate.closed_for_good and gate.opens_at == pytest.approx(16.9)
    assert watchdog.gate_decision(16.95, view(16.95, changed=10.0), "web", 2.1, 1.0, 4.8, 0.5).open


def test_the_gate_closes_for_good_when_the_master_shows_life():
    gate = watchdog.gate_decision(15.0, view(15.0, changed=14.5), "web", 2.1, 1.0, 4.8, 0.5)
    assert gate.closed_for_good


def test_the_gate_waits_for_a_fresh_view():
    gate = watchdog.gate_decision(30.0, view(30.0, changed=10.0, updated=29.0), "web", 2.1, 1.0, 4.8, 0.5)
    assert not gate.open and "fresh" in gate.reason


def test_a_peer_that_says_it_stopped_serving_needs_no_gate():
    # A planned switchover: the releasing node confirmed it has stopped.
    assert watchdog.gate_decision(10.2, view(10.2, changed=10.0, serving=False), "web", 2.1, 1.0, 4.8, 0.5).open


def test_the_margin_is_the_evidence_bound_plus_two_intervals_plus_slack():
    config = example()
    assert config.witness.interval_seconds == 0.5                  # the watchdog's default
    assert watchdog.margin_seconds(config.witness, config.watchdog) == pytest.approx(1 + 1 + 0.1)
    assert config.witness.takeover_after_seconds == pytest.approx(2.1)   # the standby prepares after it


# --- calibration and config -------------------------------------------------------------

def test_calibration_records_runs_and_the_wait_follows_from_them(tmp_path):
    config = example()
    for seconds in (4.79, 4.8, 4.78):
        watchdog.record_run(str(tmp_path), "serverA", 31, seconds)
    records = watchdog.load_calibration(str(tmp_path))
    wait, problems = watchdog.standby_wait(config, "serverB", records)
    assert problems == [] and wait == pytest.approx(2.1 + 4.81)


def test_an_uncalibrated_or_half_calibrated_peer_is_a_problem(tmp_path):
    config = example()
    assert "never calibrated" in watchdog.standby_wait(config, "serverB", {})[1][0]
    watchdog.record_run(str(tmp_path), "serverA", 30, 4.8)
    problems = watchdog.standby_wait(config, "serverB", watchdog.load_calibration(str(tmp_path)))[1]
    assert any("2^30" in p for p in problems) and any("1 calibration run" in p for p in problems)


@pytest.mark.parametrize("text", ["[]", '{"schema": 1, "nodes": {"serverA": {"power": 99, "runs": [1]}}}',
                                  '{"schema": 1, "nodes": {"serverA": {"power": 31, "runs": []}}}',
                                  '{"schema": 1, "nodes": {"serverA": {"power": 31, "runs": [true]}}}', "{"])
def test_a_garbled_calibration_record_is_refused_in_one_line(text):
    with pytest.raises(watchdog.CalibrationError) as caught:
        watchdog.parse_calibration(text, "watchdog-calibration.json")
    assert "\n" not in str(caught.value)


def test_config_refuses_a_watchdog_without_a_lease_or_with_a_takeover_time():
    text = open(EXAMPLE).read()
    with pytest.raises(ConfigError) as caught:
        loads(text.replace("  # takeover_after_seconds: 30", "  takeover_after_seconds: 30") + "\nwatchdog: {}\n",
              "carpha.yaml", node="serverB")
    assert any("derived from the calibration" in p for p in caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        loads(text + "\nwatchdog: {wait_multiple: 0.5}\n", "carpha.yaml", node="serverB")
    assert any("wait_multiple" in p and "below 1" in p for p in caught.value.problems)


def test_config_check_derives_the_wait_refuses_an_uncalibrated_profile_and_falls_back(tmp_path):
    import dataclasses
    config = example()
    fido = tmp_path / "fido"
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, state_dir=str(tmp_path)),
                                 watchdog=dataclasses.replace(config.watchdog, device=str(fido)))
    lines, problems = calibrate.check_lines(config)
    assert lines == [] and "never calibrated" in problems[0]
    assert "does not exist: no watchdog here" in problems[-1]
    fido.write_text("")
    for seconds in (4.8, 4.8, 4.8):
        watchdog.record_run(str(tmp_path), "serverA", 31, seconds)
    lines, problems = calibrate.check_lines(config)
    assert problems == [] and "serves 6.91 s after its last evidence of serverA" in lines[0]
    plain = loads(open(EXAMPLE).read(), "carpha.yaml", node="serverB")
    lines, problems = calibrate.check_lines(plain)
    assert problems == [] and lines[0].startswith("no watchdog: the software fence (bound 23 s)")


# --- the calibration's two ends, on the loopback -----------------------------------------

def test_calibrate_and_listen_measure_the_reset_on_the_loopback(tmp_path, monkeypatch):
    import dataclasses
    import socket
    monkeypatch.setattr(calibrate, "SILENCE_SECONDS", 0.3)
    monkeypatch.setattr(calibrate, "WARMUP_SECONDS", 0.1)
    base = example()
    config = dataclasses.replace(
        base, paths=dataclasses.replace(base.paths, state_dir=str(tmp_path)),
        nodes={**base.nodes, "serverA": dataclasses.replace(base.nodes["serverA"],
                                                            address=__import__("ipaddress").ip_address("127.0.0.1"))})
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    class Board:
        """Resets 0.4 s after the last pet: the sending thread stops dead."""
        def __init__(self):
            self.deadline = None

        def pat(self, word):
            from carpha import clock
            self.deadline = clock.monotonic() + 0.4 if word else None

    class Reset(BaseException):
        pass

    board = Board()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(data):
        from carpha import clock
        if board.deadline is not None and clock.monotonic() >= board.deadline:
            raise Reset()
        sender.sendto(data, ("127.0.0.1", port))

    def tested_node():
        for _ in range(3):
            try:
                calibrate.send_run(board, 31, "serverA", None, send=send, limit=5)
            except Reset:
                pass

    said = []
    thread = threading.Thread(target=tested_node, daemon=True)
    thread.start()
    code = calibrate.listen(config, "serverA", 3, listener, echo=said.append, timeout=20)
    sender.close()
    listener.close()
    assert code == 0, said
    runs = watchdog.load_calibration(str(tmp_path))["serverA"].runs
    assert len(runs) == 3 and all(0.3 <= r <= 0.45 for r in runs)


def test_a_datagram_that_is_not_exactly_ours_is_ignored():
    heard = calibrate.Listener("serverA", "192.0.2.1")
    heard.hear(calibrate.datagram("serverA", "0123456789abcdef", "stopped", 5), "192.0.2.9", 1.0)  # wrong sender
    heard.hear(b"carpha-watchdog 1 serverA xyz stopped 5", "192.0.2.1", 1.0)                       # bad run id
    heard.hear(calibrate.datagram("serverB", "0123456789abcdef", "stopped", 5), "192.0.2.1", 1.0)  # other node
    assert heard.runs == {}
    assert calibrate.parse_datagram(b"\xff\xfe") is None
