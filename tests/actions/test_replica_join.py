"""Trusting the peer's half as it joins the mirror (carpha.actions.replica):
the kernel makes a clean half whose genid and syncid equal the mirror's
ACTIVE without a copy, so a peer disk that was written apart from ours
(soak seed 7: an abandoned promotion's fsck and mount bumped its syncid
once, as our first write bumped ours) would pass as in sync."""

import dataclasses
import logging
import os

from carpha.store import state
from carpha.actions import replica
from carpha.actions.base import Context
from carpha.config import loads
from carpha.host.runner import Runner
from conftest import ROOT

EXAMPLE = open(os.path.join(ROOT, "examples", "three-servers.yaml")).read()


def ctx_in(tmp_path, dry_run=False):
    config = loads(EXAMPLE, "carpha.yaml", node="serverA")
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, state_dir=str(tmp_path)))
    return Context(config, config.groups["web"], "serverA", Runner(executor=None, dry_run=dry_run),
                   logging.getLogger("test"))


def mirror(remote_state):
    components = [("ada1", "ACTIVE", 1)] + ([("ggate0", remote_state, 0)] if remote_state else [])
    return {"name": "data", "state": "COMPLETE" if remote_state == "ACTIVE" else "DEGRADED", "genid": 0,
            "syncid": 3, "balance": "prefer", "component_count": len(components),
            "components": [{"name": n, "state": s, "priority": p, "genid": 0, "syncid": 3, "flags": []}
                           for n, s, p in components]}


def saved(tmp_path, **fields):
    state.save(str(tmp_path), state.GroupState("web", role="MASTER", generation=52, **fields))


def judge(ctx, remote_state):
    return replica._judge_join(ctx, replica._component(mirror(remote_state), "ggate0"))


def argvs(steps):
    return [s.argv for s in steps]


def test_a_half_tasted_active_while_it_lacks_our_writes_is_taken_out_and_copied_in_full(tmp_path):
    saved(tmp_path, out_of_sync_since_generation=52)
    ctx = ctx_in(tmp_path)
    why = judge(ctx, "ACTIVE")
    assert why and "lacks writes since generation 52" in why
    seen = {"mirror": mirror("ACTIVE"), "ggate": True, "dump": None, "tasted_stale": why}
    assert argvs(replica.plan_attach(ctx, seen)) == [
        ("gmirror", "remove", "data", "ggate0"), ("gmirror", "insert", "-p", "0", "data", "ggate0")]
    # Nor is it published or recorded in sync meanwhile.
    in_sync, reason = replica.replica_in_sync(ctx, {"data": mirror("ACTIVE")})
    assert not in_sync and "rebuilt in full" in reason


def test_after_the_insert_the_half_is_trusted_however_fast_its_copy_ends(tmp_path):
    saved(tmp_path, out_of_sync_since_generation=52)
    ctx = ctx_in(tmp_path)
    seen = {"mirror": mirror("ACTIVE"), "ggate": True, "dump": None, "tasted_stale": judge(ctx, "ACTIVE")}
    replica.after_attach(ctx, seen)
    assert state.load(str(tmp_path), "web").replica_joined
    assert judge(ctx, "ACTIVE") is None
    assert replica.replica_in_sync(ctx, {"data": mirror("ACTIVE")}) == (True, "")


def test_a_half_seen_synchronizing_is_a_copy_from_us_and_stays_trusted_once_active(tmp_path):
    saved(tmp_path, out_of_sync_since_generation=52)
    ctx = ctx_in(tmp_path)
    assert judge(ctx, "SYNCHRONIZING") is None
    assert judge(ctx, "ACTIVE") is None
    assert replica.replica_in_sync(ctx, {"data": mirror("ACTIVE")}) == (True, "")


def test_a_half_that_leaves_is_judged_again_when_it_returns(tmp_path):
    saved(tmp_path, out_of_sync_since_generation=52, replica_joined=True)
    ctx = ctx_in(tmp_path)
    assert judge(ctx, None) is None
    assert not state.load(str(tmp_path), "web").replica_joined
    assert judge(ctx, "ACTIVE") is not None


def test_a_half_active_while_our_record_says_it_lacks_nothing_is_trusted(tmp_path):
    saved(tmp_path, replica_in_sync=True)
    ctx = ctx_in(tmp_path)
    assert judge(ctx, "ACTIVE") is None
    assert state.load(str(tmp_path), "web").replica_joined


def test_a_dry_run_judges_but_records_nothing(tmp_path):
    saved(tmp_path, out_of_sync_since_generation=52, replica_joined=True)
    judge(ctx_in(tmp_path, dry_run=True), None)
    assert state.load(str(tmp_path), "web").replica_joined
