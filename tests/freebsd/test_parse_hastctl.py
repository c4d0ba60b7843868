"""parse_hastctl_status: columnar (current) and block (2012) formats."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError
from carpha.freebsd.hastctl import parse_hastctl_status

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")


def read(*parts):
    with open(os.path.join(*parts)) as f:
        return f.read()


def brief(resources):
    return [(r["name"], r["role"], r["status"], r["components"]) for r in resources]


def test_capture_with_expanded_tabs_gives_primary_complete():
    assert brief(parse_hastctl_status(read(SAMPLES, "hastctl", "foozone-f0-status-primary.txt"))) == [
        ("storage", "primary", "complete", ["/dev/ada1", "192.168.1.131"])]


def test_columns_with_tabs_dash_status_and_error_row():
    resources = parse_hastctl_status(read(FIXTURES, "hastctl-status-columns-four.txt"))
    assert brief(resources) == [
        ("data", "primary", "complete", ["/dev/ada1", "10.0.0.2"]),
        ("web", "secondary", "degraded", ["/dev/ada2", "10.0.0.2"]),
        ("logs", "init", "-", ["/dev/ada3", "10.0.0.2"]),
        ("bad", None, "ERR2", []),
    ]
    assert resources[3]["error"] == 2


def test_old_block_format_gives_the_same_fields_plus_dirty():
    data, web = parse_hastctl_status(read(FIXTURES, "hastctl-status-old-blocks.txt"))
    assert brief([data, web]) == [("data", "primary", "degraded", ["/dev/ada1", "10.0.0.2"]),
                                  ("web", None, "ERR2", [])]
    assert (data["dirty"], data["replication"], data["extentsize"]) == (4194304, "fullsync", 2097152)


def test_no_resource_prints_nothing():
    assert parse_hastctl_status("") == []


@pytest.mark.parametrize("text,lineno", [
    ("garbage line\n", 1),
    ("Name\tStatus\t Role\t\tComponents\ndata\tcomplete\n", 2),
    ("data:\n  role: primary\nnot a key line\n", 3),
    ("data:\n  dirty: lots\n", 2),
])
def test_text_that_is_not_hastctl_status_raises_parse_error_on_its_line(text, lineno):
    with pytest.raises(ParseError) as excinfo:
        parse_hastctl_status(text)
    assert excinfo.value.lineno == lineno
