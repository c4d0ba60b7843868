"""Per-group state kept across runs and reboots (under the state dir, not
/var/run, which is emptied at boot): the last role applied, the generation
counter and the last journal event handled. JSON with a schema version,
written atomically."""

import json
import os
from dataclasses import asdict, dataclass, replace

from .. import clock
from ..exits import DATAERR, CarphaError
from .files import ensure_private_dir, read_text, write_atomic

SCHEMA = 1


class StateError(CarphaError):
    exit_code = DATAERR


@dataclass(frozen=True)
class GroupState:
    group: str
    role: "str | None" = None        # last role fully applied: MASTER or BACKUP
    generation: int = 0              # bumped on every promotion (claimed before it serves)
    served_generation: int = 0       # the last generation served here (reached its first address)
    last_event_seq: int = 0          # last journal event the worker has handled
    saved_advskew: "int | None" = None   # rc.conf's advskew while `carpha release` raised it
    announced_for: int = 0           # the promotion (generation) whose addresses were announced
    announce_owed: bool = False      # addresses were claimed and not announced yet
    released: bool = False           # let go on purpose (release/switchover) until promoted again
    # As the serving node last saw the peer's half of the mirror:
    replica_in_sync: bool = False
    out_of_sync_since_generation: "int | None" = None
    # The peer's half joined the running mirror here as a copy from this
    # node (seen SYNCHRONIZING, or inserted), or while it lacked nothing;
    # forgotten when it leaves. Tasted in ACTIVE while out of sync it is not
    # trusted (carpha.actions.replica): its syncid was bumped apart from ours.
    replica_joined: bool = False
    # Split brain (carpha.safety.splitbrain): the generation both nodes promoted to
    # independently, until `carpha resolve`; the highest one this node
    # resolved (as the node whose data is kept); and whether the peer's half
    # must still be rebuilt in full when it is attached again.
    split_brain_generation: "int | None" = None
    split_brain_resolved: "int | None" = None
    resync_owed: bool = False
    # As the node whose data was discarded: the resolved split brain for
    # which this node blanked its disk (`gmirror clear`) before exporting it.
    disk_cleared_for: "int | None" = None
    updated: float = 0.0

    def with_changes(self, **changes) -> "GroupState":
        return replace(self, updated=clock.now(), **changes)


def path_for(state_dir: str, group: str) -> str:
    return os.path.join(state_dir, f"{group}.state.json")


def load(state_dir: str, group: str) -> GroupState:
    path = path_for(state_dir, group)
    text = read_text(path)
    if text is None:
        return GroupState(group)
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise StateError(f"{path}: unreadable state: not a JSON object")
        if data.get("schema") != SCHEMA:
            raise StateError(f"{path}: schema {data.get('schema')!r} is not {SCHEMA}")
        data.pop("schema")
        return GroupState(**data)
    except (ValueError, TypeError) as error:
        raise StateError(f"{path}: unreadable state: {error}") from None


def update(state_dir: str, group: str, **changes) -> None:
    """Read-modify-write of the group's state: never save an older snapshot
    over what the steps in between recorded."""
    save(state_dir, load(state_dir, group).with_changes(**changes))


def save(state_dir: str, state: GroupState) -> None:
    ensure_private_dir(state_dir)
    data = {"schema": SCHEMA, **asdict(state)}
    write_atomic(path_for(state_dir, state.group), json.dumps(data, sort_keys=True) + "\n")


BOOT_FILE = "boot-id"


def note_boot(state_dir: str, groups, boot: str) -> list:
    """The first call in a new boot forgets every role applied in an earlier
    one: after a reboot nothing runs, so a role saved as MASTER is no longer
    true, and the next promotion must be a promotion (every guard, a new
    generation). Returns the groups whose role was forgotten."""
    ensure_private_dir(state_dir)
    path = os.path.join(state_dir, BOOT_FILE)
    if (read_text(path) or "").strip() == boot:
        return []
    forgotten = []
    for group in groups:
        saved = load(state_dir, group)
        if saved.role is not None:
            save(state_dir, saved.with_changes(role=None))
            forgotten.append(group)
    write_atomic(path, boot + "\n")
    return forgotten
