"""carpha.safety.reconnect: the back-off that re-attaches the peer's half, as a
pure planner and through its saved state."""

import json
import logging
import os

from carpha.safety import reconnect

LOG = logging.getLogger("test")


def test_a_half_gone_while_the_peer_is_silent_is_not_attempted():
    due, state, notes = reconnect.plan({}, ["web"], False, 100.0)
    assert due == [] and state["web"]["attempts"] == 0
    assert "degraded" in notes[0] and "once the peer answers" in notes[0]


def test_the_peer_answering_again_is_attempted_at_once_then_with_back_off():
    state = {}
    attempts = []
    now = 100.0
    _, state, _ = reconnect.plan(state, ["web"], False, now)
    while now < 140:
        now = round(now + 0.5, 1)
        due, state, _ = reconnect.plan(state, ["web"], True, now)
        if due:
            attempts.append(now)
    assert attempts[:5] == [100.5, 101.5, 103.5, 107.5, 115.5]     # 0, 1, 2, 4, 8 s apart
    assert all(b - a == 8 for a, b in zip(attempts[4:], attempts[5:]))


def test_a_peer_lost_and_back_again_restarts_the_back_off():
    _, state, _ = reconnect.plan({}, ["web"], True, 0.0)
    for t in (1.0, 3.0, 7.0):
        _, state, _ = reconnect.plan(state, ["web"], True, t)
    _, state, _ = reconnect.plan(state, ["web"], False, 8.0)
    due, state, notes = reconnect.plan(state, ["web"], True, 8.5)
    assert due == ["web"] and state["web"]["attempts"] == 1
    assert any("answers again" in n for n in notes)


def test_an_attached_half_ends_the_back_off_and_says_so():
    _, state, _ = reconnect.plan({}, ["web"], True, 0.0)
    due, state, notes = reconnect.plan(state, [], True, 1.0)
    assert due == [] and state == {}
    assert notes == ["web: the peer's half is attached again after 1 attempt(s)"]


def test_the_state_is_saved_atomically_and_a_garbled_file_counts_as_none(tmp_path):
    run_dir = str(tmp_path / "run")
    assert reconnect.due(run_dir, ["web"], True, 10.0, LOG) == ["web"]
    saved = json.load(open(os.path.join(run_dir, reconnect.FILE)))
    assert saved["web"]["attempts"] == 1 and saved["web"]["next_at"] == 11.0
    assert reconnect.due(run_dir, ["web"], True, 10.5, LOG) == []       # not yet: 1 s back-off
    assert [n for n in os.listdir(run_dir) if n != reconnect.FILE] == []   # no temp file left
    for garbage in ("{", "[]", '{"web": {"attempts": "x"}}', '{"web": 3}'):
        open(os.path.join(run_dir, reconnect.FILE), "w").write(garbage)
        assert reconnect.load(run_dir) == {}
        assert reconnect.due(run_dir, ["web"], True, 20.0, LOG) == ["web"]
