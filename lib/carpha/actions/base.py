"""The shape every action shares: observe -> plan -> act -> verify.

An action is a pair of functions:
  observe(ctx) -> observation      read-only queries (run in a dry run too)
  plan(ctx, observation) -> steps  pure; [] means "already there"
`apply()` prints the steps in a dry run, otherwise runs them in order,
stopping at the first failure, then observes and plans again: whatever is
still planned is a verification failure naming what remains. Every step is
idempotent or guarded by the observation, so re-running an interrupted action
converges."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

from .. import clock
from ..exits import SOFTWARE, TEMPFAIL, CarphaError
from ..host.runner import CommandError, CommandFailed, Runner


class ActionFailed(CarphaError):
    exit_code = SOFTWARE


class Conflict(ActionFailed):
    """Reality contradicts the config in a way carpha must not paper over
    (an address on the wrong interface, a foreign mount on our mountpoint)."""


class Abandoned(CarphaError):
    """The role changed mid-plan; the caller re-plans toward the new role."""
    exit_code = TEMPFAIL


@dataclass(frozen=True)
class Step:
    """One command to run, why, and which timeout class applies. A step with
    `fallback` runs the fallback when it fails (fsck -p, then fsck -y); one
    with `again_on` runs once more when it exits with that status (fsck's
    16, "PLEASE RERUN FSCK"), and that second run decides."""
    argv: Tuple[str, ...]
    reason: str
    timeout: "str | float" = "change"    # a timeout class of the config, or seconds
    fallback: Optional["Step"] = None
    again_on: Optional[int] = None


@dataclass(frozen=True)
class WriteFile:
    """Write a small config file (e.g. ggated's exports) atomically."""
    path: str
    content: str
    reason: str


@dataclass(frozen=True)
class Wait:
    """Wait (bounded) until `ready(ctx)` is true, e.g. for the kernel to taste
    a mirror. Not a command: a dry run does not print it."""
    reason: str
    ready: Callable[[Any], bool]
    timeout_seconds: float
    poll_seconds: float = 0.25


@dataclass
class Context:
    """What an action needs: the config, which group and node, and the
    runner through which every command goes."""
    config: Any
    group: Any
    node: str
    runner: Runner
    log: Any

    def seconds(self, timeout_class) -> float:
        if isinstance(timeout_class, (int, float)):
            return float(timeout_class)
        return float(getattr(self.config.timeouts, f"{timeout_class}_seconds"))

    def query(self, argv, timeout: str = "query", check: bool = True):
        return self.runner.query(argv, timeout=self.seconds(timeout), check=check)

    def change(self, argv, timeout: str = "change", check: bool = True):
        return self.runner.change(argv, timeout=self.seconds(timeout), check=check)

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    @property
    def peer(self) -> Optional[str]:
        return self.group.peer_of(self.node)


@dataclass(frozen=True)
class Action:
    name: str                                 # e.g. "claim-addresses"
    observe: Callable[[Context], Any]
    plan: Callable[[Context, Any], List[Any]]
    after: Optional[Callable[[Context, Any], None]] = None   # e.g. send GARP


@dataclass
class Outcome:
    action: str
    changed: bool
    steps: List[str] = field(default_factory=list)
    duration: float = 0.0


def describe(step) -> str:
    if isinstance(step, Step):
        return shlex.join(step.argv)
    if isinstance(step, WriteFile):
        return f"write {step.path}"
    return f"wait: {step.reason}"


MAX_ROUNDS = 3


def apply(action: Action, ctx: Context, *, between: Optional[Callable[[], None]] = None) -> Outcome:
    """Run `action` on `ctx`; `between()` is called before every step and may
    raise Abandoned (the worker re-checks the CARP role there).

    Verification is a new observation and plan. A plan may depend on what an
    earlier step revealed (the metadata on a just-attached disk), so a
    remaining plan that differs from the one just run gets another round, at
    most MAX_ROUNDS; the same plan twice means no progress: a failure."""
    started = clock.monotonic()
    observed = action.observe(ctx)
    steps = action.plan(ctx, observed)
    if not steps:
        ctx.log.debug(f"{ctx.group.name}: {action.name}: nothing to do")
        return Outcome(action.name, False, [], clock.monotonic() - started)
    done: List[str] = []
    for round_number in range(1, MAX_ROUNDS + 1):
        for step in steps:
            if between is not None and not ctx.dry_run:
                between()
            _do(ctx, action, step, done)
        if action.after is not None:
            action.after(ctx, observed)
        if ctx.dry_run:
            break
        observed = action.observe(ctx)
        remaining = action.plan(ctx, observed)
        if not remaining:
            break
        if remaining == steps or round_number == MAX_ROUNDS:
            raise ActionFailed(f"{ctx.group.name}: {action.name}: still to do after running the plan: "
                               + "; ".join(f"{describe(s)} ({s.reason})" for s in remaining))
        steps = remaining
    if not ctx.dry_run:
        ctx.log.info(f"{ctx.group.name}: {action.name}: done: " + "; ".join(done))
    return Outcome(action.name, True, done, clock.monotonic() - started)


def _do(ctx: Context, action: Action, step, done: List[str]) -> None:
    if isinstance(step, Wait):
        if not ctx.dry_run:
            _wait(ctx, step)
        return
    if isinstance(step, WriteFile):
        _write(ctx, step)
    else:
        _run(ctx, action, step)
    done.append(describe(step))


def _run(ctx: Context, action: Action, step: Step) -> None:
    try:
        _change(ctx, action, step)
        ctx.log.info(f"{ctx.group.name}: {action.name}: {step.reason}: {shlex.join(step.argv)}")
    except CommandError as error:
        failure = f"{ctx.group.name}: {action.name}: {step.reason}: {error}"
        if step.fallback is None:
            raise ActionFailed(failure) from error
        ctx.log.warning(f"{failure}; trying {shlex.join(step.fallback.argv)}")
        try:
            _run(ctx, action, step.fallback)
        except ActionFailed as second:
            raise ActionFailed(f"{failure}; then {str(second).split(': ', 2)[-1]}") from second


def _change(ctx: Context, action: Action, step: Step) -> None:
    try:
        ctx.change(step.argv, timeout=step.timeout)
    except CommandFailed as error:
        if step.again_on is None or error.returncode != step.again_on:
            raise
        ctx.log.warning(f"{ctx.group.name}: {action.name}: {step.reason}: {error}; running it once more")
        try:
            ctx.change(step.argv, timeout=step.timeout)
        except CommandFailed as again:
            if again.returncode != step.again_on:
                raise
            said = (again.stderr.strip() or again.stdout.strip()).splitlines()
            why = f"exit {again.returncode} again when run once more" + (f" ({said[-1].strip()})" if said else "")
            raise CommandError(step.argv, again.returncode, again.stdout, "", why) from again


def _write(ctx: Context, step: WriteFile) -> None:
    if ctx.dry_run:
        ctx.runner.echo(f"would write: {step.path}: {step.content.strip()}")
        return
    import os
    from ..store.files import ensure_private_dir, write_atomic
    ensure_private_dir(os.path.dirname(step.path))   # /var/run is emptied at boot
    write_atomic(step.path, step.content, 0o600)
    ctx.log.info(f"{ctx.group.name}: {step.reason}: wrote {step.path}")


def _wait(ctx: Context, wait: Wait) -> None:
    deadline = clock.monotonic() + wait.timeout_seconds
    while not wait.ready(ctx):
        if clock.monotonic() >= deadline:
            raise ActionFailed(f"{ctx.group.name}: gave up after {wait.timeout_seconds:g} s waiting: {wait.reason}")
        clock.sleep(wait.poll_seconds)
