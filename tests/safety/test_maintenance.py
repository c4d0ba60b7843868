"""carpha.safety.maintenance: the mode ends by itself, survives a reboot, reports an
expired mode as expired, refuses bad input with a clear message, and tracks
exactly the CARP demotion carpha added; `carpha maintenance` as a process."""

import json
import os
import re
import stat
import subprocess
import sys

import pytest
from freezegun import freeze_time

from carpha import config
from carpha.safety import maintenance
from carpha.safety.maintenance import DEMOTION, MAX_SECONDS, Mode
from conftest import LIB, ROOT

T0 = 1714564800.0          # 2024-05-01 12:00:00 UTC


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "state")


# --- durations and reasons ------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("30m", 1800), ("4h", 14400), ("2d", 172800), ("3600", 3600), (" 45 ", 45),
    ("30d", MAX_SECONDS), (str(MAX_SECONDS), MAX_SECONDS),
])
def test_parse_duration_reads_units_and_plain_seconds(text, seconds):
    assert maintenance.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1.5h", "-5m", "+5m", "4H", "5w", "4 h", "1h30m", "\u0664h"])
def test_parse_duration_refuses_what_is_not_a_whole_number_with_a_unit(text):
    with pytest.raises(ValueError) as caught:
        maintenance.parse_duration(text)
    assert str(caught.value) == (f"{text!r} is not a duration: expected a whole number of seconds or a whole"
                                 " number with a unit s, m, h or d (90s, 30m, 4h, 2d)")


@pytest.mark.parametrize("text", ["0", "0s", "0d"])
def test_parse_duration_refuses_zero(text):
    with pytest.raises(ValueError, match=re.escape(f"{text!r} is not a duration: it must be more than 0")):
        maintenance.parse_duration(text)


@pytest.mark.parametrize("text", ["31d", "2592001", "99999999999999999999d"])
def test_parse_duration_refuses_more_than_30_days(text):
    with pytest.raises(ValueError) as caught:
        maintenance.parse_duration(text)
    assert str(caught.value) == f"{text!r} is longer than 30 days, the most maintenance mode can last"


@pytest.mark.parametrize("reason, message", [
    ("", "a reason is required: say why, e.g. --reason 'replacing ada1 on serverB'"),
    ("   ", "a reason is required: say why, e.g. --reason 'replacing ada1 on serverB'"),
    ("disk swap\nrm -rf", "the reason must be one line (line break at character 10)"),
    ("disk swap\r", "the reason must be one line (line break at character 10)"),
    ("a\u2028b", "the reason must be one line (line break at character 2)"),
    ("tab\there", "the reason must not contain control characters (U+0009 at character 4)"),
    ("\x1b[31mred", "the reason must not contain control characters (U+001B at character 1)"),
    ("abc\u202efdp.exe", "the reason must not contain control characters (U+202E at character 4)"),
    ("bad byte \udcff", "the reason must not contain control characters (U+DCFF at character 10)"),
    ("x" * 201, "the reason is 201 characters long; at most 200"),
])
def test_bad_reasons_are_refused_with_what_is_wrong(reason, message, state_dir):
    with pytest.raises(ValueError) as caught:
        maintenance.enable(state_dir, reason, 60, now=T0)
    assert str(caught.value) == message
    assert not os.path.exists(maintenance.path_for(state_dir))


def test_reason_keeps_its_text_without_surrounding_spaces(state_dir):
    mode = maintenance.enable(state_dir, "  Plattentausch ada1 (Müller)  ", 60, now=T0)
    assert mode.reason == "Plattentausch ada1 (Müller)"
    assert maintenance.enable(state_dir, "y" * 200, 60, now=T0).reason == "y" * 200


@pytest.mark.parametrize("seconds", [0, -1, MAX_SECONDS + 1, True, "60"])
def test_enable_refuses_a_duration_outside_30_days(seconds, state_dir):
    with pytest.raises(ValueError):
        maintenance.enable(state_dir, "disk swap", seconds, now=T0)


# --- the mode -----------------------------------------------------------------------------


def test_mode_is_on_until_its_end_and_over_from_the_end_on(state_dir):
    with freeze_time("2024-05-01 12:00:00") as frozen:
        maintenance.enable(state_dir, "disk swap", 90)
        assert maintenance.current(state_dir) == Mode("disk swap", T0, T0 + 90)
        frozen.tick(89.5)
        assert maintenance.current(state_dir) is not None
        frozen.tick(0.5)
        assert maintenance.current(state_dir) is None


def test_mode_with_the_default_duration_ends_after_four_hours(state_dir):
    default = config.Maintenance().default_seconds
    assert default == 4 * 3600
    with freeze_time("2024-05-01 12:00:00") as frozen:
        maintenance.enable(state_dir, "disk swap", default)
        frozen.tick(4 * 3600 - 1)
        assert maintenance.current(state_dir) is not None
        frozen.tick(1)
        assert maintenance.current(state_dir) is None


def test_expired_mode_is_reported_as_expired_and_blocks_nothing(state_dir):
    maintenance.enable(state_dir, "disk swap", 3600, now=T0, by="alice")
    later = T0 + 7200
    assert maintenance.status(state_dir, later) == (
        "maintenance: expired at 2024-05-01 13:00:00 UTC (on since 2024-05-01 12:00:00 UTC by alice:"
        " disk swap); automatic failover is active")
    assert maintenance.report(state_dir, later)["state"] == "expired"
    assert maintenance.current(state_dir, later) is None
    assert maintenance.blocks_automatic_action(state_dir, later) is None


def test_mode_on_blocks_automatic_action_with_its_reason_and_end(state_dir):
    maintenance.enable(state_dir, "disk swap", 4 * 3600, now=T0, by="alice")
    assert maintenance.blocks_automatic_action(state_dir, T0 + 60) == (
        "maintenance: on since 2024-05-01 12:00:00 UTC by alice until 2024-05-01 16:00:00 UTC (3h 59m left):"
        " disk swap; taking no automatic action")


def test_no_mode_blocks_nothing_and_status_says_off(state_dir):
    assert maintenance.blocks_automatic_action(state_dir, T0) is None
    assert maintenance.status(state_dir, T0) == "maintenance: off"
    assert maintenance.report(state_dir, T0) == {"state": "off", "demotion_recorded": 0, "hold": None}


def test_a_hold_keeps_the_demotion_without_maintenance_and_status_says_why(state_dir):
    boot = "1714564800"
    maintenance.set_hold(state_dir, "booted: until this node's replica is known in sync")
    step = maintenance.plan_demotion(state_dir, boot, T0)
    assert step.argv == ("sysctl", "net.inet.carp.demotion=240") and "hold (booted" in step.reason
    maintenance.record_demotion(state_dir, step.applied, boot)
    assert maintenance.blocks_automatic_action(state_dir, T0) is None, "a hold only demotes"
    assert maintenance.status(state_dir, T0) == (
        "maintenance: off\nCARP demotion held: booted: until this node's replica is known in sync")
    maintenance.enable(state_dir, "disk swap", 3600, T0)
    maintenance.disable(state_dir)
    assert maintenance.read(state_dir).hold is not None, "maintenance on/off keeps the hold"
    maintenance.set_hold(state_dir, None)
    assert maintenance.plan_demotion(state_dir, boot, T0).argv == ("sysctl", "net.inet.carp.demotion=-240")


def test_enable_again_replaces_the_running_mode(state_dir):
    maintenance.enable(state_dir, "disk swap", 3600, now=T0)
    maintenance.enable(state_dir, "longer: waiting for the disk", 86400, now=T0 + 600)
    assert maintenance.current(state_dir, T0 + 7200) == Mode("longer: waiting for the disk", T0 + 600,
                                                             T0 + 600 + 86400)


def test_disable_ends_the_mode_and_returns_it(state_dir):
    maintenance.enable(state_dir, "disk swap", 3600, now=T0)
    assert maintenance.disable(state_dir).reason == "disk swap"
    assert maintenance.current(state_dir, T0 + 1) is None
    assert maintenance.status(state_dir, T0 + 1) == "maintenance: off"
    assert not os.path.exists(maintenance.path_for(state_dir))
    assert maintenance.disable(state_dir) is None


def test_mode_is_kept_in_the_state_dir_privately_and_survives_a_new_process(state_dir, tmp_path):
    # `now` left to the clock: the other process judges expiry by real time.
    maintenance.enable(state_dir, "disk swap", 3600, by="alice")
    path = maintenance.path_for(state_dir)
    assert path == os.path.join(state_dir, "maintenance.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.load(open(path))["schema"] == maintenance.SCHEMA
    reader = ("import sys; from carpha.safety import maintenance;"
              " m = maintenance.current(sys.argv[1]); print(m.reason, m.by, round(m.until - m.since))")
    out = subprocess.run([sys.executable, "-c", reader, state_dir], env={"PYTHONPATH": LIB},
                         capture_output=True, text=True, timeout=30)
    assert out.stdout == "disk swap alice 3600\n", out.stderr


def test_unreadable_file_blocks_until_turned_off(state_dir):
    os.makedirs(state_dir, mode=0o700)
    with open(maintenance.path_for(state_dir), "w") as f:
        f.write("{not json")
    reason = maintenance.blocks_automatic_action(state_dir, T0)
    assert reason.startswith(f"{maintenance.path_for(state_dir)}: unreadable maintenance record: ")
    assert reason.endswith("; taking no automatic action until `carpha maintenance off`")
    with pytest.raises(maintenance.MaintenanceError):
        maintenance.status(state_dir, T0)
    assert maintenance.plan_demotion(state_dir, "boot1", T0) is None
    maintenance.disable(state_dir)
    assert maintenance.blocks_automatic_action(state_dir, T0) is None


def test_file_of_another_schema_is_not_trusted(state_dir):
    os.makedirs(state_dir, mode=0o700)
    with open(maintenance.path_for(state_dir), "w") as f:
        json.dump({"schema": 99, "mode": None}, f)
    with pytest.raises(maintenance.MaintenanceError, match="schema 99 is not 1"):
        maintenance.current(state_dir, T0)


# --- CARP demotion --------------------------------------------------------------------------


@pytest.mark.parametrize("wanted, applied, delta", [
    (True, 0, DEMOTION), (True, DEMOTION, 0), (False, DEMOTION, -DEMOTION), (False, 0, 0),
    (True, 100, DEMOTION - 100), (False, 480, -480),
])
def test_demotion_delta_moves_carphas_share_only(wanted, applied, delta):
    assert maintenance.demotion_delta(wanted, applied) == delta


def test_demotion_steps_add_and_remove_exactly_carphas_share():
    assert maintenance.demotion_step(True, 0).argv == ("sysctl", f"net.inet.carp.demotion={DEMOTION}")
    assert maintenance.demotion_step(False, DEMOTION).argv == ("sysctl", f"net.inet.carp.demotion=-{DEMOTION}")
    assert maintenance.demotion_step(False, 0) is None      # writing 0 would add 0: nothing to run


class Kernel:
    """net.inet.carp.demotion as the kernel keeps it: a write adds (reference 2.6)."""

    def __init__(self, demotion=0):
        self.demotion = demotion

    def run(self, argv):
        name, value = argv[1].split("=")
        assert argv[0] == "sysctl" and name == "net.inet.carp.demotion"
        self.demotion += int(value)


def worker_pass(state_dir, kernel, boot, now):
    """What the worker does each pass: plan, run, then record."""
    step = maintenance.plan_demotion(state_dir, boot, now)
    if step is not None:
        kernel.run(step.argv)
        maintenance.record_demotion(state_dir, step.applied, boot)


def test_maintenance_raises_and_then_removes_only_what_carpha_added(state_dir):
    kernel = Kernel(demotion=240)       # an interface down somewhere: not ours to undo
    maintenance.enable(state_dir, "disk swap", 3600, now=T0)
    worker_pass(state_dir, kernel, "boot1", T0)
    assert kernel.demotion == 240 + DEMOTION
    worker_pass(state_dir, kernel, "boot1", T0 + 60)
    assert kernel.demotion == 240 + DEMOTION        # raised once, not once per pass
    maintenance.disable(state_dir)
    assert maintenance.read(state_dir).demotion == DEMOTION   # off keeps what is left to remove
    worker_pass(state_dir, kernel, "boot1", T0 + 120)
    assert kernel.demotion == 240
    assert not os.path.exists(maintenance.path_for(state_dir))


def test_expiry_removes_the_demotion(state_dir):
    kernel = Kernel()
    maintenance.enable(state_dir, "disk swap", 3600, now=T0)
    worker_pass(state_dir, kernel, "boot1", T0)
    worker_pass(state_dir, kernel, "boot1", T0 + 3600)
    assert kernel.demotion == 0
    assert maintenance.status(state_dir, T0 + 3600).startswith("maintenance: expired at ")


def test_after_a_reboot_the_demotion_is_raised_again_and_never_removed_twice(state_dir):
    maintenance.enable(state_dir, "disk swap", 3600, now=T0)
    worker_pass(state_dir, Kernel(), "boot1", T0)
    rebooted = Kernel()                 # the kernel counter starts at 0 again
    worker_pass(state_dir, rebooted, "boot2", T0 + 300)
    assert rebooted.demotion == DEMOTION
    maintenance.disable(state_dir)
    worker_pass(state_dir, Kernel(), "boot1", T0 + 600)     # a stale boot's record is not removed
    rebooted_again = Kernel()
    worker_pass(state_dir, rebooted_again, "boot3", T0 + 900)
    assert rebooted_again.demotion == 0


def test_recording_the_demotion_keeps_a_mode_turned_on_meanwhile(state_dir):
    maintenance.enable(state_dir, "first", 3600, now=T0)
    step = maintenance.plan_demotion(state_dir, "boot1", T0)
    maintenance.enable(state_dir, "second", 3600, now=T0 + 1)     # the operator, between plan and record
    maintenance.record_demotion(state_dir, step.applied, "boot1")
    assert maintenance.current(state_dir, T0 + 2).reason == "second"
    assert maintenance.read(state_dir).demotion == DEMOTION


# --- config ----------------------------------------------------------------------------------

CONFIG = """\
nodes: {a: {address: 192.0.2.1}, b: {address: 192.0.2.2}}
groups:
  g: {nodes: [a, b], preferred_node: a, carp: {interface: em0, vhid: 7}, addresses: [em0 192.0.2.9/24]}
"""


def test_maintenance_default_is_four_hours_when_absent():
    assert config.loads(CONFIG, node="a").maintenance == config.Maintenance(default_seconds=14400)


def test_maintenance_default_is_read_from_the_file():
    cfg = config.loads(CONFIG + "maintenance:\n  default_seconds: 1800\n", node="a")
    assert cfg.maintenance.default_seconds == 1800


@pytest.mark.parametrize("text, expected", [
    ("maintenance:\n  default_seconds: 0\n", "carpha.yaml:5: maintenance.default_seconds: 0 is not > 0"),
    ("maintenance:\n  default_seconds: 2592001\n",
     "carpha.yaml:5: maintenance.default_seconds: 2592001 is not <= 2592000"),
    ("maintenance:\n  default_seconds: 4h\n",
     "carpha.yaml:5: maintenance.default_seconds: expected a number of seconds, got '4h'"),
    ("maintenance:\n  default_secs: 60\n",
     "carpha.yaml:5: maintenance.default_secs: unknown key (did you mean default_seconds?)"),
    ("maintenance: 4h\n", "carpha.yaml:4: maintenance: expected a mapping, got '4h'"),
])
def test_bad_maintenance_config_is_reported_exactly(text, expected):
    with pytest.raises(config.ConfigError) as caught:
        config.loads(CONFIG + text, "carpha.yaml", node="a")
    assert caught.value.problems == [expected]


def test_example_documents_the_maintenance_default():
    with open(os.path.join(ROOT, "examples", "three-servers.yaml")) as f:
        lines = f.read().splitlines()
    start = lines.index("# maintenance:                          # `carpha maintenance on`: no automatic action,"
                        " CARP demoted")
    block = []
    for line in lines[start:]:
        if not line:
            break
        block.append(line[2:])
    cfg = config.loads(CONFIG + "\n".join(block) + "\n", node="a")
    assert cfg.maintenance == config.Maintenance()


# --- the command line ----------------------------------------------------------------------


def carpha(tmp_path, *args, extra_config=""):
    path = tmp_path / "carpha.yaml"
    path.write_text("node: a\n" + CONFIG + f"paths: {{state_dir: {tmp_path}/state, run_dir: {tmp_path}/run}}\n"
                    + extra_config)
    path.chmod(0o600)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_NO_SYSLOG": "1", "SUDO_USER": "alice"}
    return subprocess.run([sys.executable, "-m", "carpha", "-c", str(path), *args], env=env,
                          capture_output=True, text=True, timeout=30)


def test_cli_on_status_off(tmp_path):
    on = carpha(tmp_path, "maintenance", "on", "--reason", "replacing ada1", "--for", "30m")
    assert on.returncode == 0, on.stderr
    assert re.fullmatch(r"maintenance: on since \S+ \S+ UTC by alice until \S+ \S+ UTC \(30m left\):"
                        r" replacing ada1\n", on.stdout)

    status = carpha(tmp_path, "maintenance", "status")
    assert status.returncode == 0 and status.stdout.startswith("maintenance: on since ")
    report = json.loads(carpha(tmp_path, "maintenance", "status", "--json").stdout)
    assert (report["state"], report["reason"], report["by"]) == ("on", "replacing ada1", "alice")
    assert 1790 <= report["seconds_left"] <= 1800

    off = carpha(tmp_path, "maintenance", "off")
    assert off.returncode == 0
    assert off.stdout.startswith("maintenance: off (was on since ") and off.stdout.endswith(": replacing ada1)\n")
    assert carpha(tmp_path, "maintenance", "status").stdout == "maintenance: off\n"
    assert carpha(tmp_path, "maintenance", "off").stdout == "maintenance: off (it was not on)\n"


@pytest.mark.parametrize("extra, seconds", [("", 14400), ("maintenance: {default_seconds: 600}\n", 600)])
def test_cli_on_without_for_uses_the_configured_default(tmp_path, extra, seconds):
    assert carpha(tmp_path, "maintenance", "on", "--reason", "x", extra_config=extra).returncode == 0
    report = json.loads(carpha(tmp_path, "maintenance", "status", "--json", extra_config=extra).stdout)
    assert seconds - 10 <= report["seconds_left"] <= seconds


@pytest.mark.parametrize("args, message", [
    (["on", "--reason", "x", "--for", "31d"],
     "carpha: maintenance on: '31d' is longer than 30 days, the most maintenance mode can last\n"),
    (["on", "--reason", "two\nlines"],
     "carpha: maintenance on: the reason must be one line (line break at character 4)\n"),
    (["on", "--for", "1h"], None),
    ([], None),
    (["pause"], None),
])
def test_cli_bad_usage_exits_64_and_changes_nothing(tmp_path, args, message):
    result = carpha(tmp_path, "maintenance", *args)
    assert result.returncode == 64
    if message is not None:
        assert result.stderr == message
    assert not os.path.exists(tmp_path / "state" / "maintenance.json")


def test_cli_status_of_an_unreadable_record_is_a_data_error_and_off_clears_it(tmp_path):
    os.makedirs(tmp_path / "state", mode=0o700)
    (tmp_path / "state" / "maintenance.json").write_text("{")
    status = carpha(tmp_path, "maintenance", "status")
    assert status.returncode == 65
    assert status.stderr.startswith(f"carpha: {tmp_path}/state/maintenance.json: unreadable maintenance record: ")
    off = carpha(tmp_path, "maintenance", "off")
    assert off.returncode == 0 and off.stdout.startswith("maintenance: off (removed ")
    assert carpha(tmp_path, "maintenance", "status").stdout == "maintenance: off\n"
