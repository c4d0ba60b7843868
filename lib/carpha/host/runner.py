"""The only module that starts processes.

Contract:
- argv lists only (never a shell string), a mandatory timeout per call, a fixed
  PATH and locale (LANG=C) so output formats are the documented ones;
- `query()` for read-only calls (they run even in a dry run), `change()` for
  mutating ones (a dry run records them and prints `would run: ...` instead);
- failures are typed and carry argv, exit code, stdout and stderr:
  CommandFailed (non-zero exit), CommandTimedOut, CommandMissing;
- every call is logged and recorded in `Runner.calls`.

How a command is executed is pluggable (`executor`): the default uses
`subprocess` directly, the simulator (`carpha.sim`) dispatches argv to a
simulated FreeBSD host. Why `subprocess` rather than the `sh` package: we need
exactly one thing, "run this argv with this env and timeout, kill the whole
process group on timeout", which subprocess does in a few lines; `sh` adds an
import cost on the devd hook's path and a second way of quoting to audit.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

from .. import clock
from ..exits import SOFTWARE, UNAVAILABLE, CarphaError

DEFAULT_PATH = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"
# Variables that pass through to children: the simulator's executables find
# their state through them. They mean nothing on a real host.
PASSTHROUGH_PREFIX = "CARPHA_SIM_"
# After SIGKILL, how long to wait for the killed command to exit.
KILL_GRACE_SECONDS = 1.0


class CommandError(CarphaError):
    exit_code = SOFTWARE

    def __init__(self, argv: Sequence[str], returncode: Optional[int], stdout: str, stderr: str, why: str):
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        message = f"{shlex.join(self.argv)}: {why}" + (f": {detail}" if detail else "")
        super().__init__(message)


class CommandFailed(CommandError):
    def __init__(self, argv, returncode, stdout, stderr):
        super().__init__(argv, returncode, stdout, stderr, f"exit {returncode}")


class CommandTimedOut(CommandError):
    def __init__(self, argv, timeout, stdout="", stderr=""):
        self.timeout = timeout
        super().__init__(argv, None, stdout, stderr, f"timed out after {timeout:g} s")


class CommandMissing(CommandError):
    exit_code = UNAVAILABLE

    def __init__(self, argv, path):
        super().__init__(argv, None, "", "", f"not found in PATH {path}")


@dataclass(frozen=True)
class Result:
    argv: Tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class Call:
    """One recorded call: what ran (or would have run) and how it ended."""
    kind: str            # "query" or "change"
    argv: Tuple[str, ...]
    returncode: Optional[int]
    dry_run: bool = False


# executor(argv, timeout, env) -> (returncode, stdout, stderr); raises
# CommandTimedOut / CommandMissing itself.
Executor = Callable[[Sequence[str], float, Mapping[str, str]], Tuple[int, str, str]]


def subprocess_executor(argv: Sequence[str], timeout: float, env: Mapping[str, str]) -> Tuple[int, str, str]:
    try:
        proc = subprocess.Popen(
            list(argv), env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, cwd="/",
        )
    except FileNotFoundError:
        raise CommandMissing(argv, env.get("PATH", "")) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The command may have forked (ggatec, daemon): kill its whole group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            out, err = proc.communicate(timeout=KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            # Unkillable (a process in uninterruptible disk wait, e.g. on a
            # dead ggate peer): leave it behind rather than block the caller,
            # who may be fencing against a deadline.
            out, err = b"", b""
        raise CommandTimedOut(argv, timeout, _text(out), _text(err)) from None
    return proc.returncode, _text(out), _text(err)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def child_env(path: str) -> dict:
    env = {"PATH": path, "LANG": "C", "LC_ALL": "C", "HOME": "/"}
    env.update({k: v for k, v in os.environ.items() if k.startswith(PASSTHROUGH_PREFIX)})
    return env


@dataclass
class Runner:
    executor: Executor = subprocess_executor
    dry_run: bool = False
    path: str = DEFAULT_PATH
    echo: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    logger: object = None
    calls: List[Call] = field(default_factory=list)
    extra_env: Mapping[str, str] = field(default_factory=dict)   # added to the fixed environment

    def query(self, argv: Sequence[str], *, timeout: float, check: bool = True) -> Result:
        """Run a read-only command (also in a dry run)."""
        _refuse_string(argv)
        return self._run("query", argv, timeout, check)

    def change(self, argv: Sequence[str], *, timeout: float, check: bool = True) -> Result:
        """Run a command that changes the system; a dry run only prints it."""
        _refuse_string(argv)
        if self.dry_run:
            argv = tuple(argv)
            _validate(argv, timeout)
            self.calls.append(Call("change", argv, None, dry_run=True))
            self.echo(f"would run: {shlex.join(argv)}")
            return Result(argv, 0, "", "", dry_run=True)
        return self._run("change", argv, timeout, check)

    def changes(self) -> List[Tuple[str, ...]]:
        """argv of every mutating call so far (run or, in a dry run, printed)."""
        return [c.argv for c in self.calls if c.kind == "change"]

    def _run(self, kind: str, argv: Sequence[str], timeout: float, check: bool) -> Result:
        argv = tuple(argv)
        _validate(argv, timeout)
        started = clock.monotonic()
        try:
            rc, out, err = self.executor(argv, timeout, {**child_env(self.path), **self.extra_env})
        except CommandError as error:
            self.calls.append(Call(kind, argv, error.returncode))
            self._log(f"{kind}: {shlex.join(argv)}: {error}")
            raise
        duration = clock.monotonic() - started
        self.calls.append(Call(kind, argv, rc))
        self._log(f"{kind}: {shlex.join(argv)}: exit {rc} in {duration:.3f} s")
        result = Result(argv, rc, out, err, duration)
        if check and rc != 0:
            raise CommandFailed(argv, rc, out, err)
        return result

    def _log(self, message: str) -> None:
        if self.logger is not None:
            self.logger.debug(message)


def _refuse_string(argv) -> None:
    if isinstance(argv, (str, bytes)):
        raise TypeError(f"argv must be a list, not a string: {argv!r}")


def _validate(argv: Tuple[str, ...], timeout: float) -> None:
    if not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError(f"argv must be a non-empty sequence of str, got {argv!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"{argv[0]}: a positive timeout is required, got {timeout!r}")


def spawn_detached(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> int:
    """Start argv in its own session with stdio on /dev/null and do not wait
    (devd must not wait for slow work). Returns the child's pid."""
    _refuse_string(argv)
    argv = list(argv)
    _validate(tuple(argv), 1)
    proc = subprocess.Popen(
        argv, env=dict(env if env is not None else os.environ),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, cwd="/",
    )
    return proc.pid

