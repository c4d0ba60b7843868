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
