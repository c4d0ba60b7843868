"""Recording the state of the peer's half: the serving node notes in its
state whether the peer's half of the mirror is in sync, and since which
generation it is not, for the heartbeat to publish (`record_replica`)."""

from __future__ import annotations

from ..store import state
from ..exits import CarphaError

def record_replica(ctx) -> None:
    """The serving node notes whether the peer's half is in sync (mirror
    COMPLETE with the peer's ggate ACTIVE) and since which generation it is
    not; the heartbeat publishes it, so a standby knows when its own disk is
    stale. Every worker pass (and cron, each minute) refreshes it."""
    from ..actions.replica import replica_in_sync
    from ..host.observe import get_mirrors, get_mounts
    if ctx.group.storage.kind != "gmirror-ggate":
        return
    try:
        mirrors = get_mirrors(ctx)
        if (mirrors or {}).get(ctx.group.storage.mirror) is None:
            return      # nothing served here: nothing to say about the peer's half
        devices = {fs.device for fs in ctx.group.filesystems}
        if devices and not any(m["device"] in devices for m in get_mounts(ctx)):
            # Assembled but never mounted (a promotion abandoned early):
            # nothing was written here that the peer's half could lack.
            return
        if _served_nothing_yet(ctx):
            # Mounted, but abandoned before any jail started or address was
            # claimed: no client wrote here (fsck's journal replay repairs
            # this half; it is no write the peer's half lacks).
            return
        in_sync, _ = replica_in_sync(ctx, mirrors)
        saved = state.load(ctx.config.paths.state_dir, ctx.group.name)
        since = None if in_sync else (saved.out_of_sync_since_generation
                                      if saved.out_of_sync_since_generation is not None
                                      else max(saved.generation, 1))
        if (saved.replica_in_sync, saved.out_of_sync_since_generation) != (in_sync, since):
            state.save(ctx.config.paths.state_dir,
                       saved.with_changes(replica_in_sync=in_sync, out_of_sync_since_generation=since))
    except (CarphaError, OSError) as error:
        ctx.log.warning(f"{ctx.group.name}: cannot record the replica's state: {error}")


def _served_nothing_yet(ctx) -> bool:
    """Neither a jail nor a service address of the group is up here."""
    from ..host.observe import find_address, get_interfaces, get_running_jails
    if set(ctx.group.jails) & get_running_jails(ctx):
        return False
    interfaces = get_interfaces(ctx)
    return not any(find_address(interfaces, a.ip) for a in ctx.group.addresses)
