import json
import os
import subprocess
import sys

import pytest
from freezegun import freeze_time

from carpha.store import journal, lock, state
from carpha.store.files import UnsafePath, write_atomic


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    return str(d)


def test_lock_records_holder_and_a_second_taker_is_busy(run_dir):
    with lock.Lock(run_dir, "web", purpose="reconcile") as held:
        holder = lock.read_holder(held.path)
        assert holder.pid == os.getpid() and holder.purpose == "reconcile"
        # flock is per open file description: a second Lock in the same process conflicts too
        with pytest.raises(lock.LockBusy) as info:
            lock.Lock(run_dir, "web").acquire(timeout=0)
        assert info.value.exit_code == 75
        assert f"held by pid {os.getpid()} (reconcile)" in str(info.value)
    assert not lock.is_held(run_dir, "web")


def test_lock_waits_up_to_its_timeout(run_dir):
    with lock.Lock(run_dir, "web"):
        with freeze_time("2026-11-25 10:00:00", tick=True):
            with pytest.raises(lock.LockBusy) as info:
                lock.Lock(run_dir, "web").acquire(timeout=0.2, poll=0.05)
    assert "waited 0." in str(info.value)


def test_lock_reports_how_long_the_holder_has_held_it(run_dir):
    with freeze_time("2026-11-25 10:00:00") as frozen:
        with lock.Lock(run_dir, "web", purpose="fsck"):
            frozen.tick(125)
            with pytest.raises(lock.LockBusy) as info:
                lock.Lock(run_dir, "web").acquire(timeout=0)
    assert "(fsck) for 125 s" in str(info.value)


def test_dead_holder_does_not_block_and_is_reported_stale(run_dir):
    code = ("import sys; sys.path.insert(0, %r); from carpha.store import lock;"
            "l = lock.Lock(%r, 'web', purpose='worker').acquire(); import os; os._exit(0)")
    lib = os.path.join(os.path.dirname(__file__), "..", "..", "lib")
    child = subprocess.Popen([sys.executable, "-c", code % (lib, run_dir)])
    assert child.wait() == 0
    taken = lock.Lock(run_dir, "web").acquire(timeout=0)
    try:
        assert taken.stale.pid == child.pid and taken.stale.purpose == "worker"
        assert taken.stale.describe() == f"pid {child.pid} (worker), which is dead (stale record)"
    finally:
        taken.release()


def test_lock_refuses_a_symlinked_lock_file(run_dir, tmp_path):
    os.makedirs(run_dir, mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    os.symlink(target, os.path.join(run_dir, "web.lock"))
    with pytest.raises(UnsafePath):
        lock.Lock(run_dir, "web").acquire()
    assert target.read_text() == "precious"


def test_lock_refuses_a_world_writable_run_dir(run_dir):
    os.makedirs(run_dir)
    os.chmod(run_dir, 0o777)
    with pytest.raises(UnsafePath) as info:
        lock.Lock(run_dir, "web").acquire()
    assert "writable by group or others (mode 0777)" in str(info.value)


def test_lock_file_is_private_and_not_inherited_by_children(run_dir):
    with lock.Lock(run_dir, "web") as held:
        assert os.stat(held.path).st_mode & 0o777 == 0o600
        assert os.stat(run_dir).st_mode & 0o777 == 0o700
        assert not os.get_inheritable(held.fd)


def test_state_round_trips_with_schema(tmp_path):
    d = str(tmp_path / "db")
    assert state.load(d, "web") == state.GroupState("web")
    with freeze_time("2026-11-25 10:00:00"):
        s = state.GroupState("web").with_changes(role="MASTER", generation=3, last_event_seq=7)
    state.save(d, s)
    assert state.load(d, "web") == s
    assert json.loads(open(state.path_for(d, "web")).read())["schema"] == 1


def test_state_with_unknown_schema_is_refused(tmp_path):
    d = tmp_path / "db"
    d.mkdir(mode=0o700)
    (d / "web.state.json").write_text('{"schema": 99, "group": "web"}')
    with pytest.raises(state.StateError):
        state.load(str(d), "web")


def test_crash_between_write_and_rename_keeps_the_old_state(tmp_path, monkeypatch):
    d = str(tmp_path / "db")
    state.save(d, state.GroupState("web", role="BACKUP", generation=1))

    def crash(*args):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        state.save(d, state.GroupState("web", role="MASTER", generation=2))
    monkeypatch.undo()
    assert state.load(d, "web").role == "BACKUP"
    assert [n for n in os.listdir(d) if n.endswith(".tmp")] == []


def test_leftover_temp_file_of_a_killed_writer_is_ignored_and_replaced(tmp_path):
    d = str(tmp_path / "db")
    state.save(d, state.GroupState("web", generation=1))
    torn = os.path.join(d, f".web.state.json.{os.getpid()}.tmp")
    with open(torn, "w") as f:
        f.write('{"schema": 1, "gro')
    assert state.load(d, "web").generation == 1
    state.save(d, state.GroupState("web", generation=2))
    assert state.load(d, "web").generation == 2 and not os.path.exists(torn)


def test_write_atomic_refuses_a_symlink_at_the_temp_name(tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep")
    os.symlink(target, tmp_path / f".f.{os.getpid()}.tmp")
    # the stale name is unlinked first (the symlink itself, never its target)
    write_atomic(str(tmp_path / "f"), "new")
    assert target.read_text() == "keep" and (tmp_path / "f").read_text() == "new"


def test_journal_numbers_records_and_reads_after_a_seq(tmp_path):
    d = str(tmp_path / "db")
    with freeze_time("2026-11-25 10:00:00"):
        first = journal.append(d, "1@em0", {"kind": "event", "type": "MASTER"})
        journal.append(d, "1@em0", {"kind": "event", "type": "BACKUP"})
    assert first == {"seq": 1, "time": 1795600800.0, "kind": "event", "type": "MASTER"}
    assert open(journal.path_for(d, "1@em0")).readline().startswith('{"seq": 1, "kind": "event"')
    assert [r["type"] for r in journal.read(d, "1@em0", after_seq=1)] == ["BACKUP"]
    assert journal.bindings(d) == ["1@em0"]


def test_journal_repairs_a_torn_last_line_and_keeps_numbering(tmp_path):
    d = str(tmp_path / "db")
    journal.append(d, "1@em0", {"kind": "event", "type": "MASTER"})
    with open(journal.path_for(d, "1@em0"), "a") as f:
        f.write('{"seq": 2, "ty')                      # a writer killed mid-line
    journal.append(d, "1@em0", {"kind": "event", "type": "BACKUP"})
    assert [(r["seq"], r["type"]) for r in journal.read(d, "1@em0")] == [(1, "MASTER"), (2, "BACKUP")]


def test_journal_numbering_survives_a_record_longer_than_the_tail_it_reads(tmp_path):
    d = str(tmp_path / "db")
    journal.append(d, "1@em0", {"kind": "run", "did": ["x" * 100] * 200})   # ~20 KiB
    assert journal.append(d, "1@em0", {"kind": "event"})["seq"] == 2


def test_state_that_is_json_but_not_an_object_is_a_clean_error(tmp_path):
    d = tmp_path / "db"
    d.mkdir(mode=0o700)
    (d / "web.state.json").write_text("[]")
    with pytest.raises(state.StateError, match="not a JSON object"):
        state.load(str(d), "web")


def test_journal_rotation_keeps_sequence_and_readers_see_both_files(tmp_path, monkeypatch):
    d = str(tmp_path / "db")
    monkeypatch.setattr(journal, "MAX_BYTES", 200)
    for i in range(20):
        journal.append(d, "1@em0", {"kind": "event", "n": i})
    seqs = [r["seq"] for r in journal.read(d, "1@em0")]
    assert seqs == sorted(seqs) and seqs[-1] == 20 and len(set(seqs)) == len(seqs)
    assert os.path.exists(journal.path_for(d, "1@em0") + ".1")


@pytest.mark.parametrize("binding", ["1@em0;rm", "1@", "@em0", "1234@em0", "1@0em", "1@em0/../x"])
def test_journal_refuses_malformed_bindings(tmp_path, binding):
    with pytest.raises(ValueError):
        journal.path_for(str(tmp_path), binding)


@pytest.mark.parametrize("value", ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x00", "é ü 日本 🙂", ""])
def test_journal_encoder_writes_what_json_reads_back(value):
    record = {"seq": 7, "time": 1.5, "kind": "event", "text": value, "flag": True, "none": None}
    line = journal.encode(record)
    assert json.loads(line) == record
    assert line.startswith('{"seq": 7, ')
    rest = {k: v for k, v in record.items() if k != "seq"}
    assert line[len('{"seq": 7, '):] == json.dumps(rest, sort_keys=True, ensure_ascii=True)[1:]


def test_journal_seq_survives_nested_records_written_through_json(tmp_path):
    d = str(tmp_path / "db")
    journal.append(d, "1@em0", {"kind": "run", "observed": {"carp": "MASTER", "seq": 99}, "did": ["a"]})
    assert journal.append(d, "1@em0", {"kind": "event"})["seq"] == 2


def test_the_devd_hook_path_imports_neither_json_nor_re():
    import subprocess, sys
    from conftest import LIB
    code = ("import sys; sys.path.insert(0, %r); import carpha.cli.carpevent;"
            "print(','.join(m for m in ('json', 're', 'yaml', 'subprocess', 'dataclasses') if m in sys.modules))") % LIB
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "", out.stdout + out.stderr
