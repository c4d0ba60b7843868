"""The entry points, `load` and `loads`, and the reader that walks the file
top down: each section by its own rules (carpha.config.nodes, settings,
groups, storage), the timing a watchdog derives, then the checks across
sections (carpha.config.checks). Problems are raised together, sorted by
line; warnings are kept on the Config for `config check`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Optional

import yaml
from yaml.nodes import MappingNode

from .checks import _CrossChecks
from .groups import _GroupSections
from .limits import (MAX_CONFIG_BYTES, MAX_DEPTH, MAX_MAINTENANCE_SECONDS, MAX_TIMEOUT_SECONDS,
                     MIN_TIMEOUT_SECONDS, SYSLOG_FACILITIES, WATCHDOG_INTERVAL_SECONDS)
from .messages import _excerpt, _too_large
from .model import Config, ConfigError, Hooks, Maintenance, Timeouts
from .nodes import _NodeSections
from .settings import _SettingSections
from .storage import _StorageSections
from .values import _ReaderBase
from .yamlfile import _LimitError, _line, _read_file, compose

DEFAULT_PATH = "/usr/local/etc/carpha.yaml"


def load(path: str = DEFAULT_PATH, *, node: Optional[str] = None,
         check_permissions: Optional[bool] = None) -> Config:
    """Read and validate the file at `path`. `node` overrides which node this
    is; permissions are checked when `check_permissions` is true, or when it is
    None and we run as root."""
    if check_permissions is None:
        check_permissions = os.geteuid() == 0
    return loads(_read_file(path, check_permissions), path, node=node)


def loads(text: str, source: str = "<string>", *, node: Optional[str] = None) -> Config:
    """Validate configuration text; `source` names it in messages."""
    if len(text) > MAX_CONFIG_BYTES:
        line = text[:MAX_CONFIG_BYTES].count("\n") + 1
        raise ConfigError(_too_large(source, line))
    try:
        return _Reader(source).read(text, node)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"{source}:1: nested too deeply to read (more than {MAX_DEPTH} levels)") from None
    except Exception as e:     # a loader bug must still be one line, not a traceback in cron mail
        raise ConfigError(f"{source}:1: internal error while reading the configuration"
                          f" ({type(e).__name__}: {_excerpt(str(e))}); please report it") from None


class _Reader(_NodeSections, _SettingSections, _GroupSections, _StorageSections, _CrossChecks, _ReaderBase):
    """One file, read once: every section, then the checks across them."""

    def read(self, text: str, node_override: Optional[str]) -> Config:
        try:
            self.loader, root = compose(text)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else 1
            context = e.context
            if context and e.context_mark and e.context_mark.line + 1 != line:
                # The real mistake is often where the context began (an unclosed `{`).
                context += f" at line {e.context_mark.line + 1}"
            why = ", ".join(part for part in (context, e.problem) if part)
            prefix = "refused: " if isinstance(e, _LimitError) else "invalid YAML: "
            raise ConfigError(self._format(line, "", prefix + why)) from None
        except yaml.reader.ReaderError as e:
            line = text[:e.position].count("\n") + 1
            character = e.character if isinstance(e.character, int) else ord(e.character)
            raise ConfigError(f"{self.source}:{line}: invalid YAML: character #x{character:04x}:"
                              f" {e.reason}") from None
        except yaml.YAMLError as e:
            raise ConfigError(self._format(1, "", f"invalid YAML: {_excerpt(str(e))}")) from None
        try:
            config = self._read_top(root, node_override)
        finally:
            self.loader.dispose()
        if self.problems:
            # Stable sort: problems on one line keep the order they were found.
            raise ConfigError([m for _, m in sorted(self.problems, key=lambda p: p[0])])
        return config

    def _read_top(self, root, node_override: Optional[str]) -> Optional[Config]:
        if root is None:
            self.problem(1, "", "expected a mapping of settings, got an empty file")
            return None
        if not isinstance(root, MappingNode):
            self.problem(_line(root), "", f"expected a mapping at the top level, got {self.describe(root)}")
            return None
        top = self.section(root, "", _line(root), {
            "node", "nodes", "witness", "timeouts", "paths", "syslog_facility", "garp", "damping",
            "maintenance", "groups", "watchdog", "hooks"})
        if top is None:
            return None

        nodes = self._read_nodes(top)
        this = self._read_node(top, nodes, node_override)
        witness = self._read_witness(top, nodes)
        timeouts = self._read_fields(top, "timeouts", Timeouts,
                                     lambda n, p: self.seconds(n, p, MAX_TIMEOUT_SECONDS,
                                                               least=MIN_TIMEOUT_SECONDS))
        paths = self._read_paths(top)
        facility = top.get("syslog_facility", lambda n, p: self.choice(n, p, SYSLOG_FACILITIES),
                           default="daemon")
        garp = self._read_garp(top)
        damping = self._read_damping(top)
        maintenance = self._read_fields(top, "maintenance", Maintenance,
                                        lambda n, p: self.seconds(n, p, MAX_MAINTENANCE_SECONDS))
        hooks = self._read_fields(top, "hooks", Hooks, self._hook)
        groups = self._read_groups(top, nodes)
        self._check_witness_node(witness, groups)
        if "watchdog" in top and witness.kind == "lease" and "interval_seconds" not in self.witness_keys:
            # Evidence every half second: the gate's margin is 3 intervals.
            witness = replace(witness, interval_seconds=WATCHDOG_INTERVAL_SECONDS)
        watchdog = self._read_watchdog(top, witness)
        if watchdog is not None and witness.kind == "lease":
            # The reset, not the software fence, bounds the old master: the
            # standby prepares after the margin and serves after its gate.
            witness = replace(witness, takeover_after_seconds=watchdog.margin_seconds(witness))
        if this is not None and groups:
            self._check_timing(witness, groups, this, watchdog)
        warnings = tuple(m for _, m in sorted(self.warnings, key=lambda w: w[0]))
        return Config(path=self.source, node=this, nodes=nodes or {}, witness=witness,
                      timeouts=timeouts, paths=paths, syslog_facility=facility, garp=garp,
                      groups=groups, warnings=warnings, damping=damping, maintenance=maintenance,
                      watchdog=watchdog, hooks=hooks)
