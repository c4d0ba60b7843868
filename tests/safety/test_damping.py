"""carpha.safety.damping: transitions are counted exactly at the window's edges, a
group is held at limit+1 and not at limit, the history file stays small,
settle() notices a role that did not last; the damping config keys."""

import json
import os

import pytest
from freezegun import freeze_time

from carpha import clock, config
from carpha.safety import damping
from conftest import ROOT

NOW = 1714564800.0          # 2024-05-01 12:00:00 UTC


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "state")


# --- the pure core ---------------------------------------------------------------------------


def test_a_transition_exactly_window_seconds_old_is_outside():
    assert damping.count_in_window([NOW - 60], NOW, 60) == 0
    assert damping.count_in_window([NOW - 59.999], NOW, 60) == 1
    assert damping.count_in_window([NOW], NOW, 60) == 1


def test_a_transition_stamped_in_the_future_counts_for_nothing():
    # The clock was stepped back: it must not hold the group for the whole step.
    assert damping.count_in_window([NOW + 3600, NOW - 1], NOW, 60) == 1


def test_holds_at_limit_plus_one_not_at_limit():
    seven = [NOW - 50 + i for i in range(7)]
    assert not damping.should_hold(seven[1:], NOW, 6, 60)
    assert damping.should_hold(seven, NOW, 6, 60)


def test_an_old_transition_no_longer_holds():
    times = [NOW - 60] + [NOW - 10 + i for i in range(6)]      # 7 in all, the first at the edge
    assert not damping.should_hold(times, NOW, 6, 60)
    assert damping.should_hold(times, NOW - 0.5, 6, 60)


def test_prune_keeps_the_window_and_the_newest():
    entries = [(NOW - 100, "MASTER"), (NOW - 60, "BACKUP"), (NOW - 30, "MASTER"), (NOW - 1, "BACKUP")]
    assert damping.prune(entries, NOW, 60) == entries[2:]
    assert damping.prune(entries, NOW, 60, keep=1) == entries[3:]


def test_the_history_keeps_more_than_any_valid_limit():
    # Otherwise a configured limit could never be exceeded.
    assert damping.MAX_KEPT > config.MAX_FLAP_LIMIT


# --- the history file -----------------------------------------------------------------------


def flap(state_dir, frozen, count, every=5.0, group="web"):
    """`count` transitions, alternating roles, `every` seconds apart."""
    for i in range(count):
        damping.record_transition(state_dir, group, "MASTER" if i % 2 == 0 else "BACKUP", clock.now())
        frozen.tick(every)


def test_seven_transitions_in_a_minute_hold_the_group_with_a_reason(state_dir):
    with freeze_time("2024-05-01 12:00:00") as frozen:
        flap(state_dir, frozen, 6)
        assert damping.is_damped(state_dir, "web", 6, 60, clock.now()) is None
        flap(state_dir, frozen, 1)
        assert damping.is_damped(state_dir, "web", 6, 60, clock.now()) == (
            "web: 7 transitions in the last 60 s (limit 6): holding the group as it is")


def test_the_hold_lifts_when_the_transitions_age_out(state_dir):
    with freeze_time("2024-05-01 12:00:00") as frozen:
        flap(state_dir, frozen, 7, every=1)     # at 0..6 s; now is 7 s
        assert damping.is_damped(state_dir, "web", 6, 60, clock.now()) is not None
        frozen.tick(53)                          # the first is exactly 60 s old
        assert damping.is_damped(state_dir, "web", 6, 60, clock.now()) is None


def test_the_same_role_again_is_not_a_transition(state_dir):
    assert damping.record_transition(state_dir, "web", "MASTER", NOW)
    assert not damping.record_transition(state_dir, "web", "MASTER", NOW + 1)
    assert damping.load(state_dir, "web") == ("MASTER", [(NOW, "MASTER")])


def test_groups_are_counted_apart(state_dir):
    with freeze_time("2024-05-01 12:00:00") as frozen:
        flap(state_dir, frozen, 7, every=1, group="web")
        assert damping.is_damped(state_dir, "mail", 6, 60, clock.now()) is None
    assert os.path.exists(os.path.join(state_dir, "web.transitions.json"))


def test_pruning_keeps_the_file_small(state_dir):
    with freeze_time("2024-05-01 12:00:00") as frozen:
        flap(state_dir, frozen, 40, every=10)       # 400 s of flapping, window 60 s
    last, entries = damping.load(state_dir, "web")
    assert len(entries) == 6 and last == "BACKUP"
    size = os.path.getsize(damping.path_for(state_dir, "web"))
    assert size < 400

    for i in range(30):
        damping.record_transition(state_dir, "web", "MASTER" if i % 2 else "BACKUP", NOW + 1000 + i / 10, keep=10)
    assert len(damping.load(state_dir, "web")[1]) == 10


def test_history_is_versioned_json_written_privately(state_dir):
    damping.record_transition(state_dir, "web", "MASTER", NOW)
    path = damping.path_for(state_dir, "web")
    assert json.load(open(path)) == {"schema": 1, "group": "web", "last_role": "MASTER",
                                     "transitions": [[NOW, "MASTER"]]}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(state_dir).st_mode & 0o777 == 0o700


def test_an_unreadable_history_damps_nothing_and_is_moved_aside(state_dir):
    os.makedirs(state_dir, mode=0o700)
    path = damping.path_for(state_dir, "web")
    with open(path, "w") as f:
        f.write("[1, 2")
    assert damping.is_damped(state_dir, "web", 6, 60, NOW) is None
    assert damping.record_transition(state_dir, "web", "MASTER", NOW)
    assert open(path + ".unreadable").read() == "[1, 2"
    assert damping.load(state_dir, "web") == ("MASTER", [(NOW, "MASTER")])


@pytest.mark.parametrize("group", ["../etc", ".hidden", "a/b", ""])
def test_a_group_name_that_is_not_a_file_name_is_refused(state_dir, group):
    with pytest.raises(ValueError):
        damping.record_transition(state_dir, group, "MASTER", NOW)


# --- settle ------------------------------------------------------------------------------------


def test_settle_returns_false_when_the_role_changed_during_the_settle():
    carp = {"role": "MASTER"}
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        carp["role"] = "BACKUP"             # preempted back while we waited

    assert damping.settle(lambda: carp["role"] == "MASTER", 2, sleep=sleep) is False
    assert slept == [2]


def test_settle_returns_true_when_the_role_held():
    assert damping.settle(lambda: True, 2, sleep=lambda s: None) is True


def test_settle_checks_the_role_only_after_waiting_on_carphas_clock():
    events = []

    class Clock:
        def now(self):
            return NOW

        def monotonic(self):
            return 0.0

        def sleep(self, seconds):
            events.append(("sleep", seconds))

    previous = clock.use(Clock())
    try:
        assert damping.settle(lambda: events.append(("check",)) or True, 2.5)
    finally:
        clock.use(previous)
    assert events == [("sleep", 2.5), ("check",)]


# --- config -----------------------------------------------------------------------------------

CONFIG = """\
nodes: {a: {address: 192.0.2.1}, b: {address: 192.0.2.2}}
groups:
  g: {nodes: [a, b], preferred_node: a, carp: {interface: em0, vhid: 7}, addresses: [em0 192.0.2.9/24]}
"""


def test_damping_defaults_apply_when_absent():
    assert config.loads(CONFIG, node="a").damping == config.Damping(
        settle_seconds=2, flap_limit=6, flap_window_seconds=60)


def test_damping_values_are_read_and_zero_settle_is_allowed():
    cfg = config.loads(CONFIG + "damping:\n  settle_seconds: 0\n  flap_limit: 1\n  flap_window_seconds: 0.5\n",
                       node="a")
    assert cfg.damping == config.Damping(0, 1, 0.5)


@pytest.mark.parametrize("text, expected", [
    ("damping:\n  settle_seconds: -1\n", ["carpha.yaml:5: damping.settle_seconds: -1 is not >= 0"]),
    ("damping:\n  settle_seconds: 61\n", ["carpha.yaml:5: damping.settle_seconds: 61 is not <= 60"]),
    ("damping:\n  settle_seconds: .nan\n",
     ["carpha.yaml:5: damping.settle_seconds: expected a finite number of seconds, got .nan"]),
    ("damping:\n  flap_limit: 0\n", ["carpha.yaml:5: damping.flap_limit: 0 is not in 1..1000"]),
    ("damping:\n  flap_limit: 1001\n", ["carpha.yaml:5: damping.flap_limit: 1001 is not in 1..1000"]),
    ("damping:\n  flap_limit: 2.5\n", ["carpha.yaml:5: damping.flap_limit: expected an integer, got 2.5"]),
    ("damping:\n  flap_window_seconds: 0\n", ["carpha.yaml:5: damping.flap_window_seconds: 0 is not > 0"]),
    ("damping:\n  flap_window_seconds: one minute\n",
     ["carpha.yaml:5: damping.flap_window_seconds: expected a number of seconds, got 'one minute'"]),
    ("damping:\n  flap_limt: 3\n", ["carpha.yaml:5: damping.flap_limt: unknown key (did you mean flap_limit?)"]),
    ("damping: [2, 6, 60]\n", ["carpha.yaml:4: damping: expected a mapping, got a list"]),
    ("damping:\n  settle_seconds: -1\n  flap_limit: 0\n  flap_window_seconds: -5\n",
     ["carpha.yaml:5: damping.settle_seconds: -1 is not >= 0", "carpha.yaml:6: damping.flap_limit: 0 is not in 1..1000",
      "carpha.yaml:7: damping.flap_window_seconds: -5 is not > 0"]),
], ids=["settle negative", "settle above 60", "settle nan", "limit zero", "limit above 1000", "limit not whole",
        "window zero", "window words", "misspelt key", "a list", "every problem at once"])
def test_bad_damping_config_is_reported_exactly(text, expected):
    with pytest.raises(config.ConfigError) as caught:
        config.loads(CONFIG + text, "carpha.yaml", node="a")
    assert caught.value.problems == expected


def test_example_documents_the_damping_defaults():
    with open(os.path.join(ROOT, "examples", "three-servers.yaml")) as f:
        lines = f.read().splitlines()
    start = lines.index("# damping:                              # against a flapping CARP link")
    block = []
    for line in lines[start:]:
        if not line:
            break
        block.append(line[2:])
    assert [line.split(":")[0].strip() for line in block if not line.lstrip().startswith("#")] == [
        "damping", "settle_seconds", "flap_limit", "flap_window_seconds"]
    assert config.loads(CONFIG + "\n".join(block) + "\n", node="a").damping == config.Damping()
