"""parse_ggatec_list: plain and -v."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError
from carpha.freebsd.ggate import parse_ggatec_list

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")


def read(*parts):
    with open(os.path.join(*parts)) as f:
        return f.read()


def test_plain_list_gives_unit_numbers_in_order():
    assert parse_ggatec_list(read(SAMPLES, "ggatec", "nbd-client-readme-ggatec-list.txt")) == [
        {"unit": n, "device": f"ggate{n}"} for n in range(4)]


def test_create_output_has_the_same_shape_as_list():
    assert parse_ggatec_list(read(SAMPLES, "ggatec", "handbook-ggatec-create-output.txt")) == [
        {"unit": 0, "device": "ggate0"}]


def test_verbose_list_keeps_info_and_numbers_per_unit():
    first, second = parse_ggatec_list(read(FIXTURES, "ggatec-list-v-two-units.txt"))
    assert (first["unit"], first["device"], first["info"], first["timeout"]) == (
        0, "ggate0", "10.0.0.2:3080 /dev/ada1", 0)
    assert (second["unit"], second["timeout"], second["mediasize"], second["mode"]) == (1, 5, 21474836480, "r1w1e1")


def test_gate_providers_not_named_ggateN_have_no_unit():
    assert parse_ggatec_list("hast/data\nggate12\n") == [
        {"unit": None, "device": "hast/data"}, {"unit": 12, "device": "ggate12"}]


def test_nothing_listed_when_the_gate_class_is_not_loaded():
    assert parse_ggatec_list("") == []


@pytest.mark.parametrize("text,lineno", [
    ("ggate0 extra\n", 1),
    ("       info: 10.0.0.2:3080 /dev/ada1\n", 1),
    ("       NAME: ggate0\n    timeout: soon\n", 2),
    ("       NAME: ggate0\nggate1\n", 2),
])
def test_text_that_is_not_ggatec_list_raises_parse_error_on_its_line(text, lineno):
    with pytest.raises(ParseError) as excinfo:
        parse_ggatec_list(text)
    assert excinfo.value.lineno == lineno
