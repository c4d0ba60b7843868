"""The witness record: the format of `<path>/<node>.json` on the witness
share, and its parsing.

Contract:
- A record holds a schema version, the node, `counter` (each write is the
  previous + 1), per-group status (`GroupStatus`) and `written_at` (wall
  clock, for humans only: no decision ever reads it).
- `parse_record` validates a record's text and raises RecordError naming
  the source and what is wrong; unknown keys are ignored (a newer writer may
  add some). The files themselves are carpha.safety.witness_files.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, Optional

from ..exits import DATAERR, CarphaError

SCHEMA = 1
MAX_RECORD_BYTES = 65536


class RecordError(CarphaError):
    """A record that cannot be used (not JSON, wrong schema, wrong types)."""
    exit_code = DATAERR


@dataclass(frozen=True)
class GroupStatus:
    serving: bool
    generation: int
    replica_in_sync: bool
    out_of_sync_since_generation: Optional[int] = None
    released: bool = False          # let go on purpose (carpha release / switchover)
    refusing: bool = False          # CARP handed it the group and it refused (demotion held)
    served_generation: Optional[int] = None      # the last generation it served (None: an older writer)
    split_brain: Optional[int] = None            # carpha.safety.splitbrain: the generation marked
    split_brain_resolved: Optional[int] = None   # the highest split brain this node resolved
    disk_cleared_for: Optional[int] = None       # the resolved split brain this node blanked its disk for


@dataclass(frozen=True)
class Record:
    node: str
    counter: int
    groups: Dict[str, GroupStatus] = field(default_factory=dict)
    written_at: float = 0.0             # wall clock, for humans only


def record_path(directory: str, node: str) -> str:
    # Node names are validated by config (no '/', no leading '.'); check
    # again because the name becomes a path on a shared directory.
    if not node or "/" in node or node.startswith("."):
        raise ValueError(f"{node!r} is not a node name")
    return os.path.join(directory, f"{node}.json")


def encode_record(record: Record) -> str:
    data = {"schema": SCHEMA, **asdict(record)}
    return json.dumps(data, sort_keys=True) + "\n"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def parse_record(text: str, source: str, node: Optional[str] = None) -> Record:
    """Validate a record's text; RecordError names `source` and what is wrong.
    Unknown keys are ignored: a newer writer may add some, and a record read
    as garbled counts as 'not advanced'."""
    def bad(why: str) -> RecordError:
        return RecordError(f"{source}: garbled record: {why}")

    try:
        data = json.loads(text)
    except ValueError as error:
        raise bad(f"not JSON ({error})") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    if data.get("schema") != SCHEMA:
        raise bad(f"schema {data.get('schema')!r} is not {SCHEMA}")
    name = data.get("node")
    if not isinstance(name, str) or (node is not None and name != node):
        raise bad(f"node {name!r} is not {node!r}")
    counter = data.get("counter")
    if not _is_int(counter) or counter < 0:
        raise bad(f"counter {counter!r} is not a non-negative integer")
    written_at = data.get("written_at")
    if not _is_number(written_at):
        raise bad(f"written_at {written_at!r} is not a number")
    groups = data.get("groups")
    if not isinstance(groups, dict):
        raise bad("groups is not an object")
    parsed: Dict[str, GroupStatus] = {}
    for group, value in groups.items():
        if not isinstance(value, dict):
            raise bad(f"groups.{group} is not an object")
        serving, generation = value.get("serving"), value.get("generation")
        in_sync, since = value.get("replica_in_sync"), value.get("out_of_sync_since_generation")
        if not isinstance(serving, bool):
            raise bad(f"groups.{group}.serving {serving!r} is not a boolean")
        if not _is_int(generation) or generation < 0:
            raise bad(f"groups.{group}.generation {generation!r} is not a non-negative integer")
        if not isinstance(in_sync, bool):
            raise bad(f"groups.{group}.replica_in_sync {in_sync!r} is not a boolean")
        if since is not None and not _is_int(since):
            raise bad(f"groups.{group}.out_of_sync_since_generation {since!r} is not an integer or null")
        flags = {}
        for key in ("released", "refusing"):             # absent: False (an older writer)
            flags[key] = value.get(key, False)
            if not isinstance(flags[key], bool):
                raise bad(f"groups.{group}.{key} {flags[key]!r} is not a boolean")
        marks = {}
        for key in ("split_brain", "split_brain_resolved", "disk_cleared_for",
                    "served_generation"):                 # absent: None (an older writer)
            mark = value.get(key)
            if mark is not None and (not _is_int(mark) or mark < 0):
                raise bad(f"groups.{group}.{key} {mark!r} is not a non-negative integer or null")
            marks[key] = mark
        parsed[group] = GroupStatus(serving, generation, in_sync, since, **flags, **marks)
    return Record(name, counter, parsed, float(written_at))
