"""The node-wide settings read by their own rules: paths (and the warning
when the devd hook would not find the state), garp, damping and the notify
hooks' argv lists. (timeouts, maintenance and syslog_facility need no rule
of their own: carpha.config.reader reads them with `_read_fields`.)
"""

from __future__ import annotations

from typing import Optional

from .limits import MAX_FLAP_LIMIT, MAX_SETTLE_SECONDS, MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS
from .messages import _q
from .model import Damping, Garp, Paths
from .values import _Section
from .yamlfile import _line


class _SettingSections:
    """The readers of paths, garp, damping and hooks (a part of _Reader)."""

    def _hook(self, node, path: str):
        """An argv list: an absolute program, then plain string arguments
        (no shell: the runner runs it as given)."""
        if path.endswith(".timeout_seconds"):
            return self.seconds(node, path, MAX_TIMEOUT_SECONDS, least=MIN_TIMEOUT_SECONDS)
        items = self.sequence(node, path)
        if items is None:
            return ()
        argv = [self.text(item, item_path) for item_path, item in items]
        if any(a is None for a in argv):
            return ()
        if not argv:
            self.problem(_line(node), path, "expected a program and its arguments, got an empty list")
        elif not argv[0].startswith("/"):
            self.problem(_line(node), path, f"{_q(argv[0])} is not an absolute path (the hook runs without a shell "
                                            f"or a search of PATH)")
        elif any("\x00" in a or "\n" in a for a in argv):
            self.problem(_line(node), path, "arguments must not contain NUL or newline characters")
        return tuple(argv)

    def _read_paths(self, top: _Section) -> Paths:
        def read(node, path):
            if path.endswith(".command_path"):
                return self._command_path(node, path)
            return self.abspath(node, path)
        paths = self._read_fields(top, "paths", Paths, read)
        # The devd hook cannot read this file (it must not load YAML): it
        # uses the defaults unless its environment says otherwise.
        for key, variable in (("state_dir", "CARPHA_STATE_DIR"), ("run_dir", "CARPHA_RUN_DIR")):
            value, default = getattr(paths, key), getattr(Paths(), key)
            if value is not None and value != default:
                section = top.get("paths", lambda n, p: n)
                line = next((_line(k) for k, _ in getattr(section, "value", ()) if getattr(k, "value", None) == key),
                            top.line)
                self.warn(line, f"paths.{key}", f"{value} is not the default {default}: set {variable}={value} "
                          f"before the carp-event command in devd/carpha.conf, or the hook and the worker "
                          f"will not meet")
        return paths

    def _command_path(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        # An empty element means the current directory to execvp(3).
        bad = [d for d in value.split(":") if not d.startswith("/")]
        if bad:
            self.problem(_line(node), path, f"{_q(bad[0])} is not an absolute directory")
            return None
        return value

    def _read_garp(self, top: _Section) -> Garp:
        def read(node, path):
            if path.endswith(".count"):
                return self.integer(node, path, 1, 100)
            if path.endswith(".repeat_count"):
                return self.integer(node, path, 0, 100)
            return self.seconds(node, path)
        return self._read_fields(top, "garp", Garp, read)

    def _read_damping(self, top: _Section) -> Damping:
        def read(node, path):
            if path.endswith(".settle_seconds"):
                return self.seconds(node, path, MAX_SETTLE_SECONDS, zero=True)
            if path.endswith(".flap_limit"):
                return self.integer(node, path, 1, MAX_FLAP_LIMIT)
            return self.seconds(node, path)
        return self._read_fields(top, "damping", Damping, read)
