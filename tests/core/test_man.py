"""The man pages: clean under `mandoc -Tlint`, every command of the CLI in
carpha(8), every configuration key in carpha.yaml(5), and the example in
carpha.yaml(5) a configuration that loads."""

import dataclasses
import os
import re
import shutil
import subprocess

import pytest

from carpha import config
from carpha.cli.main import _parser

from conftest import ROOT

MAN = os.path.join(ROOT, "man")
PAGES = ("carpha.8", "carpha.yaml.5", "carpha-hooks.8")


def page(name):
    with open(os.path.join(MAN, name)) as f:
        return f.read()


@pytest.mark.skipif(not shutil.which("mandoc"), reason="mandoc not installed (apt-get install mandoc;"
                                                        " .ci/run installs it)")
@pytest.mark.parametrize("name", PAGES)
def test_man_page_is_clean_under_mandoc_lint(name):
    # -W warning: warnings and errors fail; STYLE notes about manuals this
    # Linux host lacks (devd(8), gmirror(8)...) do not.
    result = subprocess.run(["mandoc", "-Tlint", "-W", "warning", os.path.join(MAN, name)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_carpha_8_documents_every_command():
    text = page("carpha.8")
    sub = next(a for a in _parser()._actions if a.dest == "command")
    for command in sub.choices:
        assert re.search(rf"^\.It Cm {re.escape(command)}\b", text, re.M), command


def test_carpha_8_lists_every_exit_code():
    text = page("carpha.8")
    for code in (0, 1, 64, 65, 69, 70, 75, 77, 78):
        assert f"\n.It {code}\n" in text, code


def test_carpha_yaml_5_documents_every_key():
    text = page("carpha.yaml.5")
    classes = (config.Witness, config.Timeouts, config.Paths, config.Garp, config.Damping, config.Maintenance,
               config.Ggate, config.Filesystem, config.CarpBinding, config.Watchdog, config.Hooks)
    keys = {f.name for cls in classes for f in dataclasses.fields(cls)}
    keys |= {"node", "nodes", "syslog_facility", "groups", "preferred_node", "addresses", "storage", "kind",
             "mirror", "providers", "jails", "services", "filesystems", "default_seconds", "witness", "timeouts",
             "paths", "garp", "damping", "maintenance", "ggate", "watchdog", "hooks"}
    for key in sorted(keys):
        assert re.search(rf"^\.(It Va|Va|Ss) {key}\b", text, re.M), key


def test_carpha_yaml_5_example_loads():
    text = page("carpha.yaml.5")
    example = text.split(".Sh EXAMPLES\n.Bd -literal -offset indent\n", 1)[1].split("\n.Ed\n", 1)[0]
    loaded = config.loads(example + "\n", "example", node="serverA")
    assert list(loaded.groups) == ["web"]
