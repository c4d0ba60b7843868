"""Safe file handling for state, lock and journal files.

State is written atomically (temp file, fsync, rename, fsync of the
directory) so a crash leaves either the old or the new content, never a torn
one. Files are opened with O_NOFOLLOW so a symlink planted in a state
directory cannot redirect a root-owned write. Directories are created 0700 and
refused when another user could write into them."""

import os
import stat

from ..exits import NOPERM, CarphaError

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafePath(CarphaError):
    exit_code = NOPERM


def ensure_private_dir(path: str) -> None:
    """Create `path` (0700) if missing; refuse a symlink, a non-directory, a
    directory owned by someone else or writable by group/others."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path}: refusing: not a directory (a symlink or another file)")
    if st.st_uid != os.geteuid():
        raise UnsafePath(f"{path}: refusing: owned by uid {st.st_uid}, not {os.geteuid()}")
    if st.st_mode & 0o022:
        raise UnsafePath(f"{path}: refusing: writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})")


def open_nofollow(path: str, flags: int, mode: int = 0o600) -> int:
    try:
        return os.open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)
    except OSError as error:
        if os.path.islink(path):
            raise UnsafePath(f"{path}: refusing to follow a symlink") from None
        raise error


def read_text(path: str) -> "str | None":
    """Contents of `path`, or None if it does not exist."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        return f.read()


def write_atomic(path: str, text: str, mode: int = 0o600) -> None:
    directory = os.path.dirname(path) or "."
    tmp = _write_temp(path, text, mode)
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(directory)


def create_once(path: str, text: str, mode: int = 0o600) -> str:
    """Give `path` the content `text` unless it already exists, atomically;
    return what `path` holds. The fsynced temp file is link(2)ed into place:
    unlike rename(2), link never replaces, so when two first writers race
    one wins and both return its text."""
    directory = os.path.dirname(path) or "."
    tmp = _write_temp(path, text, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        _unlink(tmp)
    _fsync_dir(directory)
    held = read_text(path)
    if held is None:
        raise FileNotFoundError(f"{path}: removed while it was being created")
    return held


def _write_temp(path: str, text: str, mode: int) -> str:
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    _unlink(tmp)  # a leftover of a crashed writer with our (reused) pid
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(directory: str) -> None:
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
