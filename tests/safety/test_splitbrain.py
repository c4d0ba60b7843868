"""carpha.safety.splitbrain: both nodes promoted the same group without seeing each
other. Detection from the witness records, the persistent mark, the refusal
to touch the peer's disk (ggatec create included), and `carpha resolve`."""

import dataclasses
import json

import pytest

from carpha import clock
from carpha.store import journal, state
from carpha.safety import splitbrain, witness_record, witness_view
from carpha.engine import transitions, worker
from carpha.actions import replica, storage
from carpha.actions.base import ActionFailed, Conflict, Context, apply
from carpha.config import loads
from carpha.exits import CarphaError
from carpha.store.state import GroupState
from simworld import EXAMPLE_WITH_WITNESS, World

BINDING = "1@em0"


class Log:
    def __init__(self):
        self.lines = []

    def _say(level):
        def say(self, message):
            self.lines.append((level, message))
        return say

    debug, info, warning, error = _say("debug"), _say("info"), _say("warning"), _say("error")

    def at(self, level):
        return [m for lv, m in self.lines if lv == level]


def config_for(tmp_path, node="serverA", text=EXAMPLE_WITH_WITNESS):
    config = loads(text, "carpha.yaml", node=node)
    return dataclasses.replace(config, paths=dataclasses.replace(
        config.paths, state_dir=str(tmp_path / node / "db"), run_dir=str(tmp_path / node / "run")))


def ctx_for(tmp_path, node="serverA", *, dry_run=False, runner=None):
    from carpha.host.runner import Runner
    config = config_for(tmp_path, node)
    return Context(config, config.groups["web"], node, runner or Runner(executor=None, dry_run=dry_run), Log())


def peer_view(run_dir, status, *, silent_for=0.5, updated_ago=0.0, peer_error=None, node="serverA",
              peer="serverB"):
    """What the heartbeat would publish having just read the peer's record."""
    now = clock.monotonic()
    peer_groups = None if status is None else {"web": {"serving": False, "replica_in_sync": False,
                                                      "released": False, **status}}
    witness_view.save_view(run_dir, witness_view.View(
        node=node, peer=peer, directory="/w", pid=1, started=now - 100, updated=now - updated_ago,
        own_ok=True, own_error=None, own_written_at=now, peer_counter=9, peer_changed_at=now - silent_for,
        peer_error=peer_error, peer_reachable=True, peer_reached_at=now, peer_groups=peer_groups))


def save(ctx, **fields):
    state.save(ctx.config.paths.state_dir, GroupState("web", **fields))


def load(ctx):
    return state.load(ctx.config.paths.state_dir, "web")


def journaled(ctx, kind):
    return [r for r in journal.read(ctx.config.paths.state_dir, BINDING) if r.get("kind") == kind]


# --- detect -----------------------------------------------------------------------


@pytest.mark.parametrize("own,peer,fresh,expected", [
    (GroupState("web", "MASTER", 2), {"generation": 2, "serving": False}, False, 2),   # both promoted to 2
    (GroupState("web", "BACKUP", 2), {"generation": 2, "serving": False}, False, 2),   # seen from either side
    (GroupState("web", "MASTER", 0), {"generation": 0, "serving": False}, False, None),  # never promoted
    (GroupState("web", "MASTER", 3), {"generation": 2, "serving": False}, True, None),   # a normal failover
    (GroupState("web", "MASTER", 2), {"generation": 3, "serving": False}, True, None),
    (GroupState("web", "MASTER", 2), {"generation": 3, "serving": True}, True, 3),       # both serve now
    (GroupState("web", "MASTER", 2), {"generation": 3, "serving": True}, False, None),   # a dead peer's record
    (GroupState("web", "BACKUP", 2), {"generation": 3, "serving": True}, True, None),    # we do not serve
    # a peer that crashed serving generation 1 and has not rewritten its state yet
    (GroupState("web", "MASTER", 2), {"generation": 1, "serving": True}, True, None),
    (GroupState("web", "MASTER", 2), None, True, None),                                  # unknown peer
    (GroupState("web", "MASTER", 2), {"generation": True, "serving": True}, True, None),  # garbage
])
def test_detect(own, peer, fresh, expected):
    assert splitbrain.detect(own, peer, fresh) == expected


def test_a_promotion_takes_a_generation_above_both_nodes():
    assert splitbrain.next_generation(1, {"generation": 4}) == 5
    assert splitbrain.next_generation(4, {"generation": 1}) == 5
    assert splitbrain.next_generation(4, None) == 5
    assert splitbrain.next_generation(0, {"generation": "7"}) == 1


def test_the_worker_promotes_above_the_peers_published_generation(tmp_path):
    ctx = ctx_for(tmp_path)
    save(ctx, role="BACKUP", generation=1)
    peer_view(ctx.config.paths.run_dir, {"generation": 4})
    worker._write_state(ctx, transitions.MASTER, None, applied=True)
    assert (load(ctx).role, load(ctx).generation) == ("MASTER", 5)


def test_without_a_view_the_worker_promotes_to_its_own_generation_plus_one(tmp_path):
    ctx = ctx_for(tmp_path)
    save(ctx, role="BACKUP", generation=1)
    worker._write_state(ctx, transitions.MASTER, None, applied=True)
    assert load(ctx).generation == 2


# --- the records ---------------------------------------------------------------------


def record_text(**web):
    status = {"serving": True, "generation": 2, "replica_in_sync": True, **web}
    return json.dumps({"schema": 1, "node": "serverA", "counter": 3, "written_at": 1.0, "groups": {"web": status}})


def test_a_record_carries_the_mark_and_what_was_resolved():
    record = witness_record.parse_record(record_text(split_brain=2, split_brain_resolved=1), "x")
    assert (record.groups["web"].split_brain, record.groups["web"].split_brain_resolved) == (2, 1)
    absent = witness_record.parse_record(record_text(), "x")     # an older writer
    assert (absent.groups["web"].split_brain, absent.groups["web"].split_brain_resolved) == (None, None)
    null = witness_record.parse_record(record_text(split_brain=None), "x")
    assert null.groups["web"].split_brain is None


@pytest.mark.parametrize("key", ["split_brain", "split_brain_resolved"])
@pytest.mark.parametrize("value", [True, "2", -1, 2.0, [2], {}])
def test_a_garbled_mark_makes_the_record_garbled(key, value):
    with pytest.raises(witness_record.RecordError, match=f"groups.web.{key} .* is not a non-negative integer or null"):
        witness_record.parse_record(record_text(**{key: value}), "x")


def test_the_heartbeat_publishes_the_mark_from_the_state(tmp_path):
    state.save(str(tmp_path), GroupState("web", "MASTER", 2, split_brain_generation=2, split_brain_resolved=1))
    status = witness_view.group_statuses(str(tmp_path), ["web"])["web"]
    assert (status.split_brain, status.split_brain_resolved) == (2, 1)
    text = witness_record.encode_record(witness_record.Record("serverA", 1, {"web": status}, 1.0))
    assert witness_record.parse_record(text, "x").groups["web"] == status


# --- check ------------------------------------------------------------------------------


def test_equal_generations_set_the_mark_once_alert_and_refuse(tmp_path):
    ctx = ctx_for(tmp_path)
    save(ctx, role="MASTER", generation=2)
    peer_view(ctx.config.paths.run_dir, {"generation": 2})
    why = splitbrain.check(ctx)
    assert why.startswith("split brain in web (generation 2): serverA and serverB both promoted it")
    assert "`carpha resolve web --keep NODE`" in why
    assert load(ctx).split_brain_generation == 2
    assert ctx.log.at("error") == [f"alert: {why}"]
    assert [r["split_brain_generation"] for r in journaled(ctx, "split-brain")] == [2]
    assert splitbrain.check(ctx) == why                   # still refused, not alerted again
    assert len(ctx.log.at("error")) == 1 and len(journaled(ctx, "split-brain")) == 1
    assert witness_view.group_statuses(ctx.config.paths.state_dir, ["web"])["web"].split_brain == 2


def test_the_mark_outlives_the_evidence(tmp_path):
    ctx = ctx_for(tmp_path)
    save(ctx, role="MASTER", generation=2, split_brain_generation=2)
    peer_view(ctx.config.paths.run_dir, {"generation": 2}, peer_error="EIO")   # no current reading
    assert splitbrain.check(ctx).startswith("split brain in web (generation 2)")
    peer_view(ctx.config.paths.run_dir, {"generation": 1})                     # the peer lost its state
    assert splitbrain.check(ctx).startswith("split brain in web (generation 2)")


def test_a_dry_run_reports_but_marks_nothing(tmp_path):
    ctx = ctx_for(tmp_path, dry_run=True)
    save(ctx, role="MASTER", generation=2)
    peer_view(ctx.config.paths.run_dir, {"generation": 2})
    assert splitbrain.check(ctx) is not None
    assert load(ctx).split_brain_generation is None and journaled(ctx, "split-brain") == []


def test_a_peer_serving_beside_us_is_a_split_brain_but_a_stale_serving_record_is_not(tmp_path):
    ctx = ctx_for(tmp_path)
    save(ctx, role="MASTER", generation=3)
    peer_view(ctx.config.paths.run_dir, {"generation": 1, "serving": True})   # crashed serving, back
    assert splitbrain.check(ctx) is None
    peer_view(ctx.config.paths.run_dir, {"generation": 4, "serving": True}, silent_for=100)   # dead
    assert splitbrain.check(ctx) is None
    peer_view(ctx.config.paths.run_dir, {"generation": 4, "serving": True})
    assert splitbrain.check(ctx).startswith("split brain in web (generation 4)")


def test_a_node_being_promoted_counts_as_serving(tmp_path):
    # ATTACH runs before the worker saves the new role and generation
    ctx = ctx_for(tmp_path)
    save(ctx, role="BACKUP", generation=1)
    peer_view(ctx.config.paths.run_dir, {"generation": 2, "serving": True})
    assert splitbrain.check(ctx) is not None


def test_the_peers_mark_refuses_here_too_until_we_resolved_it(tmp_path):
    ctx = ctx_for(tmp_path)
    save(ctx, role="MASTER", generation=3)
    peer_view(ctx.config.paths.run_dir, {"generation": 2, "split_brain": 2})
    assert splitbrain.check(ctx).startswith("split brain in web (generation 2, marked by serverB)")
    assert load(ctx).split_brain_generation is None       # the peer's mark is not copied
    save(ctx, role="MASTER", generation=4, split_brain_resolved=2)
    assert splitbrain.check(ctx) is None


def test_the_mark_is_cleared_when_the_peer_resolved_keeping_its_data(tmp_path):
    ctx = ctx_for(tmp_path, "serverB")
    save(ctx, role="MASTER", generation=2, split_brain_generation=2)
    peer_view(ctx.config.paths.run_dir, {"generation": 3}, node="serverB", peer="serverA")
    assert splitbrain.check(ctx) is not None               # a higher generation alone is no resolve
    peer_view(ctx.config.paths.run_dir, {"generation": 3, "split_brain_resolved": 2}, node="serverB",
              peer="serverA")
    assert splitbrain.check(ctx) is None
    assert load(ctx).split_brain_generation is None
    assert journaled(ctx, "split-brain-cleared")[0]["resolved_by"] == "serverA"
    assert "serverA resolved the split brain of generation 2" in ctx.log.at("warning")[0]


def test_without_a_lease_witness_there_is_nothing_to_compare(tmp_path):
    from simworld import EXAMPLE
    config = config_for(tmp_path, text=EXAMPLE)
    ctx = Context(config, config.groups["web"], "serverA", None, Log())
    save(ctx, role="MASTER", generation=2, split_brain_generation=2)   # left from a lease witness
    assert splitbrain.check(ctx) is None and splitbrain.peer_unknown(ctx) is None
    assert splitbrain.describe(ctx) is None


@pytest.mark.parametrize("view,why", [
    (None, "no heartbeat view (is carpha heartbeat running?)"),
    (dict(status={"generation": 1}, updated_ago=60), "the heartbeat's view is out of date"),
    (dict(status={"generation": 1}, peer_error="no record /w/serverB.json"),
     "serverB's witness record: no record /w/serverB.json"),
    (dict(status=None), "serverB's witness record does not list web"),
])
def test_the_peers_disk_waits_while_its_generation_is_unknown(tmp_path, view, why):
    ctx = ctx_for(tmp_path)
    if view is not None:
        peer_view(ctx.config.paths.run_dir, **view)
    assert splitbrain.peer_unknown(ctx) == (
        f"web: not attaching serverB's disk while its generation is unknown ({why}): had it promoted on "
        f"its own meanwhile, its writes would be overwritten unseen")
    peer_view(ctx.config.paths.run_dir, {"generation": 1})
    assert splitbrain.peer_unknown(ctx) is None


def test_status_shows_the_split_brain_line(tmp_path):
    from carpha.ops.statusview import format_status
    ctx = ctx_for(tmp_path, "serverB")
    save(ctx, role="BACKUP", generation=2)
    peer_view(ctx.config.paths.run_dir, {"generation": 2, "serving": True, "split_brain": 2},
              node="serverB", peer="serverA")
    said = splitbrain.describe(ctx)
    assert said.startswith("generation 2: serverB and serverA both promoted web without seeing each other")
    assert load(ctx).split_brain_generation is None       # status only reads
    group = {"carp": "BACKUP", "addresses": [], "mirror": None, "mounts": [], "jails": [],
             "promotion": "refused: x", "split_brain": said}
    assert f"    split brain: {said}" in format_status("serverB", {"web": group}).splitlines()
    assert "split brain" not in format_status("serverB", {"web": {**group, "split_brain": None}})


# --- resolve on the simulated cluster -------------------------------------------------------


@pytest.fixture
def lease_world(tmp_path):
    """The world fixture with the example's lease witness (no heartbeat
    runs: tests write the view the heartbeat would publish)."""
    w = World(tmp_path, EXAMPLE_WITH_WITNESS)
    apply(storage.DEMOTE, w.ctx("serverB"))
    yield w
    w.close()


def set_state(w, node, **fields):
    state.save(w.configs[node].paths.state_dir, GroupState("web", **fields))


def view_on(w, node, status, **options):
    peer = "serverB" if node == "serverA" else "serverA"
    peer_view(w.configs[node].paths.run_dir, status, node=node, peer=peer, **options)


def test_resolve_must_run_on_the_kept_node_of_the_group(lease_world):
    for keep, why in (("serverC", "serverC is not one of group web's nodes (serverA, serverB)"),
                      ("serverA", "run it on serverA, whose data is kept (this is serverB)")):
        with pytest.raises(CarphaError, match=r"resolve: " + why.replace("(", r"\(").replace(")", r"\)")) as info:
            splitbrain.resolve(lease_world.ctx("serverB"), keep)
        assert info.value.exit_code == 64


def test_resolve_with_nothing_to_resolve_changes_nothing_and_exits_0(lease_world):
    set_state(lease_world, "serverA", role="MASTER", generation=3)
    view_on(lease_world, "serverA", {"generation": 2})
    code, said = splitbrain.resolve(lease_world.ctx(), "serverA")
    assert code == 0 and said == "web: nothing to resolve: no split brain between serverA and serverB"
    assert state.load(lease_world.configs["serverA"].paths.state_dir, "web").generation == 3


def test_resolve_needs_the_peers_generation(lease_world):
    set_state(lease_world, "serverA", role="MASTER", generation=2, split_brain_generation=2)
    with pytest.raises(CarphaError, match="serverB's generation must be known to resolve: no heartbeat view") as info:
        splitbrain.resolve(lease_world.ctx(), "serverA")
    assert info.value.exit_code == 69


def test_resolve_refuses_on_a_node_that_does_not_serve_and_says_how_to_move_the_group(lease_world):
    set_state(lease_world, "serverB", role="BACKUP", generation=2)
    view_on(lease_world, "serverB", {"generation": 2, "serving": True, "split_brain": 2})
    with pytest.raises(CarphaError) as info:
        splitbrain.resolve(lease_world.ctx("serverB"), "serverB")
    assert info.value.exit_code == 75
    assert str(info.value) == (
        "resolve: serverB does not serve web (CARP BACKUP, last role applied BACKUP): move the group here "
        "first (`carpha release web` on serverA, then `carpha takeover web` here), or keep serverA's data "
        "instead")
    # CARP MASTER alone is not serving either (the worker has not applied it)
    set_state(lease_world, "serverA", role="BACKUP", generation=2, split_brain_generation=2)
    view_on(lease_world, "serverA", {"generation": 2})
    with pytest.raises(CarphaError, match="serverA does not serve web \\(CARP MASTER, last role applied BACKUP\\)"):
        splitbrain.resolve(lease_world.ctx(), "serverA")


def test_resolve_refuses_while_the_peer_still_serves(lease_world):
    transitions.run(lease_world.ctx(), transitions.MASTER)
    set_state(lease_world, "serverA", role="MASTER", generation=2, split_brain_generation=2)
    view_on(lease_world, "serverA", {"generation": 3, "serving": True})
    with pytest.raises(CarphaError, match="resolve: serverB still serves web: `carpha release web` on serverB first"):
        splitbrain.resolve(lease_world.ctx(), "serverA")


def test_resolve_keeps_this_nodes_data_and_lets_the_resync_proceed(lease_world):
    w = lease_world
    a_state = w.configs["serverA"].paths.state_dir
    set_state(w, "serverA", role="MASTER", generation=2)
    view_on(w, "serverA", {"generation": 2})
    ctx = w.ctx()
    transitions.run(ctx, transitions.MASTER)               # ATTACH refused: best effort, logged
    assert not any(argv[0] == "ggatec" for argv in ctx.runner.changes())
    assert state.load(a_state, "web").split_brain_generation == 2
    with pytest.raises(Conflict, match="split brain in web"):
        apply(replica.ATTACH, w.ctx())
    ctx = w.ctx()
    code, said = splitbrain.resolve(ctx, "serverA")
    assert code == 0 and said == (
        "web: split brain of generation 2 resolved by the administrator: serverA's data is kept (now "
        "generation 3); serverB's writes since the split are overwritten when its disk is resynchronised "
        "from serverA")
    saved = state.load(a_state, "web")
    assert (saved.generation, saved.split_brain_generation, saved.split_brain_resolved, saved.resync_owed) == (
        3, None, 2, True)
    record = [r for r in journal.read(a_state, BINDING) if r.get("kind") == "resolve"][0]
    assert (record["keep"], record["split_brain_generation"], record["generation"]) == ("serverA", 2, 3)
    status = witness_view.group_statuses(a_state, ["web"])["web"]
    assert (status.split_brain, status.split_brain_resolved) == (None, 2)
    # serverB has not said it blanked its diverged disk: not attached yet
    with pytest.raises(ActionFailed, match="until serverB says it blanked it"):
        apply(replica.ATTACH, w.ctx())
    view_on(w, "serverA", {"generation": 2, "disk_cleared_for": 2})
    outcome = apply(replica.ATTACH, w.ctx())
    assert "gmirror insert -p 0 data ggate0" in outcome.steps
    assert state.load(a_state, "web").resync_owed is False


# --- the trap the refusal avoids --------------------------------------------------------------


def diverge(w):
    """A serves with B's half in sync; A dies, B promotes alone and writes;
    B dies, A comes back, promotes alone and writes; B returns as a standby.
    Both halves went through the same steps (forced launch, forget): their
    genid/syncid are equal, and each holds a write the other lacks."""
    a, b = w.cluster["serverA"], w.cluster["serverB"]
    view_on(w, "serverA", {"generation": 0})                # B's record, read just now
    transitions.run(w.ctx(), transitions.MASTER)
    w.cluster.advance(60)
    assert a.mirrors["data"].status() == "COMPLETE"
    w.cluster.crash("serverA")
    w.cluster.advance(5)
    transitions.run(w.ctx("serverB"), transitions.MASTER)
    assert w.cluster.write("serverB", "www")
    only_b = set(b.disks["ada1"].blocks) - set(a.disks["ada1"].blocks)
    w.cluster.advance(6)                                  # idle: B's disk is clean when it dies
    w.cluster.crash("serverB")
    w.cluster.boot("serverA")
    w.cluster.advance(5)
    transitions.run(w.ctx(), transitions.MASTER)          # the view is old: the peer's disk waits
    assert w.cluster.write("serverA", "www")
    only_a = set(a.disks["ada1"].blocks) - set(b.disks["ada1"].blocks)
    w.cluster.boot("serverB")
    w.cluster.advance(5)
    apply(storage.DEMOTE, w.ctx("serverB"))               # B exports its diverged disk
    assert only_a and only_b
    set_state(w, "serverA", role="MASTER", generation=2)
    set_state(w, "serverB", role="BACKUP", generation=2)
    view_on(w, "serverA", {"generation": 2})
    return only_a, only_b


def test_the_trap_a_diverged_half_with_equal_metadata_joins_the_mirror_active_with_no_resync(lease_world):
    w = lease_world
    diverge(w)
    a = w.cluster["serverA"]
    ctx = w.ctx()
    ctx.change(("ggatec", "create", "-o", "rw", "-p", "3080", "-u", "0", "192.0.2.2", "/dev/ada1"))
    # Same genid and syncid, clean: ACTIVE at once, no copy, whatever the
    # balance or md_all (g_mirror.c @d22ff249, 13.x; reference 4.3).
    assert sorted((c.prov, c.state) for c in a.mirrors["data"].components) == [("ada1", "ACTIVE"),
                                                                               ("ggate0", "ACTIVE")]


def test_a_split_brain_never_creates_the_ggate_and_resolve_copies_the_peers_half_in_full(lease_world):
    w = lease_world
    only_a, only_b = diverge(w)
    a, b = w.cluster["serverA"], w.cluster["serverB"]
    ctx = w.ctx()
    outcomes = transitions.run(ctx, transitions.MASTER)
    assert outcomes[-1].steps[0].startswith("pending: web: split brain in web (generation 2)")
    assert not any(argv[0] == "ggatec" for argv in ctx.runner.changes())
    assert [c.prov for c in a.mirrors["data"].components] == ["ada1"]
    assert only_b <= set(b.disks["ada1"].blocks)           # nothing overwritten yet
    splitbrain.resolve(w.ctx(), "serverA")
    with pytest.raises(ActionFailed, match="blanked"):
        apply(replica.ATTACH, w.ctx())                      # B has not blanked its disk yet
    # B reads A's record: A resolved the split brain of generation 2 (B's own)
    view_on(w, "serverB", {"generation": 3, "serving": True, "split_brain_resolved": 2})
    ctx_b = w.ctx("serverB")
    apply(storage.DEMOTE, ctx_b)
    assert ["pkill", "-f", "-x"] == list(ctx_b.runner.changes()[0][:3])    # ggated let go of the disk first
    assert any(argv[:2] == ("gmirror", "clear") for argv in ctx_b.runner.changes())
    assert b.disks["ada1"].md is None                                     # blank: never tasted in
    assert state.load(w.configs["serverB"].paths.state_dir, "web").disk_cleared_for == 2
    assert apply(storage.DEMOTE, w.ctx("serverB")).steps == []            # once
    view_on(w, "serverA", {"generation": 2, "disk_cleared_for": 2})
    ctx = w.ctx()
    apply(replica.ATTACH, ctx)
    ran = [" ".join(argv) for argv in ctx.runner.changes()]
    assert ran[:2] == ["ggatec create -o rw -p 3080 -u 0 192.0.2.2 /dev/ada1",
                       "gmirror insert -p 0 data ggate0"]
    assert state.load(w.configs["serverA"].paths.state_dir, "web").resync_owed is False
    assert dict((c.prov, c.state) for c in a.mirrors["data"].components)["ggate0"] == "SYNCHRONIZING"
    assert w.cluster.read("serverA", "www") is a.disks["ada1"]             # never from the diverged half
    w.cluster.advance(60)
    apply(replica.ATTACH, w.ctx())
    assert a.mirrors["data"].status() == "COMPLETE"
    assert set(b.disks["ada1"].blocks) == set(a.disks["ada1"].blocks)   # B's half is A's, in full
    assert only_a <= set(b.disks["ada1"].blocks) and not (only_b & set(b.disks["ada1"].blocks))
    assert apply(replica.ATTACH, w.ctx()).steps == []       # no second rebuild


def test_a_serving_peer_counts_only_while_its_record_keeps_advancing(tmp_path):
    """freezegun: the same view, read as time passes. While the peer's
    record advanced within takeover_after (30 s) its 'serving' is a live
    double promotion; past that it is the last word of a dead peer."""
    from freezegun import freeze_time
    with freeze_time("2026-11-25 03:00:00") as frozen:
        ctx = ctx_for(tmp_path)
        save(ctx, role="MASTER", generation=3)
        peer_view(ctx.config.paths.run_dir, {"generation": 4, "serving": True}, silent_for=25)
        status, fresh, _ = splitbrain.reading(ctx, witness_view.load_view(ctx.config.paths.run_dir), clock.monotonic())
        assert fresh and splitbrain.detect(load(ctx), status, fresh) == 4
        frozen.tick(5.5)                     # 30.5 s without the record advancing; the view is 5.5 s old
        status, fresh, _ = splitbrain.reading(ctx, witness_view.load_view(ctx.config.paths.run_dir), clock.monotonic())
        assert status is not None and not fresh and splitbrain.detect(load(ctx), status, fresh) is None
