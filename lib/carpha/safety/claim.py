"""Claiming a group's next generation on the witness share, so that two
promotions that decide at once (a flap plus a partition, a boot inside a
promotion) cannot both succeed: each node links its own file to
`<share>/<group>.generation-<N>`; link(2) never replaces an existing name,
so exactly one link creates it. The claim file names its node; a node that
reads its own name there won (also when the reply to its link was lost and
the retried call said EEXIST: NFS's classic case, hence the read-back, as
with NFS lock files). A claim is never taken back: the next promotion
claims the next number.

Share I/O runs in a daemon thread bounded by `timeout` (a hard NFS mount
can hang a call for ever): a claim that did not finish is a claim lost."""

from __future__ import annotations

import os
import threading
from typing import NamedTuple, Optional

from ..store.files import open_nofollow, read_text

SUFFIX = ".generation-"


class Claim(NamedTuple):
    won: bool
    holder: Optional[str]          # who holds the slot, when known
    why: str


def slot_path(directory: str, group: str, generation: int) -> str:
    if not group or "/" in group or group.startswith("."):
        raise ValueError(f"{group!r} is not a group name")
    return os.path.join(directory, f"{group}{SUFFIX}{generation}")


def _link_claim(directory: str, group: str, generation: int, node: str) -> Claim:
    import secrets    # here: only a claim needs it, and it costs ~7 ms at every worker start
    path = slot_path(directory, group, generation)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{node}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(node + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    holder = (read_text(path) or "").strip() or None
    if holder == node:
        return Claim(True, node, f"claimed generation {generation} of {group}")
    return Claim(False, holder, f"{holder or 'another node'} claimed generation {generation} of {group} first")


def claim(directory: str, group: str, generation: int, node: str, timeout: float) -> Claim:
    """Try to claim `generation` of `group` for `node`; never raises."""
    result: dict = {}

    def work() -> None:
        try:
            result["claim"] = _link_claim(directory, group, generation, node)
        except Exception as error:           # reported as a lost claim
            result["claim"] = Claim(False, None, f"cannot claim generation {generation} of {group} on "
                                                 f"{directory}: {error}")
    thread = threading.Thread(target=work, name="carpha-claim", daemon=True)
    thread.start()
    thread.join(timeout)
    if "claim" not in result:
        return Claim(False, None, f"claiming generation {generation} of {group} on {directory} did not finish "
                                  f"within {timeout:g} s")
    return result["claim"]
