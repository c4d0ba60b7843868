"""parse_jls: plain jls, jls -N and jls --libxo json."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError
from carpha.freebsd.jls import parse_jls

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")


def read(*parts):
    with open(os.path.join(*parts)) as f:
        return f.read()


def test_handbook_plain_jls_gives_jid_ip_hostname_path_and_no_name():
    assert parse_jls(read(SAMPLES, "jls", "handbook-current-classic.txt")) == [
        {"jid": 1, "name": None, "ip": "192.168.250.70", "hostname": "classic",
         "path": "/usr/local/jails/containers/classic"}]


def test_bsdinstall_plain_jls():
    assert parse_jls(read(SAMPLES, "jls", "bsdinstall-www-local.txt")) == [
        {"jid": 1, "name": None, "ip": "10.0.2.202", "hostname": "www.local", "path": "/usr/jail/www"}]


def test_handbook_libxo_json_reads_key_ipv4():
    assert parse_jls(read(SAMPLES, "jls_libxo", "handbook-jls-libxo-json.txt")) == [
        {"jid": 1, "name": None, "ip": "192.168.250.70", "hostname": "classic",
         "path": "/usr/local/jails/containers/classic"}]


def test_plain_variants_dash_and_blank_ip_spaces_truncation_and_wide_jid():
    assert parse_jls(read(FIXTURES, "jls-plain-variants.txt")) == [
        {"jid": 1, "name": None, "ip": None, "hostname": "web.example.org", "path": "/data/jails/web"},
        {"jid": 2, "name": None, "ip": None, "hostname": "db host with spaces", "path": "/data/jails/db"},
        # jls itself cuts the hostname to 29 characters (%-29.29s).
        {"jid": 3, "name": None, "ip": "192.0.2.10", "hostname": "a-very-long-hostname.example.",
         "path": "/data/jails/long"},
        {"jid": 1234567, "name": None, "ip": "192.0.2.11", "hostname": "big.example.org",
         "path": "/data/jails/my jail"},
    ]


def test_jls_N_gives_names_and_no_jid_even_when_a_name_overflows_its_column():
    assert parse_jls(read(FIXTURES, "jls-N-names.txt")) == [
        {"jid": None, "name": "web", "ip": "192.0.2.10", "hostname": "web.example.org", "path": "/data/jails/web"},
        {"jid": None, "name": "a-very-long-jail-name", "ip": "192.0.2.11", "hostname": "long host name",
         "path": "/data/jails/long"},
        {"jid": None, "name": "db", "ip": None, "hostname": "db host", "path": "/data/jails/db"},
    ]


def test_libxo_json_empty_ipv4_becomes_none():
    assert [j["ip"] for j in parse_jls(read(FIXTURES, "jls-libxo-json-two-jails.json"))] == ["192.0.2.10", None]


def test_libxo_json_in_parameter_mode_reads_string_jid_and_ip_list():
    text = ('{"__version": "2", "jail-information": {"jail": [{"name":"web","jid":"4",'
            '"host.hostname":"web.example.org","path":"/j/web","ip4.addr":["192.0.2.10","192.0.2.11"]}]}}')
    assert parse_jls(text) == [{"jid": 4, "name": "web", "ip": "192.0.2.10", "hostname": "web.example.org",
                                "path": "/j/web"}]


def test_header_only_means_no_jails():
    assert parse_jls("   JID  IP Address      Hostname                      Path\n") == []


def test_whitespace_altered_rows_without_spaces_in_fields_still_parse():
    text = "JID IP Address Hostname Path\n1 192.0.2.10 web /j/web\n2 db /j/db\n"
    assert [(j["jid"], j["ip"], j["hostname"], j["path"]) for j in parse_jls(text)] == [
        (1, "192.0.2.10", "web", "/j/web"), (2, None, "db", "/j/db")]


@pytest.mark.parametrize("text,lineno,words", [
    ("", None, "header"),
    ("garbage\n", 1, "header"),
    ("   JID  IP Address      Hostname                      Path\n     1  192.0.2.10\n", 2, "columns"),
    ("   JID  IP Address      Hostname                      Path\n     x  192.0.2.10  h  /p\n", 2, "JID column"),
    ("   JID  IP Address      Hostname                      Path\n1 10.0.0.999 h /p\n", 2, "IPv4"),
    ('{"__version": "2",\n "jail-information": {"jail": [\n {"jid": 1,,}]}}', 3, "libxo json"),
    ('{"__version": "2"}', None, "jail-information"),
    ('{"jail-information": {"jail": [{"jid": "one"}]}}', None, "jid"),
])
def test_text_that_is_not_jls_output_raises_parse_error(text, lineno, words):
    with pytest.raises(ParseError) as excinfo:
        parse_jls(text)
    assert excinfo.value.lineno == lineno
    assert words in excinfo.value.reason
