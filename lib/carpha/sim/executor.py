"""Running simulated commands in process (carpha.host.runner.Executor); as
executables on PATH they run through carpha.sim.executables.

In process, `execute(host, argv, timeout, env)` dispatches on the basename
of argv[0] in COMMANDS, which the command modules fill as they are imported
(carpha.sim.commands: whoever runs commands imports that package, this
module never does). A command that would block longer than `timeout`
simulated seconds (I/O on a mirror whose ggate peer is dead with -t 0, a
TCP connect to nobody) moves the clock by `timeout` and raises
carpha.host.runner.CommandTimedOut, as the real runner does after killing it.

Argument handling: a flag the real tool rejects gets the real tool's usage
text and exit status (mostly 1, from usage()); a valid FreeBSD argument the
simulator does not model exits 64 with a line naming it, so a test never
passes on something that was silently ignored.
"""

from __future__ import annotations

import os

from ..host.runner import CommandMissing, CommandTimedOut

COMMANDS = {}
SIM_EXIT = 64


def command(*names):
    def register(func):
        for name in names:
            COMMANDS[name] = func
        return func
    return register


class Exit(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Hang(Exception):
    """The command blocks past its timeout (or forever)."""


class Context:
    def __init__(self, host, argv, timeout: float, env: dict):
        self.host = host
        self.cluster = host.cluster
        self.argv = list(argv)
        self.prog = os.path.basename(argv[0])
        self.args = list(argv[1:])
        self.timeout = timeout
        self.env = env
        self.started = self.cluster.clock.t
        self._out = []
        self._err = []

    # -- output ----------------------------------------------------------------
    def out(self, text: str = "", end: str = "\n") -> None:
        self._out.append(text + end)

    def err(self, text: str = "", end: str = "\n") -> None:
        self._err.append(text + end)

    def warnx(self, text: str) -> None:
        """err(3) style: "<prog>: <text>" on stderr."""
        self.err(f"{self.prog}: {text}")

    def fail(self, text: str, code: int = 1):
        self.warnx(text)
        raise Exit(code)

    def usage(self, text: str, code: int = 1):
        self.err(text.rstrip("\n"))
        raise Exit(code)

    def unsupported(self, what: str):
        self.err(f"carpha.sim: {self.prog}: {what} is not simulated")
        raise Exit(SIM_EXIT)

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    # -- time --------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        """Spend simulated time; past the timeout the command is 'killed'."""
        if seconds <= 0:
            return
        elapsed = self.cluster.clock.t - self.started
        if seconds == float("inf") or elapsed + seconds > self.timeout:
            remaining = max(0.0, self.timeout - elapsed)
            if remaining != float("inf"):
                self.cluster.advance(remaining)
            raise Hang()
        self.cluster.advance(seconds)


def run(host, argv, timeout: float, env: dict):
    """(returncode, stdout, stderr); raises Hang."""
    ctx = Context(host, argv, timeout, env)
    func = COMMANDS.get(ctx.prog)
    if func is None:
        raise CommandMissing(argv, env.get("PATH", ""))
    host.cluster.checkpoint()
    try:
        rc = func(ctx)
    except Exit as stop:
        rc = stop.code
    finally:
        host.cluster.refresh()
    return (0 if rc is None else rc), ctx.stdout, ctx.stderr


def execute(host, argv, timeout: float, env: dict):
    if not host.up:
        raise RuntimeError(f"{host.name} is down; nothing runs there")
    try:
        return run(host, argv, timeout, env)
    except Hang:
        raise CommandTimedOut(argv, timeout) from None
