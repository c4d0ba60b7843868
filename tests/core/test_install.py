"""install.sh: a staging root gets exactly the port's pkg-plist, every path
written from the prefix, nothing outside DESTDIR touched (the running venv
included); re-running changes nothing; edited files are never overwritten
silently; --dry-run changes nothing; --uninstall leaves config and state
unless --purge; and the script is clean under shellcheck -s sh and dash -n."""

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INSTALL_SH = os.path.join(ROOT, "install.sh")
PLIST = os.path.join(ROOT, "port", "sysutils", "carpha", "pkg-plist")
PYVER = "%d.%d" % sys.version_info[:2]
SITELIB = f"lib/python{PYVER}/site-packages"
PY_SUFFIX = "%d%d" % sys.version_info[:2]


def run_install(*args, destdir=None, prefix=None, python=sys.executable, check=True):
    env = {"PATH": "/usr/bin:/bin", "PYTHON": python, "LANG": "C"}
    if destdir is not None:
        env["DESTDIR"] = str(destdir)
    argv = ["sh", INSTALL_SH, *args]
    if prefix:
        argv += ["--prefix", prefix]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def tree(root):
    """{path relative to root: (mode, sha256)} of every file below root."""
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            files[os.path.relpath(path, root)] = (stat.S_IMODE(os.lstat(path).st_mode), digest)
    return files


def as_plist(paths):
    """Staged paths relative to PREFIX, spelled as pkg-plist spells them
    (PLIST_SUB of Mk/Uses/python.mk: PYTHON_SITELIBDIR without the PREFIX,
    PYTHON_SUFFIX the version without its dot; CPython's cache tag is
    cpython-<suffix>)."""
    out = []
    for path in sorted(paths):
        if path.startswith(SITELIB + "/"):
            path = "%%PYTHON_SITELIBDIR%%" + path[len(SITELIB):]
        path = path.replace(f".cpython-{PY_SUFFIX}.pyc", ".cpython-%%PYTHON_SUFFIX%%.pyc")
        out.append(path)
    return out


def read_plist():
    with open(PLIST) as f:
        return [line.rstrip("\n") for line in f if line.strip() and not line.startswith("@")]


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("destdir")
    result = run_install(destdir=root)
    return root, result


def test_staging_installs_exactly_the_port_plist(staged):
    root, _ = staged
    prefix = root / "usr" / "local"
    assert sorted(os.listdir(root)) == ["usr"]                  # nothing outside PREFIX
    assert as_plist(tree(prefix)) == read_plist(), "regenerate with: make port-plist"


def test_staged_files_have_their_modes_and_absolute_interpreters(staged):
    root, _ = staged
    prefix = root / "usr" / "local"
    for path, (mode, _) in tree(prefix).items():
        executable = path.startswith(("bin/", "libexec/", "etc/rc.d/"))
        assert mode == (0o555 if executable else 0o444), path
    for name in ("bin/carpha", "bin/carpha-garp", "libexec/carpha/carp-event", "libexec/carpha/stop-jails"):
        lines = (prefix / name).read_text().splitlines()
        assert lines[0] == f"#!{sys.executable}", name
        assert f'sys.path.insert(0, "/usr/local/{SITELIB}")' in lines, name
    assert (prefix / "libexec/carpha/carp-is-master").read_text().startswith("#!/bin/sh\n")
    assert not (prefix / "etc" / "carpha.yaml").exists()        # never a real config


def test_the_cron_line_logs_errors_instead_of_mailing_root_every_minute(staged):
    root, _ = staged
    cron = (root / "usr/local/etc/cron.d/carpha").read_text().splitlines()
    assert "PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin" in cron
    assert cron[-1] == ("*\t*\t*\t*\t*\troot\t/usr/local/bin/carpha check --repair 2>&1 >/dev/null"
                        " | /usr/bin/logger -t carpha -p daemon.err")


def test_the_installed_wrappers_run_from_the_staged_library(tmp_path):
    # A real install into a private prefix (no DESTDIR): the scripts must
    # import carpha from there, whatever PREFIX is.
    prefix = tmp_path / "opt" / "carpha"
    run_install(prefix=str(prefix))
    env = {"PATH": "/usr/bin:/bin", "LANG": "C"}
    probe = subprocess.run([str(prefix / "bin" / "carpha"), "parse", "sysctl"], input="kern.ostype: FreeBSD\n",
                           env=env, capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0, probe.stderr
    bad = subprocess.run([str(prefix / "libexec/carpha/carp-event"), "nonsense"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 64
    wrapper = (prefix / "bin" / "carpha").read_text()
    assert f'sys.path.insert(0, "{prefix}/{SITELIB}")' in wrapper
    assert f'os.environ.setdefault("CARPHA_CONFIG", "{prefix}/etc/carpha.yaml")' in wrapper


def test_staging_never_touches_the_running_python(tmp_path):
    purelib = sysconfig.get_paths()["purelib"]
    before = {name: os.lstat(os.path.join(purelib, name)).st_mtime_ns for name in os.listdir(purelib)}
    run_install(destdir=tmp_path / "stage")
    after = {name: os.lstat(os.path.join(purelib, name)).st_mtime_ns for name in os.listdir(purelib)}
    assert after == before


def test_a_second_install_changes_nothing(tmp_path):
    run_install(destdir=tmp_path)
    first = tree(tmp_path)
    again = run_install(destdir=tmp_path)
    assert tree(tmp_path) == first
    files = len(first) - 1                                                 # the manifest is not counted
    assert f"{files} files (0 new, 0 updated, {files} unchanged, 0 kept as edited)" in again.stdout


def test_another_prefix_writes_every_path_from_it_and_says_what_to_wire(tmp_path):
    result = run_install(destdir=tmp_path, prefix="/opt/x")
    prefix = tmp_path / "opt" / "x"
    for path in tree(prefix):
        if path.startswith(SITELIB) or path.endswith(".gz") or path == "share/carpha/manifest":
            continue
        text = (prefix / path).read_text()
        assert "/usr/local" not in text.replace("/usr/local/etc/devd", "").replace(
            "/usr/local/etc/cron.d", ""), path
    assert "action \"/opt/x/libexec/carpha/carp-event $subsystem $type\";" in (
        prefix / "etc/devd/carpha.conf").read_text()
    assert "/opt/x/libexec/carpha/carp-is-master em0 1" in (prefix / "etc/ifstated.conf.carpha.sample").read_text()
    assert "root\t/opt/x/bin/carpha check --repair" in (prefix / "etc/cron.d/carpha").read_text()
    for name in ("carpha_heartbeat", "carpha_boot"):
        assert "/opt/x/bin/carpha" in (prefix / "etc/rc.d" / name).read_text()
    assert 'directory "/opt/x/etc/devd";' in result.stderr
    assert "/etc/cron.d/carpha" in result.stderr and "local_startup" in result.stderr


def test_dry_run_changes_nothing(tmp_path):
    result = run_install("--dry-run", destdir=tmp_path)
    assert os.listdir(tmp_path) == []
    assert "would install" in result.stdout


def test_an_edited_config_file_is_kept_and_an_edited_program_is_saved(tmp_path):
    run_install(destdir=tmp_path)
    prefix = tmp_path / "usr" / "local"
    rule = prefix / "etc/devd/carpha.conf"
    rule.chmod(0o644)
    rule.write_text(rule.read_text() + "# mine\n")
    hook = prefix / "libexec/carpha/stop-jails"
    hook.chmod(0o755)
    hook.write_text(hook.read_text() + "# mine\n")
    result = run_install(destdir=tmp_path)
    assert rule.read_text().endswith("# mine\n")
    assert (prefix / "etc/devd/carpha.conf.carpha-new").exists()
    assert f"{rule} was edited" in result.stderr and "kept" in result.stderr
    assert not hook.read_text().endswith("# mine\n")
    assert (prefix / "libexec/carpha/stop-jails.carpha-old").read_text().endswith("# mine\n")
    assert f"{hook} was edited" in result.stderr


def test_uninstall_leaves_config_and_state_unless_purge(tmp_path):
    run_install(destdir=tmp_path)
    prefix = tmp_path / "usr" / "local"
    (prefix / "etc/carpha.yaml").write_text("nodes: {}\n")
    (tmp_path / "var/db/carpha").mkdir(parents=True)
    (tmp_path / "var/db/carpha/journal").write_text("{}\n")
    dry = run_install("--uninstall", "--dry-run", destdir=tmp_path)
    assert "would remove" in dry.stdout and (prefix / "bin/carpha").exists()
    run_install("--uninstall", destdir=tmp_path)
    left = sorted(tree(tmp_path))
    assert left == ["usr/local/etc/carpha.yaml", "var/db/carpha/journal"]
    assert not (prefix / "libexec/carpha").exists() and not (prefix / SITELIB / "carpha").exists()
    run_install(destdir=tmp_path)
    run_install("--uninstall", "--purge", destdir=tmp_path)
    assert tree(tmp_path) == {}


def test_uninstall_keeps_an_edited_file(tmp_path):
    run_install(destdir=tmp_path)
    cron = tmp_path / "usr/local/etc/cron.d/carpha"
    cron.chmod(0o644)
    cron.write_text("# mine\n")
    result = run_install("--uninstall", destdir=tmp_path)
    assert cron.read_text() == "# mine\n" and "was edited since it was installed: kept" in result.stderr


def test_install_refuses_a_python_without_pyyaml_unless_staging(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text(f'#!/bin/sh\ncase "$2" in *"import yaml"*) exit 1 ;; esac\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    refused = run_install(prefix=str(tmp_path / "prefix"), python=str(fake), check=False)
    assert refused.returncode == 69 and "cannot import yaml (PyYAML): pkg install py" in refused.stderr
    assert not (tmp_path / "prefix").exists()
    staged = run_install(destdir=tmp_path / "stage", python=str(fake))
    assert "warning: " in staged.stderr and "cannot import yaml" in staged.stderr


@pytest.mark.parametrize("args, why", [
    (["--bogus"], "unknown argument"), (["--prefix", "relative"], "absolute path"),
    (["--purge"], "--purge goes with --uninstall"), (["--prefix", "/opt/a b"], "may contain only"),
])
def test_install_refuses_bad_usage_with_64(tmp_path, args, why):
    result = run_install(*args, destdir=tmp_path, check=False)
    assert result.returncode == 64 and why in result.stderr
    assert os.listdir(tmp_path) == []


def test_install_refuses_a_relative_python(tmp_path):
    result = run_install(destdir=tmp_path, python="python3", check=False)
    assert result.returncode == 64 and "absolute path" in result.stderr


def test_restart_devd_is_refused_when_staging(tmp_path):
    result = run_install("--restart-devd", destdir=tmp_path, check=False)
    assert result.returncode == 64 and "must not touch the running devd" in result.stderr


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed (apt-get install shellcheck;"
                                                            " .ci/run installs it)")
def test_install_sh_is_clean_under_shellcheck():
    result = subprocess.run(["shellcheck", "-s", "sh", INSTALL_SH], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(not shutil.which("dash"), reason="dash not installed (apt-get install dash; .ci/run installs it)")
def test_install_sh_parses_under_dash():
    result = subprocess.run(["dash", "-n", INSTALL_SH], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_port_builds_with_install_sh_and_depends_on_pyyaml():
    port = os.path.join(ROOT, "port", "sysutils", "carpha")
    makefile = open(os.path.join(port, "Makefile")).read()
    assert "USES=\t\tpython:3.9+" in makefile
    assert "RUN_DEPENDS=\t${PYTHON_PKGNAMEPREFIX}yaml>=5.1:devel/py-yaml@${PY_FLAVOR}" in makefile
    assert "./install.sh" in makefile and "DESTDIR=${STAGEDIR}" in makefile
    assert "LICENSE=\tBSD2CLAUSE" in makefile and os.path.exists(os.path.join(ROOT, "LICENSE"))
    message = open(os.path.join(port, "pkg-message")).read()
    for step in ("carpha.yaml.sample", "carpha config check", "carpha simulate -c", "carpha_heartbeat_enable=YES",
                 "service devd restart"):
        assert step in message, step
    assert os.path.getsize(os.path.join(port, "pkg-descr")) > 100


def write_plist(path=PLIST):
    """`make port-plist`: stage into a temporary root and write pkg-plist."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        run_install(destdir=root)
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in as_plist(tree(os.path.join(root, "usr", "local")))))


if __name__ == "__main__" and sys.argv[1:] == ["--write-plist"]:
    write_plist()


# --- rc.d scripts ----------------------------------------------------------------

import getopt  # noqa: E402
import shlex  # noqa: E402

RC_D = os.path.join(ROOT, "hooks", "rc.d")
RC_SCRIPTS = ("carpha_heartbeat", "carpha_boot")
# usr.sbin/daemon/daemon.c (freebsd-src): getopt_long(argc, argv, "+cfHSp:P:ru:o:s:l:t:m:R:T:h");
# "+" stops at the first non-option, as Python's getopt does.
DAEMON_SHORTOPTS = "cfHSp:P:ru:o:s:l:t:m:R:T:h"


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


@pytest.mark.parametrize("name", RC_SCRIPTS)
def test_rc_d_script_passes_a_posix_sh_syntax_check(name):
    shell = shutil.which("dash") or "sh"
    result = subprocess.run([shell, "-n", os.path.join(RC_D, name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rc_d_headers_order_the_heartbeat_after_the_nfs_witness_and_the_boot_hold_before_netif():
    assert rcorder_header(os.path.join(RC_D, "carpha_heartbeat")) == {
        "PROVIDE": ["carpha_heartbeat"], "REQUIRE": ["NETWORKING", "mountcritremote", "syslogd"],
        "BEFORE": [], "KEYWORD": ["nojail", "shutdown"]}
    assert rcorder_header(os.path.join(RC_D, "carpha_boot")) == {
        "PROVIDE": ["carpha_boot"], "REQUIRE": ["FILESYSTEMS", "sysctl", "kld"],
        "BEFORE": ["netif"], "KEYWORD": ["nojail"]}


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
		# rc.subr: each of required_files must be readable, unless forced.
		for _f in $required_files; do
			if [ ! -r "${_f}" ]; then warn "${_f} is not readable."; return 1; fi
		done
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


FAKE_CARPHA = """#!/bin/sh
echo "$*" >> "{log}"
{body}
"""


def _fake_carpha(tmp_path, body):
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "carpha"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(FAKE_CARPHA.format(log=log, body=body))
    fake.chmod(0o755)
    return fake, log


def _heartbeat(tmp_path, body="exit 0"):
    run = tmp_path / "run" / "carpha"
    fake, log = _fake_carpha(tmp_path, body)
    script = _stubbed(tmp_path, "carpha_heartbeat", replace=[("/var/run/carpha", str(run)),
                                                            ("/usr/local/bin/carpha", str(fake))])
    return script, run, fake, log


def test_rc_d_heartbeat_starts_carpha_heartbeat_under_daemon_with_restart(tmp_path):
    script, run, fake, log = _heartbeat(tmp_path)
    config = tmp_path / "carpha.yaml"
    config.write_text("nodes: {}\n")
    result = _run(script, "start", carpha_heartbeat_config=str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "enable=NO" in lines                               # off until sysrc carpha_heartbeat_enable=YES
    assert f"pidfile={run}/heartbeat-daemon.pid" in lines     # rc.subr signals the supervisor
    argv = shlex.split(next(line for line in lines if line.startswith("run: "))[len("run: "):])
    assert argv == ["/usr/sbin/daemon", "-f", "-S", "-T", "carpha", "-r", "-t", "carpha_heartbeat",
                    "-P", f"{run}/heartbeat-daemon.pid", "-p", f"{run}/heartbeat.pid",
                    str(fake), "-c", str(config), "heartbeat"]
    options, command = getopt.getopt(argv[1:], DAEMON_SHORTOPTS)   # every flag is one daemon(8) knows
    assert command == [str(fake), "-c", str(config), "heartbeat"]
    assert dict(options)["-P"] == f"{run}/heartbeat-daemon.pid"
    assert run.is_dir() and stat.S_IMODE(run.stat().st_mode) == 0o700     # start_precmd
    assert log.read_text() == f"-c {config} config check\n"


def test_rc_d_heartbeat_refuses_to_start_on_a_config_that_fails_the_check(tmp_path):
    script, run, fake, log = _heartbeat(tmp_path, body="echo 'carpha.yaml:3: nodes: bad' >&2; exit 78")
    config = tmp_path / "carpha.yaml"
    config.write_text("nodes: {}\n")
    result = _run(script, "start", carpha_heartbeat_config=str(config))
    assert result.returncode == 1
    assert "run: " not in result.stdout                       # daemon(8) never started
    assert "carpha.yaml:3: nodes: bad" in result.stderr
    assert f"WARNING: {config} does not pass carpha config check; not starting carpha_heartbeat" in result.stderr


def test_rc_d_heartbeat_refuses_to_start_without_a_config(tmp_path):
    script, run, fake, log = _heartbeat(tmp_path)
    result = _run(script, "start", carpha_heartbeat_config=str(tmp_path / "missing.yaml"))
    assert result.returncode == 1 and "run: " not in result.stdout
    assert "missing.yaml is not readable." in result.stderr
    assert not log.exists()


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
