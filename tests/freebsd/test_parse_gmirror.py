"""parse_gmirror_status / parse_gmirror_list on captures and variants."""

import os

import pytest

from conftest import SAMPLES
from carpha.freebsd import ParseError
from carpha.freebsd.gmirror import parse_gmirror_list, parse_gmirror_status

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "freebsd")


def read(*parts):
    with open(os.path.join(*parts)) as f:
        return f.read()


def brief(status):
    """(name, status, [(component, state, progress)]) per mirror."""
    return [(m["name"], m["status"], [(c["name"], c["state"], c["progress"]) for c in m["components"]])
            for m in status["mirrors"]]


def test_handbook_status_gives_geom_name_without_mirror_prefix_and_both_components():
    parsed = parse_gmirror_status(read(SAMPLES, "gmirror_status", "handbook-complete-ada.txt"))
    assert brief(parsed) == [("gm0", "COMPLETE", [("ada1", "ACTIVE", None), ("ada0", "ACTIVE", None)])]


def test_status_with_misaligned_header_still_parses():
    parsed = parse_gmirror_status(read(SAMPLES, "gmirror_status", "netways-check-monit-opnsense.txt"))
    assert brief(parsed) == [("OPNsense", "COMPLETE", [("ada0", "ACTIVE", None), ("ada1", "ACTIVE", None)])]


def test_script_status_rows_with_one_name_are_one_mirror():
    parsed = parse_gmirror_status(read(SAMPLES, "gmirror_status_s", "simplemonitor-fixture-good.txt"))
    assert brief(parsed) == [("gm0", "COMPLETE", [("ada0", "ACTIVE", None), ("ada1", "ACTIVE", None)])]


def test_several_mirrors_with_synchronizing_percent_and_disconnected_component():
    expected = [
        ("data", "DEGRADED", [("ada1", "ACTIVE", None), ("ggate0", "SYNCHRONIZING", 42)]),
        ("gm0", "COMPLETE", [("ada0", "ACTIVE", None), ("ada2", "ACTIVE", None)]),
        ("web", "DEGRADED", [("ada3", "ACTIVE", None), ("ggate1", "DISCONNECTED", None)]),
    ]
    parsed = parse_gmirror_status(read(FIXTURES, "gmirror-status-four-mirrors.txt"))
    # A geom without consumers prints N/A: no component.
    assert brief(parsed) == expected + [("empty", "STARTING", [])]
    # -gs of the same mirrors (name and status on every row, trailing blanks).
    assert brief(parse_gmirror_status(read(FIXTURES, "gmirror-status-gs-three-mirrors.txt"))) == expected


def test_bare_component_names_have_no_state():
    parsed = parse_gmirror_status(read(FIXTURES, "gmirror-status-bare-components.txt"))
    assert brief(parsed) == [("gm0", "COMPLETE", [("ada0", None, None), ("ada1", None, None)]),
                             ("data", "DEGRADED", [("ada2", None, None)])]


def test_status_separated_by_tabs_and_progress_without_state():
    text = "gm0\tDEGRADED\tada0 (ACTIVE)\ngm0\tDEGRADED\tada1 (7%)\n"
    assert brief(parse_gmirror_status(text)) == [
        ("gm0", "DEGRADED", [("ada0", "ACTIVE", None), ("ada1", None, 7)])]


def test_no_mirror_prints_nothing_and_parses_to_no_mirrors():
    assert parse_gmirror_status("") == {"mirrors": []}


@pytest.mark.parametrize("text,lineno,words", [
    ("      Name    Status  Components\n                      ada0 (ACTIVE)\n", 2, "before any mirror"),
    ("gm0  COMPLETE  ada0 (ACTIVE\n", 1, "NAME  STATUS  COMPONENT"),
    ("gm0  COMPLETE  ada0 (ACTIVE, lots)\n", 1, "STATE[, NN%]"),
    ("gm0  COMPLETE  ada0 (ACTIVE)\ngm1  COMPLETE  ada1 (ACTIVE)\ngm0  COMPLETE  ada2 (ACTIVE)\n", 3, "twice"),
    ("gm0\n", 1, "before any mirror"),
])
def test_text_that_is_not_gmirror_status_raises_parse_error_on_its_line(text, lineno, words):
    with pytest.raises(ParseError) as excinfo:
        parse_gmirror_status(text)
    assert (excinfo.value.lineno, words in excinfo.value.reason) == (lineno, True)


def test_list_capture_gives_geom_ids_and_consumers_in_priority_order():
    parsed = parse_gmirror_list(read(SAMPLES, "gmirror_list", "geomflash-m0-complete-2disk-fbsd101.txt"))
    [m0] = parsed["mirrors"]
    assert (m0["name"], m0["state"], m0["genid"], m0["syncid"], m0["balance"]) == ("m0", "COMPLETE", 0, 1, "load")
    assert (m0["id"], m0["slice"], m0["component_count"], m0["flags"]) == (412366882, 4096, 2, [])
    assert [(c["name"], c["state"], c["priority"], c["genid"], c["syncid"], c["flags"]) for c in m0["components"]] == [
        ("ada3", "ACTIVE", 1, 0, 1, []), ("ada2", "ACTIVE", 0, 0, 1, [])]
    assert m0["components"][0]["mediasize"] == 4000787030016
    assert m0["providers"] == [{"name": "mirror/m0", "mediasize": 4000787029504, "sectorsize": 512, "mode": "r0w0e0"}]


def test_list_of_two_geoms_with_a_synchronizing_consumer():
    data, gm0 = parse_gmirror_list(read(FIXTURES, "gmirror-list-two-geoms-syncing.txt"))["mirrors"]
    assert (data["name"], data["state"], data["genid"], data["syncid"], data["flags"]) == (
        "data", "DEGRADED", 1, 3, ["NOFAILSYNC"])
    ggate0 = data["components"][1]
    assert (ggate0["name"], ggate0["state"], ggate0["flags"], ggate0["synchronized"]) == (
        "ggate0", "SYNCHRONIZING", ["DIRTY", "SYNCHRONIZING"], 42)
    assert ggate0["bytessynced"] == 4509715660
    assert data["type"] == "AUTOMATIC"
    assert (gm0["name"], [c["name"] for c in gm0["components"]]) == ("gm0", ["ada3", "ada2"])


def test_list_from_an_older_kernel_without_genid_or_state_gives_none():
    text = ("Geom name: gm0\nComponents: 2\nBalance: round-robin\nSlice: 4096\nFlags: NONE\nSyncID: 1\nID: 1\n"
            "Consumers:\n1. Name: ad0\n   Mediasize: 1 (1B)\n   Sectorsize: 512\n   Mode: r1w1e1\n"
            "   State: ACTIVE\n   Priority: 0\n   Flags: NONE\n   SyncID: 1\n   ID: 2\n\n")
    [gm0] = parse_gmirror_list(text)["mirrors"]
    assert (gm0["state"], gm0["genid"], gm0["syncid"]) == (None, None, 1)
    assert (gm0["components"][0]["genid"], gm0["components"][0]["priority"]) == (None, 0)


@pytest.mark.parametrize("text,lineno,words", [
    ("State: COMPLETE\n", 1, "Geom name"),
    ("Geom name: gm0\nGenID: zero\n", 2, "not a number"),
    ("Geom name: gm0\n1. Name: ada0\n", 2, "outside a Providers:/Consumers:"),
    ("Geom name: gm0\nConsumers:\n   State: ACTIVE\n", 3, "outside a provider or consumer"),
    ("Geom name: gm0\nConsumers:\n1. Name: ada0\n   Priority 1\n", 4, "Key: value"),
    ("Geom name: gm0\nConsumers:\n1. Name: ada0\nState: ACTIVE\n", 4, "inside the consumers block"),
])
def test_text_that_is_not_gmirror_list_raises_parse_error_on_its_line(text, lineno, words):
    with pytest.raises(ParseError) as excinfo:
        parse_gmirror_list(text)
    assert (excinfo.value.lineno, words in excinfo.value.reason) == (lineno, True)
