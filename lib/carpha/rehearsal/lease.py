"""The witness lease in a rehearsal: the share both nodes reach (each
through a path of its own, so a scenario can cut, split or stall it), each
node's heartbeat as `carpha heartbeat` runs it (renew, publish the view,
drop a stalled peer half, re-attach it, fence), and what a node published
there. A part of the Rehearsal (carpha.rehearsal.harness), which holds the
state."""

from __future__ import annotations

import dataclasses
import os
import threading

from ..engine import worker
from ..exits import CarphaError


class LeaseMixin:
    """The Rehearsal's methods about the witness lease."""

    def _setup_witness(self) -> None:
        """A lease share both nodes reach, each through its own path (a
        symlink the scenario can break to cut that node off the witness)."""
        witness_config = next(iter(self.configs.values())).witness
        if witness_config.kind != "lease":
            return
        share = os.path.join(self.workdir, "witness-share")
        os.makedirs(share, mode=0o755)
        for node, config in list(self.configs.items()):
            access = os.path.join(self.workdir, node, "mnt-witness")
            os.makedirs(os.path.dirname(access), exist_ok=True)
            os.symlink(share, access)
            self.configs[node] = dataclasses.replace(
                config, witness=dataclasses.replace(config.witness, path=access))
            self.start_heartbeat(node)

    def start_heartbeat(self, node: str) -> None:
        from ..engine import heartbeat
        from ..safety import witness
        config = self.configs[node]
        names = [g.name for g in witness.leased_groups(config, node)]
        if config.witness.kind != "lease" or not names:
            return          # serverC of a NAS group: no lease of its own
        peer = witness.peer_of(config, node)
        probe = self.probes[node] = heartbeat.replica_probe_for(config, node, self.runner(node), self.log, 0.25)
        self.heartbeats[node] = witness.Heartbeat(
            config.witness.path, node, peer, config.paths.state_dir,
            groups=lambda: witness.group_statuses(config.paths.state_dir, names, probe),
            probe_peer=lambda timeout: self.cluster[peer].up and self.cluster.link_ok(node, peer),
            io_timeout=self.io_timeout(node), require_mount=False)
        share_io = self.heartbeats[node]._share_io

        def hanging_share_io(statuses, progress, share_io=share_io):
            self.witness_answers.wait()          # a hard NFS mount: the call waits, then completes
            share_io(statuses, progress)
        self.heartbeats[node]._share_io = hanging_share_io
        if self.rig is not None:
            self.rig.start_petter(node)
        # carpha_heartbeat starts whenever rc gets to it: its own phase.
        self.next_beat[node] = self.sim_clock.monotonic() + self.rng.uniform(0, config.witness.interval_seconds)

    def io_timeout(self, node: str) -> float:
        """A beat's bound on the share and the ping (heartbeat.main_loop: half an interval)."""
        return min(1.0, self.configs[node].witness.interval_seconds / 2)

    def _reach_witness_through(self, node: str, share: str) -> None:
        """What `node`'s witness path leads to: a directory under workdir."""
        access = self.configs[node].witness.path
        os.remove(access)
        os.symlink(os.path.join(self.workdir, share), access)

    # -- faults on the share ------------------------------------------------------
    def cut_witness(self, node: str) -> None:
        self._reach_witness_through(node, "no-such-share")

    def split_witness(self, node: str) -> None:
        """`node` mounts an empty share of its own (say, the NFS export
        remounted from somewhere else): it renews its record there, so it
        never fences, and sees no record of its peer."""
        os.makedirs(os.path.join(self.workdir, f"witness-split-{node}"), mode=0o755, exist_ok=True)
        self._reach_witness_through(node, f"witness-split-{node}")

    def stall_witness(self) -> threading.Event:
        """The share stops answering: every call on it waits (a hard NFS
        mount) until the returned event is set."""
        self.witness_answers.clear()
        return self.witness_answers

    def restore_witness(self, node: str) -> None:
        self._reach_witness_through(node, "witness-share")

    # -- the heartbeat's beats ----------------------------------------------------
    def beat_due(self) -> None:
        """Each node's heartbeat, as `carpha heartbeat` runs it: renew, publish
        the view, and fence the groups must_fence condemns; each beat a
        process of its own."""
        now = self.sim_clock.monotonic()
        for node in self.heartbeats:
            if (not self.cluster[node].up or now < self.next_beat[node] or self.frozen(node)
                    or self.sim_clock.running(f"{node}:beat")):
                continue
            self.next_beat[node] = now + self.configs[node].witness.interval_seconds
            self.spawn(node, "beat", lambda node=node: self._beat(node))

    def _beat(self, node: str) -> None:
        from ..engine import fence, heartbeat as daemon
        from ..safety import replica_drop, witness
        heartbeat = self.heartbeats[node]
        config = self.configs[node]
        beat = heartbeat.beat()
        view = heartbeat.view()
        witness.save_view(config.paths.run_dir, view)
        halves = replica_drop.to_drop(self.probes[node].stalled, heartbeat.statuses, beat.own_ok)
        if halves:
            self.record(node, "heartbeat", f"{', '.join(halves)}: peer's half stalled, recorded "
                                           f"out of date, dropped")
            replica_drop.drop(config, halves, self.runner(node), self.log, 0.5)
        retry = daemon.reattach_due(config, self.probes[node], heartbeat.statuses, beat.peer_reachable,
                                       view.updated, self.log)
        if retry:                  # as `carpha heartbeat` does: a detached worker
            self.record(node, "heartbeat", f"{', '.join(retry)}: attaching the peer's half again")
            self.run_worker(node, "reconnect")
        doomed = witness.condemned(heartbeat.statuses, view, view.updated, config.witness.fence_after_seconds)
        if self.rig is not None:
            doomed += [d for d in self.rig.unusable(node) if d[0] not in dict(doomed)]
        if doomed:
            groups, reason = [group for group, _ in doomed], doomed[0][1]
            self.record(node, "fence", f"{', '.join(groups)}: {reason}")
            runner = self.runner(node)
            report = fence.fence(config, node, groups, runner, self.log, reason=reason,
                                 boot=worker.boot_id(runner, config))
            self.fences.append({"node": node, "groups": groups, "at": self.sim_clock.now(),
                                "seconds": report.seconds, "over_budget": report.over_budget})

    # -- what a node published ----------------------------------------------------
    def published(self, node: str) -> dict:
        """The group's status in `node`'s witness record ({} if none)."""
        from ..safety import witness
        try:
            record = witness.read_record(os.path.join(self.workdir, "witness-share"), node)
        except CarphaError:
            return {}
        status = record.groups.get(self.group.name) if record else None
        return dataclasses.asdict(status) if status else {}
