"""parse_sysctl on `sysctl net.inet.carp` output."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError
from carpha.freebsd.sysctl import parse_sysctl

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")


def test_opnsense_capture_gives_six_integer_oids():
    with open(os.path.join(SAMPLES, "sysctl_carp", "opnsense-3671-fw1-initial.txt")) as f:
        assert parse_sysctl(f.read()) == {
            "net.inet.carp.ifdown_demotion_factor": 240, "net.inet.carp.senderr_demotion_factor": 240,
            "net.inet.carp.demotion": 0, "net.inet.carp.log": 1, "net.inet.carp.preempt": 1,
            "net.inet.carp.allow": 1}


def test_negative_numbers_are_ints_and_words_stay_strings():
    with open(os.path.join(FIXTURES, "sysctl-carp-14x-with-dscp.txt")) as f:
        values = parse_sysctl(f.read())
    assert (values["net.inet.carp.demotion"], values["net.inet.carp.dscp"]) == (-240, 56)
    assert values["kern.ostype"] == "FreeBSD"


def test_e_flag_form_and_empty_value():
    assert parse_sysctl("net.inet.carp.allow=1\nkern.bootfile: \n") == {
        "net.inet.carp.allow": 1, "kern.bootfile": ""}


@pytest.mark.parametrize("text,lineno", [
    ("net.inet.carp.allow 1\n", 1),
    ("net.inet.carp.allow: 1\n  continuation of a multi-line value\n", 2),
])
def test_lines_that_are_not_name_colon_value_raise_parse_error(text, lineno):
    with pytest.raises(ParseError) as excinfo:
        parse_sysctl(text)
    assert excinfo.value.lineno == lineno
