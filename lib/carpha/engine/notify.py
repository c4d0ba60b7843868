"""Notify hooks: an administrator's programs run after carpha's events
(`hooks.on_promote`, `on_demote`, `on_fence`, `on_refusal` in the config),
so a mail alert or the Handbook's HAST switch script keeps running although
devd runs only carpha's rule for CARP events.

Contract: the configured argv (validated in carpha.config: an absolute
program, plain arguments) runs through the runner, without a shell, with
`hooks.timeout_seconds`, and four arguments appended as keepalived appends
its notify arguments: EVENT GROUP NODE DETAIL (EVENT is promote, demote,
fence or refusal). It runs after the event, never before; a hook that fails,
times out or is missing is logged and changes nothing of the outcome."""

from __future__ import annotations

from ..host.runner import CommandError

EVENTS = ("on_promote", "on_demote", "on_fence", "on_refusal")


def argv_for(config, event: str, group: str, node: str, detail: str):
    """The argv to run, or None when no hook is configured."""
    if event not in EVENTS:
        raise ValueError(f"not a hook event: {event}")
    argv = getattr(config.hooks, event)
    return None if not argv else (*argv, event[3:], group, node, " ".join(detail.split())[:500])


def run(config, event: str, group: str, node: str, detail: str, runner, log) -> None:
    argv = argv_for(config, event, group, node, detail)
    if argv is None:
        return
    try:
        result = runner.change(argv, timeout=config.hooks.timeout_seconds, check=False)
    except CommandError as error:
        log.warning(f"{group}: hooks.{event}: {error}; the {event[3:]} stands")
        return
    except OSError as error:
        log.warning(f"{group}: hooks.{event}: {argv[0]}: {error.strerror}; the {event[3:]} stands")
        return
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] if result.stderr.strip() else []
        log.warning(f"{group}: hooks.{event}: {argv[0]} exited {result.returncode}"
                    + (f": {tail[0]}" if tail else "") + f"; the {event[3:]} stands")
    elif not getattr(result, "dry_run", False):
        log.info(f"{group}: hooks.{event}: ran {argv[0]}")
