"""install.sh puts every file where FreeBSD expects it (staged with DESTDIR)."""

import os
import stat
import subprocess
import sys

from conftest import ROOT


def test_install_stages_the_freebsd_layout_with_absolute_interpreters(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DESTDIR": str(tmp_path), "PYTHON": sys.executable, "CARPHA_SKIP_PIP": "1"}
    result = subprocess.run(["sh", os.path.join(ROOT, "install.sh")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    prefix = tmp_path / "usr" / "local"
    libexec = prefix / "libexec" / "carpha"
    for hook in ("carp-event", "claim-addresses", "release-addresses", "promote-storage", "demote-storage",
                 "start-jails", "stop-jails", "carp-is-master"):
        path = libexec / hook
        assert path.exists(), hook
        assert stat.S_IMODE(path.stat().st_mode) == 0o555
    assert (libexec / "carp-event").read_text().splitlines()[0] == f"#!{sys.executable}"
    assert (libexec / "carp-is-master").read_text().startswith("#!/bin/sh\n")
    assert (prefix / "etc" / "devd" / "carpha.conf").read_text() == open(os.path.join(ROOT, "devd", "carpha.conf")).read()
    assert (prefix / "etc" / "carpha.yaml.sample").exists()
    assert not (prefix / "etc" / "carpha.yaml").exists()      # never over a real config
    cron = (prefix / "etc" / "cron.d" / "carpha").read_text()
    assert "root\t/usr/local/bin/carpha reconcile" in cron and "PATH=/sbin:/bin" in cron


def test_install_refuses_a_relative_python():
    env = {"PATH": "/usr/bin:/bin", "PYTHON": "python3", "CARPHA_SKIP_PIP": "1", "DESTDIR": "/nonexistent"}
    result = subprocess.run(["sh", os.path.join(ROOT, "install.sh")], env=env, capture_output=True, text=True)
    assert result.returncode == 64 and "absolute path" in result.stderr


# --- rc.d scripts ----------------------------------------------------------------

import getopt  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402

import pytest  # noqa: E402

RC_D = os.path.join(ROOT, "hooks", "rc.d")
RC_SCRIPTS = ("carpha_heartbeat", "carpha_boot")
# usr.sbin/daemon/daemon.c (freebsd-src): getopt_long(argc, argv, "+cfHSp:P:ru:o:s:l:t:m:R:T:h");
# "+" stops at the first non-option, as Python's getopt does.
DAEMON_SHORTOPTS = "cfHSp:P:ru:o:s:l:t:m:R:T:h"


def _install(destdir, prefix=None):
    env = {"PATH": "/usr/bin:/bin", "DESTDIR": str(destdir), "PYTHON": sys.executable, "CARPHA_SKIP_PIP": "1"}
    if prefix:
        env["PREFIX"] = prefix
    result = subprocess.run(["sh", os.path.join(ROOT, "install.sh")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("destdir")
    result = _install(root)
    return root, result.stdout


def rcorder_header(path):
    """The words of the PROVIDE/REQUIRE/BEFORE/KEYWORD lines, read as
    sbin/rcorder/rcorder.c's crunch_file does: lines starting with exactly
    "# REQUIRE:" etc.; the first other line after them ends the header."""
    prefixes = {"# PROVIDE:": "PROVIDE", "# PROVIDES:": "PROVIDE", "# REQUIRE:": "REQUIRE",
                "# REQUIRES:": "REQUIRE", "# BEFORE:": "BEFORE", "# KEYWORD:": "KEYWORD",
                "# KEYWORDS:": "KEYWORD"}
    header = {"PROVIDE": [], "REQUIRE": [], "BEFORE": [], "KEYWORD": []}
    parsing = False
    with open(path) as f:
        for line in f:
            key = next((k for k in prefixes if line.startswith(k)), None)
            if key is None:
                if parsing:
                    break
                continue
            parsing = True
            header[prefixes[key]] += line[len(key):].split()
    return header


def test_install_stages_the_rc_d_scripts_read_only_and_no_directory_in_libexec(staged):
    root, stdout = staged
    prefix = root / "usr" / "local"
    for name in RC_SCRIPTS:
        path = prefix / "etc" / "rc.d" / name
        assert path.is_file(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o555
        assert path.read_text() == open(os.path.join(RC_D, name)).read()     # PREFIX is /usr/local: unchanged
    libexec = prefix / "libexec" / "carpha"
    assert not (libexec / "rc.d").exists()
    assert [p.name for p in libexec.iterdir() if not p.is_file()] == []
    assert "sysrc carpha_heartbeat_enable=YES carpha_boot_enable=YES" in stdout
    assert "service carpha_heartbeat start" in stdout


@pytest.mark.parametrize("name", RC_SCRIPTS)
def test_rc_d_script_passes_a_posix_sh_syntax_check(name):
    shell = shutil.which("dash") or "sh"
    result = subprocess.run([shell, "-n", os.path.join(RC_D, name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rc_d_headers_order_the_heartbeat_after_the_nfs_witness_and_the_boot_hold_before_netif():
    assert rcorder_header(os.path.join(RC_D, "carpha_heartbeat")) == {
        "PROVIDE": ["carpha_heartbeat"], "REQUIRE": ["NETWORKING", "mountcritremote", "syslogd"],
        "BEFORE": [], "KEYWORD": ["shutdown"]}
    assert rcorder_header(os.path.join(RC_D, "carpha_boot")) == {
        "PROVIDE": ["carpha_boot"], "REQUIRE": ["FILESYSTEMS", "sysctl", "kld"],
        "BEFORE": ["netif"], "KEYWORD": []}


def test_install_with_another_prefix_rewrites_the_rc_d_paths(tmp_path):
    _install(tmp_path, prefix="/opt/x")
    for name in RC_SCRIPTS:
        text = (tmp_path / "opt" / "x" / "etc" / "rc.d" / name).read_text()
        assert "/opt/x/bin/carpha" in text and "/usr/local" not in text, name
    assert not (tmp_path / "opt" / "x" / "libexec" / "carpha" / "rc.d").exists()


# A stand-in for FreeBSD's /etc/rc.subr (Debian has none): just enough of
# run_rc_command to show what "start" would run.
RC_SUBR_STUB = r"""
load_rc_config() { :; }
warn() { echo "$0: WARNING: $*" >&2; }
run_rc_command() {
	eval "echo \"enable=\$$rcvar\""
	echo "pidfile=$pidfile"
	case "$1" in
	start)
		if [ -n "$start_precmd" ]; then $start_precmd || return 1; fi
		if [ -n "$start_cmd" ]; then $start_cmd; else echo "run: $command $command_args"; fi
		;;
	stop)
		if [ -n "$stop_cmd" ]; then $stop_cmd; else echo "stop: $pidfile"; fi
		;;
	esac
}
"""


def _stubbed(tmp_path, name, replace=()):
    """A copy of rc.d/`name` that sources the stub instead of /etc/rc.subr."""
    stub = tmp_path / "rc.subr"
    stub.write_text(RC_SUBR_STUB)
    text = open(os.path.join(RC_D, name)).read()
    assert text.count("\n. /etc/rc.subr\n") == 1
    text = text.replace("\n. /etc/rc.subr\n", f"\n. {stub}\n")
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    script = tmp_path / name
    script.write_text(text)
    return script


def _run(script, arg, **env):
    return subprocess.run(["sh", str(script), arg], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                          text=True, timeout=10)


def test_rc_d_heartbeat_starts_carpha_heartbeat_under_daemon_with_restart(tmp_path):
    run = tmp_path / "run" / "carpha"
    script = _stubbed(tmp_path, "carpha_heartbeat", replace=[("/var/run/carpha", str(run))])
    result = _run(script, "start")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "enable=NO" in lines                               # off until sysrc carpha_heartbeat_enable=YES
    assert f"pidfile={run}/heartbeat-daemon.pid" in lines     # rc.subr signals the supervisor
    argv = shlex.split(next(line for line in lines if line.startswith("run: "))[len("run: "):])
    assert argv == ["/usr/sbin/daemon", "-f", "-S", "-T", "carpha", "-r", "-t", "carpha_heartbeat",
                    "-P", f"{run}/heartbeat-daemon.pid", "-p", f"{run}/heartbeat.pid",
                    "/usr/local/bin/carpha", "heartbeat"]
    options, command = getopt.getopt(argv[1:], DAEMON_SHORTOPTS)   # every flag is one daemon(8) knows
    assert command == ["/usr/local/bin/carpha", "heartbeat"]
    assert dict(options)["-P"] == f"{run}/heartbeat-daemon.pid"
    assert run.is_dir() and stat.S_IMODE(run.stat().st_mode) == 0o700     # start_precmd


FAKE_CARPHA = """#!/bin/sh
echo "$*" >> "{log}"
{body}
"""


@pytest.mark.parametrize("body, status", [("exit 0", None), ("exit 3", "exit 3"), ("sleep 5", "exit 124")])
def test_rc_d_boot_runs_carpha_boot_hold_and_never_fails_the_boot(tmp_path, body, status):
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "carpha"
    fake.parent.mkdir()
    fake.write_text(FAKE_CARPHA.format(log=log, body=body))
    fake.chmod(0o755)
    script = _stubbed(tmp_path, "carpha_boot", replace=[("/usr/local/bin/carpha", str(fake))])
    result = _run(script, "start", carpha_boot_timeout="0.3")   # the hang case: timeout(1) ends it
    assert result.returncode == 0, result.stderr
    assert "enable=NO" in result.stdout.splitlines()
    assert log.read_text() == "boot-hold\n"
    if status is None:
        assert "WARNING" not in result.stderr
    else:
        assert "WARNING: carpha boot-hold failed" in result.stderr and status in result.stderr
    stop = _run(script, "stop")
    assert stop.returncode == 0 and "stop:" not in stop.stdout          # a one-shot: stop does nothing
