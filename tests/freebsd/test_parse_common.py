"""carpha.freebsd package contract: ParseError, KINDS, parse_text dispatch,
every shared sample of a parser kind parses, fixtures are documented."""

import csv
import json
import os
import subprocess
import sys

import pytest

from conftest import LIB, SAMPLES
from carpha.freebsd import KINDS, ParseError, parse_text

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")

# Shared sample directory -> parser kind. Directories that are not command
# output a parser reads are listed as None (see SOURCES.tsv there).
SAMPLE_KINDS = {
    "ifconfig_carp": "ifconfig",
    "gmirror_status": "gmirror-status",
    "gmirror_status_s": "gmirror-status",
    "gmirror_list": "gmirror-list",
    "jls": "jls",
    "jls_libxo": "jls",
    "ggatec": "ggatec-list",
    "sysctl_carp": "sysctl",
    "mount": "mount",
    "hastctl": "hastctl-status",
    "devd": None,            # devd -d debug trace; the event inside is tested in test_parse_devd
    "fsck": None,
    "ggated_exports": None,
    "syslog_carp": None,
}
# Captured output that is not what the real command prints (redacted by the
# poster): checked for its ParseError in test_parse_ifconfig instead.
REDACTED = {"ifconfig_carp/opnsense-1549-vtnet0-master.txt"}


def sample_paths():
    for directory in sorted(SAMPLE_KINDS):
        kind = SAMPLE_KINDS[directory]
        if kind is None:
            continue
        for name in sorted(os.listdir(os.path.join(SAMPLES, directory))):
            relative = f"{directory}/{name}"
            if relative not in REDACTED:
                yield pytest.param(kind, relative, id=relative)


def test_every_shared_sample_directory_is_assigned_a_kind_or_none():
    directories = {d for d in os.listdir(SAMPLES) if os.path.isdir(os.path.join(SAMPLES, d))}
    assert directories == set(SAMPLE_KINDS)


@pytest.mark.parametrize("kind,relative", list(sample_paths()))
def test_shared_sample_parses_to_json_able_data(kind, relative):
    with open(os.path.join(SAMPLES, relative)) as f:
        result = parse_text(kind, f.read())
    assert result  # every sample holds at least one record
    assert json.loads(json.dumps(result)) == result


def test_every_fixture_has_a_source_line_and_every_source_line_a_fixture():
    with open(os.path.join(FIXTURES, "SOURCES.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert all(row["source"].strip() for row in rows)
    listed = {row["path"] for row in rows}
    present = set(os.listdir(FIXTURES)) - {"SOURCES.tsv"}
    assert listed == present


def test_kinds_lists_every_kind_of_the_brief():
    assert set(KINDS) == {"ifconfig", "gmirror-status", "gmirror-list", "jls", "ggatec-list",
                          "sysctl", "devd-event", "mount", "hastctl-status"}


def test_parse_text_dispatches_to_the_parser_of_the_kind():
    assert parse_text("sysctl", "net.inet.carp.allow: 1\n") == {"net.inet.carp.allow": 1}
    assert parse_text("ggatec-list", "ggate3\n") == [{"unit": 3, "device": "ggate3"}]


def test_parse_text_rejects_an_unknown_kind_with_value_error_naming_the_kinds():
    with pytest.raises(ValueError) as excinfo:
        parse_text("ifconfg", "")
    assert not isinstance(excinfo.value, ParseError)
    assert "ifconfg" in str(excinfo.value) and "gmirror-status" in str(excinfo.value)


def test_parse_error_is_a_value_error_with_line_and_reason():
    error = ParseError(7, "netmask 0xff00ff00\nis not contiguous")
    assert isinstance(error, ValueError)
    assert (error.lineno, error.reason) == (7, "netmask 0xff00ff00 is not contiguous")
    assert str(error) == "line 7: netmask 0xff00ff00 is not contiguous"
    assert error.exit_code == 65  # EX_DATAERR
    assert str(ParseError(None, "no object")) == "no object"


def test_importing_the_package_loads_neither_yaml_nor_subprocess_nor_the_parsers():
    code = ("import sys; import carpha.freebsd; "
            "print(sorted(m for m in ('yaml', 'subprocess', 'carpha.freebsd.ifconfig') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": LIB},
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == "[]"
