"""parse_devd_event: one notify line as devd's chop_var() reads it."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError, parse_text
from carpha.freebsd.devd import parse_devd_event


def test_event_inside_the_devd_debug_trace_parses():
    with open(os.path.join(SAMPLES, "devd", "dtxdf-devd-debug-geom-create-automount.txt")) as f:
        first = f.readline()
    # "Processing event '!system=GEOM ...'" (devd -d)
    event = first.split("'")[1]
    assert parse_text("devd-event", event) == {
        "system": "GEOM", "subsystem": "DEV", "type": "CREATE", "cdev": "gpt/rt2AC69"}


@pytest.mark.parametrize("line,expected", [
    # freebsd-reference.md 1.4 (format-derived from the emitting kernel code)
    ("!system=CARP subsystem=1@em0 type=MASTER\n",
     {"system": "CARP", "subsystem": "1@em0", "type": "MASTER"}),
    ("!system=DEVFS subsystem=CDEV type=DESTROY cdev=ggate0",
     {"system": "DEVFS", "subsystem": "CDEV", "type": "DESTROY", "cdev": "ggate0"}),
    ("!system=GEOM subsystem=DEV type=CREATE cdev=mirror/data",
     {"system": "GEOM", "subsystem": "DEV", "type": "CREATE", "cdev": "mirror/data"}),
])
def test_documented_notify_events(line, expected):
    assert parse_devd_event(line) == expected


def test_double_quoted_values_keep_blanks_and_escaped_quotes():
    line = '!system=USER subsystem=test type=NOTE msg="a b \\"c\\"" next=1'
    assert parse_devd_event(line) == {"system": "USER", "subsystem": "test", "type": "NOTE",
                                      "msg": 'a b "c"', "next": "1"}


def test_reading_stops_at_the_first_token_that_is_not_key_value_like_devd():
    line = "!system=IFNET subsystem=em0 type=LINK_UP stray words later=1"
    assert parse_devd_event(line) == {"system": "IFNET", "subsystem": "em0", "type": "LINK_UP"}


def test_unterminated_quote_stops_reading_like_devd():
    line = '!system=USER subsystem=x type=T msg="never closed'
    assert parse_devd_event(line) == {"system": "USER", "subsystem": "x", "type": "T"}


@pytest.mark.parametrize("line,words", [
    ("system=CARP subsystem=1@em0 type=MASTER", "leading '!'"),
    ("+uhub0 at bus=0 on usbus0", "leading '!'"),
    ("!system=CARP type=MASTER", "subsystem"),
    ("!garbage", "system, subsystem, type"),
    ("!system=CARP subsystem=1@em0 type=MASTER\n!system=CARP subsystem=2@em0 type=MASTER", "several"),
])
def test_lines_that_are_not_notify_events_raise_parse_error(line, words):
    with pytest.raises(ParseError) as excinfo:
        parse_devd_event(line)
    assert words in excinfo.value.reason
    assert excinfo.value.lineno in (1, 2)
