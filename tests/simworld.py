"""A small simulated site for action tests: serverA and serverB built from
the example config on carpha.sim, CARP already elected (serverA MASTER)."""

import logging
import os

from carpha import clock
from carpha.actions.base import Context
from carpha.host.runner import Runner
from carpha.sim.clock import SimClock
from carpha.sim.cluster import Cluster
from carpha.rehearsal.nodes import build_nodes
from conftest import ROOT

EXAMPLE_WITH_WITNESS = open(os.path.join(ROOT, "examples", "three-servers.yaml")).read()
# These tests drive the worker with no heartbeat running: no witness here
# (the witness guard has tests of its own).
EXAMPLE = EXAMPLE_WITH_WITNESS.replace(
    "witness:                                # absent: kind none (two masters are possible)\n"
    "  kind: lease ", "witness:\n  kind: none\n  # kind: lease").replace(
    "  node: serverC                         # required unless kind none; not in any group\n", "").replace(
    "  path: /mnt/carpha-witness             # lease only, required: the share mounted from serverC\n", "")
LOG = logging.getLogger("carpha.tests")


class Killed(BaseException):
    """The worker process dies here (not an error carpha could catch)."""


class World:
    def __init__(self, workdir, text=EXAMPLE):
        self.cluster = Cluster(SimClock())
        self.previous = clock.use(self.cluster.clock)
        self.configs = build_nodes(text, "carpha.yaml", str(workdir), self.cluster)
        self.cluster.advance(5)                       # CARP elects serverA
        assert self.cluster["serverA"].carp_state(1, "em0") == "MASTER"

    def ctx(self, node="serverA", *, dry_run=False, kill_at=None, fail=None):
        host = self.cluster[node]
        state = {"changes": 0}

        class Probe(Runner):
            def change(self, argv, *, timeout, check=True):
                if not self.dry_run and kill_at is not None and state["changes"] == kill_at:
                    raise Killed(tuple(argv))
                state["changes"] += 1
                return super().change(argv, timeout=timeout, check=check)

        def execute(argv, timeout, env):
            if fail is not None and tuple(argv) in fail:
                return 1, "", f"{argv[0]}: simulated failure\n"
            return host.execute(argv, timeout, env)

        config = self.configs[node]
        group = config.groups["web"]
        return Context(config, group, node, Probe(executor=execute, dry_run=dry_run, echo=lambda _: None), LOG)

    def snapshot(self, node="serverA"):
        host = self.cluster[node]
        return {
            "jails": sorted(host.jails),
            "mounts": sorted((m["device"], m["mountpoint"]) for m in host.mounts),
            "addresses": sorted((i.name, a.addr, a.vhid) for i in host.interfaces.values() for a in i.addrs),
            "mirrors": {n: (m.status(), sorted(c.prov for c in m.components)) for n, m in host.mirrors.items()},
            "processes": sorted(p["kind"] for p in host.processes.values()),
            "modules": sorted(host.modules),
        }

    def close(self):
        clock.use(self.previous)


def peer_records_our_half(run_dir, in_sync: bool) -> None:
    """serverA's heartbeat view: serverB is alive and serves web with
    serverA's half of the mirror recorded in sync or not."""
    from carpha.safety import witness
    now = clock.monotonic()
    witness.save_view(run_dir, witness.View(
        node="serverA", peer="serverB", directory="/w", pid=1, started=now - 100, updated=now, own_ok=True,
        own_error=None, own_written_at=now, peer_counter=9, peer_changed_at=now - 0.5, peer_error=None,
        peer_reachable=True, peer_reached_at=now,
        peer_groups={"web": {"serving": True, "replica_in_sync": in_sync, "generation": 2, "released": False}}))


def view_with(tmp_run_dir, peer_groups, *, peer_silent_for=0.5, own_ok=True, now=None, peer_reachable=True):
    """serverB's heartbeat view: serverA's record with `peer_groups`, silent
    for `peer_silent_for` s; our own record renewing unless not own_ok;
    serverA answering ping unless not peer_reachable."""
    from carpha.safety import witness
    now = clock.monotonic() if now is None else now
    view = witness.View(node="serverB", peer="serverA", directory="/w", pid=1, started=now - 100,
                        updated=now, own_ok=own_ok, own_error=None if own_ok else "EIO",
                        own_written_at=now, peer_counter=9, peer_changed_at=now - peer_silent_for,
                        peer_error=None, peer_reachable=peer_reachable,
                        peer_reached_at=now if peer_reachable else now - peer_silent_for, peer_groups=peer_groups)
    witness.save_view(tmp_run_dir, view)
