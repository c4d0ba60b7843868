"""The witness record files: our record and the peer's on the share, and
the local copy of ours in the state dir.

Contract:
- Records live at `<path>/<node>.json` on the share both nodes mount from
  the witness (NFS from serverC). Written atomically (temp file in the same
  directory, fsync, rename; O_NOFOLLOW, see carpha.store.files) and read
  afresh every time (open/read/close: NFS close-to-open consistency; never
  cached). Never through a symlink, never a FIFO or device.
- The counter resumes from our record on the share or, if the share lost
  it, from the local copy in the state dir.
- `check_mounted` refuses a witness directory that is not a share of its
  own. The format is carpha.safety.witness_record.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from ..exits import CarphaError
from ..store.files import UnsafePath, ensure_private_dir, open_nofollow, write_atomic
from .witness_record import MAX_RECORD_BYTES, Record, RecordError, encode_record, parse_record, record_path

LOCAL_COPY = "witness-record.json"     # in the state dir: our last record


def read_bytes(path: str) -> Optional[bytes]:
    """The file's bytes, None if it does not exist. Opened afresh (NFS
    close-to-open), never through a symlink, never a FIFO or device."""
    for attempt in (1, 2):
        try:
            fd = open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as error:
            # A name cached on the NFS client can still point at the file
            # the writer's rename replaced; a second lookup finds the new one.
            if error.errno == errno.ESTALE and attempt == 1:
                continue
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise RecordError(f"{path}: not a regular file")
            chunks, size = [], 0
            while size <= MAX_RECORD_BYTES:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
            raise RecordError(f"{path}: garbled record: larger than {MAX_RECORD_BYTES} bytes")
        except OSError as error:
            if error.errno == errno.ESTALE and attempt == 1:
                continue
            raise
        finally:
            os.close(fd)
    return None  # not reached: the second attempt returns or raises


def read_record(directory: str, node: str) -> Optional[Record]:
    """`node`'s record, None if there is none. Raises RecordError (garbled),
    UnsafePath (a symlink) or OSError (the share failed)."""
    path = record_path(directory, node)
    data = read_bytes(path)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path}: garbled record: not UTF-8") from None
    return parse_record(text, path, node)


def write_record(directory: str, record: Record) -> None:
    """Replace our record atomically; refuse a symlink in its place (rename
    would only replace the link, but a planted link means someone is
    tampering with the share, which we report rather than paper over)."""
    path = record_path(directory, record.node)
    if os.path.islink(path):
        raise UnsafePath(f"{path}: refusing to replace a symlink")
    write_atomic(path, encode_record(record), mode=0o644)   # the peer reads it


def local_copy_path(state_dir: str) -> str:
    return os.path.join(state_dir, LOCAL_COPY)


def read_local_counter(state_dir: str, node: str) -> int:
    """The counter of our last record kept in the state dir, 0 if none.
    A garbled copy raises RecordError."""
    record = None
    data = read_bytes(local_copy_path(state_dir))
    if data is not None:
        record = parse_record(data.decode("utf-8", "replace"), local_copy_path(state_dir), node)
    return record.counter if record else 0


def save_local_copy(state_dir: str, record: Record) -> None:
    ensure_private_dir(state_dir)
    write_atomic(local_copy_path(state_dir), encode_record(record))


def describe_error(error: BaseException) -> str:
    """One line for a failed witness operation, without the path twice."""
    if isinstance(error, OSError) and error.errno is not None:
        return f"[Errno {error.errno}] {error.strerror}"
    if isinstance(error, CarphaError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _mount_point(path: str) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def check_mounted(directory: str, state_dir: str) -> None:
    """Refuse a witness directory that is not on a file system of its own:
    with the share unmounted, both nodes would write to their local disks,
    each see the other silent, and both promote."""
    mount = _mount_point(directory)
    local = _mount_point(state_dir) if os.path.exists(state_dir) else "/"
    if mount in ("/", local):
        raise CarphaError(f"{directory} is not a mounted share (it is on the file system mounted at {mount})")
