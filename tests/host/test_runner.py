import os
import sys

import pytest

from carpha.host import runner as r


def fake_executor(table):
    def execute(argv, timeout, env):
        return table[tuple(argv)]
    return execute


def test_query_returns_output_and_records_the_call():
    run = r.Runner(executor=fake_executor({("jls", "-j", "www", "jid"): (0, "3\n", "")}))
    result = run.query(["jls", "-j", "www", "jid"], timeout=5)
    assert result.stdout == "3\n" and result.ok
    assert run.calls == [r.Call("query", ("jls", "-j", "www", "jid"), 0)]


def test_failure_raises_typed_error_carrying_streams():
    table = {("gmirror", "insert", "data", "ggate0"): (1, "", "gmirror: Provider ggate0 already inserted.\n")}
    run = r.Runner(executor=fake_executor(table))
    with pytest.raises(r.CommandFailed) as info:
        run.change(["gmirror", "insert", "data", "ggate0"], timeout=5)
    error = info.value
    assert error.returncode == 1 and error.argv == ("gmirror", "insert", "data", "ggate0")
    assert "already inserted" in error.stderr
    assert str(error) == "gmirror insert data ggate0: exit 1: gmirror: Provider ggate0 already inserted."
    assert error.exit_code == 70


def test_check_false_returns_nonzero_result_instead_of_raising():
    run = r.Runner(executor=fake_executor({("jls", "-j", "x", "jid"): (1, "", 'jls: jail "x" not found\n')}))
    assert run.query(["jls", "-j", "x", "jid"], timeout=5, check=False).returncode == 1


def test_dry_run_prints_changes_and_runs_no_mutating_command():
    ran, printed = [], []

    def execute(argv, timeout, env):
        ran.append(tuple(argv))
        return 0, "out", ""

    run = r.Runner(executor=execute, dry_run=True, echo=printed.append)
    run.query(["ifconfig", "em0"], timeout=5)
    result = run.change(["ifconfig", "em0", "inet", "192.0.2.10/24", "alias"], timeout=5)
    assert ran == [("ifconfig", "em0")]
    assert printed == ["would run: ifconfig em0 inet 192.0.2.10/24 alias"]
    assert result.dry_run and run.changes() == [("ifconfig", "em0", "inet", "192.0.2.10/24", "alias")]


def test_dry_run_quotes_arguments_exactly():
    printed = []
    run = r.Runner(executor=None, dry_run=True, echo=printed.append)
    run.change(["logger", "-t", "carpha", "two words; rm"], timeout=5)
    assert printed == ["would run: logger -t carpha 'two words; rm'"]


@pytest.mark.parametrize("timeout", [None, 0, -1, "5"])
def test_a_timeout_is_mandatory(timeout):
    run = r.Runner(executor=fake_executor({}))
    with pytest.raises((ValueError, TypeError)):
        run.query(["true"], timeout=timeout)


def test_a_shell_string_is_refused():
    run = r.Runner(executor=fake_executor({}))
    with pytest.raises(TypeError):
        run.query("ifconfig em0", timeout=5)


def test_real_process_gets_fixed_path_and_c_locale(monkeypatch):
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("CARPHA_SIM_DIR", "/tmp/x")
    run = r.Runner(path="/usr/bin:/bin")
    out = run.query(["env"], timeout=10).stdout.splitlines()
    assert "PATH=/usr/bin:/bin" in out and "LANG=C" in out and "LC_ALL=C" in out
    assert "CARPHA_SIM_DIR=/tmp/x" in out
    assert not any(line.startswith("LANG=de") for line in out)


def test_real_timeout_kills_the_process_group(tmp_path):
    marker = tmp_path / "child-survived"
    script = f"import os,time\nif os.fork()==0:\n time.sleep(1.5); open({str(marker)!r},'w')\nelse:\n time.sleep(30)\n"
    run = r.Runner(path=os.path.dirname(sys.executable) + ":/usr/bin:/bin")
    with pytest.raises(r.CommandTimedOut) as info:
        run.query([sys.executable, "-c", script], timeout=0.5)
    assert info.value.timeout == 0.5 and "timed out after 0.5 s" in str(info.value)
    import time
    time.sleep(2)
    assert not marker.exists(), "the forked grandchild must be killed with its group"


def test_missing_program_is_command_missing():
    run = r.Runner(path="/nonexistent")
    with pytest.raises(r.CommandMissing) as info:
        run.query(["gmirror", "status"], timeout=5)
    assert info.value.exit_code == 69 and "/nonexistent" in str(info.value)


def test_nonzero_exit_of_a_real_process_carries_stderr():
    run = r.Runner(path="/usr/bin:/bin")
    with pytest.raises(r.CommandFailed) as info:
        run.query(["ls", "/nonexistent-carpha"], timeout=5)
    assert info.value.returncode != 0 and "nonexistent-carpha" in info.value.stderr


def test_a_timed_out_command_whose_output_outlives_the_kill_does_not_block_the_caller():
    # A grandchild in a session of its own keeps the pipes open after the
    # group is killed, as a process stuck in disk wait would: the runner
    # must give up after KILL_GRACE_SECONDS, not wait for it (a fencing
    # node works against a deadline).
    import time
    script = "import os,time\nif os.fork()==0:\n os.setsid(); time.sleep(4)\nelse:\n time.sleep(30)\n"
    run = r.Runner(path=os.path.dirname(sys.executable) + ":/usr/bin:/bin")
    started = time.monotonic()
    with pytest.raises(r.CommandTimedOut):
        run.query([sys.executable, "-c", script], timeout=0.3)
    assert time.monotonic() - started < 0.3 + r.KILL_GRACE_SECONDS + 1.0
