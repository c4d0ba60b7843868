"""geom-event as a real process: strict argv, the devices journal, a worker
woken; the worker handles device events by reconciling every group."""

import os
import subprocess
import sys

import pytest

from carpha.store import journal, lock
from conftest import LIB, ROOT

HOOK = os.path.join(ROOT, "hooks", "geom-event")


def run_hook(args, state_dir, run_dir):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_STATE_DIR": str(state_dir),
           "CARPHA_RUN_DIR": str(run_dir)}
    return subprocess.run([sys.executable, HOOK, *args], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args", [
    [], ["CREATE"], ["CREATE", "ggate0", "extra"], ["create", "ggate0"], ["MEDIACHANGE", "ggate0"],
    ["CREATE", "ada1"], ["CREATE", "ggate"], ["CREATE", "ggate01"], ["CREATE", "ggate12345"],
    ["CREATE", "mirror/"], ["CREATE", "mirror/a/b"], ["CREATE", "mirror/averyveryverylongname"],
    ["CREATE", "mirror/data;reboot"], ["CREATE", "$'ggate0'"], ["CREATE", "ggate0 "], ["DESTROY", "../ggate0"],
])
def test_bad_argv_exits_64_and_changes_nothing(tmp_path, args):
    state_dir, run_dir = tmp_path / "db", tmp_path / "run"
    result = run_hook(args, state_dir, run_dir)
    assert result.returncode == 64, result.stderr
    assert "usage: geom-event CREATE|DESTROY ggateN|mirror/NAME" in result.stderr
    assert not state_dir.exists() and not run_dir.exists()


@pytest.mark.parametrize("args", [["CREATE", "ggate0"], ["DESTROY", "ggate255"], ["CREATE", "mirror/data"],
                                  ["DESTROY", "mirror/nas.1"]])
def test_good_event_is_journaled_in_the_devices_journal(tmp_path, args):
    state_dir, run_dir = tmp_path / "db", tmp_path / "run"
    held = lock.Lock(str(run_dir), "worker", purpose="test").acquire()
    try:
        result = run_hook(args, state_dir, run_dir)
    finally:
        held.release()
    assert result.returncode == 0, result.stderr
    assert [(r["type"], r["subsystem"]) for r in journal.read(str(state_dir), journal.DEVICES)] == [tuple(args)]
    assert journal.bindings(str(state_dir)) == []      # not taken for a CARP binding
