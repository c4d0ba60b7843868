"""The devd entry point as a real process: strict argv, journal, worker wake-up."""

import json
import os
import subprocess
import sys

import pytest

from carpha.store import journal, lock
from conftest import LIB, ROOT

HOOK = os.path.join(ROOT, "hooks", "carp-event")


def run_hook(args, state_dir, run_dir, extra_env=None):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_STATE_DIR": str(state_dir),
           "CARPHA_RUN_DIR": str(run_dir), **(extra_env or {})}
    return subprocess.run([sys.executable, HOOK, *args], env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "db", tmp_path / "run"


@pytest.mark.parametrize("args", [
    [], ["1@em0"], ["1@em0", "MASTER", "extra"],
    ["0@em0", "MASTER"], ["256@em0", "MASTER"], ["1000@em0", "MASTER"], ["01@em0", "MASTER"],
    ["1@", "MASTER"], ["@em0", "MASTER"], ["1@0em", "MASTER"], ["1@em0;reboot", "MASTER"],
    ["1@em0", "master"], ["1@em0", "UP"], ["1@em0", "MASTER;id"], ["$'1@em0'", "MASTER"],
    ["1@em0 ", "MASTER"], ["1@averyveryverylongname0", "MASTER"], ["1@em0`id`", "BACKUP"],
])
def test_bad_argv_exits_64_and_changes_nothing(dirs, args):
    state_dir, run_dir = dirs
    result = run_hook(args, state_dir, run_dir)
    assert result.returncode == 64, result.stderr
    assert "usage: carp-event VHID@IFNAME MASTER|BACKUP|INIT" in result.stderr
    assert not state_dir.exists() and not run_dir.exists()


@pytest.mark.parametrize("subsystem", ["1@em0", "255@em0.100", "17@igb_1", "9@vtnet3"])
def test_good_event_is_journaled_and_a_running_worker_is_not_doubled(dirs, subsystem):
    state_dir, run_dir = dirs
    held = lock.Lock(str(run_dir), "worker", purpose="test").acquire()
    try:
        result = run_hook([subsystem, "MASTER"], state_dir, run_dir)
    finally:
        held.release()
    assert result.returncode == 0, result.stderr
    records = journal.read(str(state_dir), subsystem)
    assert [(r["kind"], r["type"], r["subsystem"]) for r in records] == [("event", "MASTER", subsystem)]


def test_without_a_worker_the_hook_starts_one_detached(dirs, tmp_path):
    state_dir, run_dir = dirs
    marker = tmp_path / "worker-started"
    fake = tmp_path / "fakepython"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {marker}\n")
    fake.chmod(0o755)
    code = ("import sys; sys.path.insert(0, %r); sys.executable = %r;"
            "from carpha.cli.carpevent import main; sys.exit(main(['1@em0', 'BACKUP']))") % (LIB, str(fake))
    env = {"PATH": "/usr/bin:/bin", "CARPHA_STATE_DIR": str(state_dir), "CARPHA_RUN_DIR": str(run_dir),
           "CARPHA_CONFIG": "/tmp/x.yaml"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    for _ in range(100):
        if marker.exists() and marker.read_text():
            break
        import time
        time.sleep(0.05)
    assert marker.read_text().split() == ["-m", "carpha", "-c", "/tmp/x.yaml", "reconcile"]


def test_hook_does_not_import_yaml_or_sh(dirs):
    code = ("import sys; sys.path.insert(0, %r); import carpha.cli.carpevent;"
            "print(sorted(m for m in sys.modules if m in ('yaml', 'sh', 'subprocess', 'dataclasses')))") % LIB
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_an_unusable_state_dir_is_logged_and_the_worker_still_woken(tmp_path):
    state_dir = tmp_path / "db"
    state_dir.mkdir(mode=0o775)
    state_dir.chmod(0o775)                      # group-writable: refused for state
    marker = tmp_path / "worker-started"
    fake = tmp_path / "fakepython"
    fake.write_text(f"#!/bin/sh\necho started > {marker}\n")
    fake.chmod(0o755)
    code = ("import sys; sys.path.insert(0, %r); sys.executable = %r;"
            "from carpha.cli.carpevent import main; sys.exit(main(['1@em0', 'MASTER']))") % (LIB, str(fake))
    env = {"PATH": "/usr/bin:/bin", "CARPHA_STATE_DIR": str(state_dir), "CARPHA_RUN_DIR": str(tmp_path / "run")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    import time
    for _ in range(100):
        if marker.exists():
            break
        time.sleep(0.05)
    assert marker.exists()
