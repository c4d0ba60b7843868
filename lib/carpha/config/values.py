"""The low-level validators: one value of the file read off its YAML node
(strings, integers, seconds, choices, names, absolute paths, lists,
mappings with their `<<` merges and unknown keys), each problem recorded as
one line `<source>:<line>: <key.path>: <why>` and said once.
"""

from __future__ import annotations

import difflib
import math
import posixpath
from dataclasses import MISSING, fields
from typing import Callable, Dict, List, Optional, Tuple

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .limits import MAX_MESSAGE_CHARACTERS
from .messages import _excerpt, _invalid, _join, _q
from .yamlfile import _MAP_TAG, _MERGE_TAG, _SEQ_TAG, _line, _tag


def _default(cls, name: str):
    return next(f.default for f in fields(cls) if f.name == name and f.default is not MISSING)


class _Section:
    """One mapping of the file: its keys (after merges) and where it is."""

    def __init__(self, reader: "_ReaderBase", path: str, line: int, entries: dict):
        self.reader = reader
        self.path = path
        self.line = line            # of the key that holds it, for missing keys
        self.entries = entries      # key -> (key node, value node)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def items(self):
        for key, (key_node, value_node) in self.entries.items():
            yield key, _line(key_node), value_node

    def key_line(self, key: str) -> int:
        return _line(self.entries[key][0]) if key in self.entries else self.line

    def get(self, key: str, read: Callable, default=None, required: bool = False):
        """read(value node, key path) when present; else the default, or a
        problem when required (None means "no usable value")."""
        if key not in self.entries:
            if required:
                self.reader.problem(self.line, _join(self.path, key), "required key is missing")
            return default
        return read(self.entries[key][1], _join(self.path, key))


class _Unique:
    """Remembers where each value was first seen; reports the later ones."""

    def __init__(self, reader: "_ReaderBase"):
        self.reader = reader
        self.first: dict = {}

    def add(self, key, shown: str, line: int, path: str) -> None:
        if key in self.first:
            first_line, first_path = self.first[key]
            self.reader.problem(line, path, f"{shown} is also used by {first_path} (line {first_line})")
        else:
            self.first[key] = (line, path)


class _ReaderBase:
    """What every section reader builds on: the problems and warnings found so
    far, each formatted once, and the checks of one value (scalars, names,
    paths, lists, mappings with their merges)."""

    def __init__(self, source: str):
        self.source = source
        self.problems: List[Tuple[int, str]] = []
        self.warnings: List[Tuple[int, str]] = []
        self.loader = None
        self._merging: set = set()
        self.ips = _Unique(self)            # node addresses and CARP aliases
        self.witness_node_line = 0
        self.witness_keys: set = set()
        self.ggate_lines: Dict[str, int] = {}   # group -> line of its ggate timeout

    # -- reporting

    def _format(self, line: int, path: str, text: str) -> str:
        # Key names come from the file too: shorten each part of the path.
        path = ".".join(_excerpt(part) for part in path.split("."))
        message = f"{self.source}:{line}: " + (f"{path}: " if path else "") + " ".join(text.split("\n"))
        if len(message) > MAX_MESSAGE_CHARACTERS:
            message = message[:MAX_MESSAGE_CHARACTERS - 30] + f"... ({len(message)} characters)"
        return message

    def problem(self, line: int, path: str, text: str) -> None:
        message = self._format(line, path, text)
        # An aliased node is read once per use; say each thing once.
        if all(message != m for _, m in self.problems):
            self.problems.append((line, message))

    def warn(self, line: int, path: str, text: str) -> None:
        self.warnings.append((line, self._format(line, path, text)))

    # -- scalars

    def construct(self, node, path: str):
        """(True, value) for a scalar SafeLoader can build, else (False, None)."""
        if node.tag not in self.loader.yaml_constructors:
            self.problem(_line(node), path, f"unsupported YAML tag {_tag(node)}")
            return False, None
        try:
            return True, self.loader.construct_object(node)
        except yaml.YAMLError as e:
            self.problem(_line(node), path, f"cannot read {_q(node.value)}: {getattr(e, 'problem', None) or e}")
        except (ValueError, TypeError) as e:
            self.problem(_line(node), path, f"cannot read {_q(node.value)} as {node.tag}: {e}")
        return False, None

    def describe(self, node) -> str:
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        try:
            value = self.loader.construct_object(node)
        except Exception:
            return _q(node.value)
        if value is None:
            return "nothing"
        if isinstance(value, bool):
            return f"a boolean ({node.value})"
        if isinstance(value, str):
            return _q(value)
        return _excerpt(str(node.value))

    def typed(self, node, path: str, what: str, accept: Callable) -> Tuple[bool, object]:
        if isinstance(node, ScalarNode):
            ok, value = self.construct(node, path)
            if not ok:
                return False, None
            if accept(value):
                return True, value
        self.problem(_line(node), path, f"expected {what}, got {self.describe(node)}")
        return False, None

    def text(self, node, path: str) -> Optional[str]:
        def accept(v):
            # YAML 1.1 reads `yes`, `on`, `1e3` as booleans and numbers; a
            # name or word is meant as written (`fsck: yes`).
            return v is not None and not isinstance(v, bytes)
        ok, value = self.typed(node, path, "a string", accept)
        if not ok:
            return None
        return value if isinstance(value, str) else node.value

    def integer(self, node, path: str, lo: int, hi: int, notes: Optional[dict] = None) -> Optional[int]:
        ok, value = self.typed(node, path, "an integer",
                               lambda v: isinstance(v, int) and not isinstance(v, bool))
        if not ok:
            return None
        if not lo <= value <= hi:
            note = (notes or {}).get(value, "")
            self.problem(_line(node), path, f"{_excerpt(node.value)} is not in {lo}..{hi}{note}")
            return None
        return value

    def seconds(self, node, path: str, most: Optional[float] = None,
                zero: bool = False, least: Optional[float] = None) -> Optional[float]:
        """A number of seconds: > 0 (>= 0 with `zero`), at least `least`,
        at most `most`."""
        ok, value = self.typed(node, path, "a number of seconds",
                               lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        if not ok:
            return None
        try:
            finite = math.isfinite(value)
        except OverflowError:       # an integer too large for a float
            finite = False
        if not finite:
            self.problem(_line(node), path, f"expected a finite number of seconds, got {_excerpt(node.value)}")
        elif zero and not value >= 0:
            self.problem(_line(node), path, f"{value} is not >= 0")
        elif not zero and not value > 0:
            self.problem(_line(node), path, f"{value} is not > 0")
        elif least is not None and value < least:
            self.problem(_line(node), path, f"{value:g} is below the least useful value, {least:g}")
        elif most is not None and value > most:
            self.problem(_line(node), path, f"{value} is not <= {most}")
        else:
            return value
        return None

    def choice(self, node, path: str, choices, unsupported: Optional[dict] = None) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if unsupported and value in unsupported:
            self.problem(_line(node), path, unsupported[value])
            return None
        if value not in choices:
            self.problem(_line(node), path, f"{_q(value)} is not one of {', '.join(choices)}")
            return None
        return value

    def name(self, node, path: str, pattern, what: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if not pattern.fullmatch(value):
            self.problem(_line(node), path, _invalid(value, what, pattern))
            return None
        return value

    def abspath(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if not value.startswith("/"):
            self.problem(_line(node), path, f"{_q(value)} is not an absolute path")
        elif ".." in value.split("/"):
            self.problem(_line(node), path, f"{_q(value)} must not contain '..'")
        elif "\0" in value:
            self.problem(_line(node), path, f"{_q(value)} must not contain a NUL byte")
        else:
            return posixpath.normpath(value)
        return None

    # -- collections

    def sequence(self, node, path: str) -> Optional[list]:
        if not isinstance(node, SequenceNode):
            self.problem(_line(node), path, f"expected a list, got {self.describe(node)}")
            return None
        if node.tag != _SEQ_TAG:
            self.problem(_line(node), path, f"unsupported YAML tag {_tag(node)}")
            return None
        return [(f"{path}[{i}]", item) for i, item in enumerate(node.value)]

    def section(self, node, path: str, line: int, allowed=None) -> Optional[_Section]:
        """A mapping's keys; `allowed` None means any key (names of things)."""
        if not isinstance(node, MappingNode):
            self.problem(_line(node), path, f"expected a mapping, got {self.describe(node)}")
            return None
        if node.tag != _MAP_TAG:
            self.problem(_line(node), path, f"unsupported YAML tag {_tag(node)}")
            return None
        entries: dict = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(_line(key_node), path, f"expected a string key, got {self.describe(key_node)}")
                continue
            key = key_node.value
            if key in entries:
                self.problem(_line(key_node), _join(path, key),
                             f"duplicate key (first at line {_line(entries[key][0])})")
            elif allowed is not None and key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.problem(_line(key_node), _join(path, key), f"unknown key{hint}")
            else:
                entries[key] = (key_node, value_node)
        # YAML merge: keys written here win, then earlier merged mappings.
        for value_node in merges:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if id(source) in self._merging:
                    continue            # a mapping merged into itself
                self._merging.add(id(source))
                try:
                    merged = self.section(source, path, line, allowed)
                finally:
                    self._merging.discard(id(source))
                for key, entry in (merged.entries.items() if merged else ()):
                    entries.setdefault(key, entry)
        return _Section(self, path, line, entries)

    def _names(self, node, path: str, pattern, what: str,
               seen: Optional[_Unique] = None) -> Optional[Tuple[str, ...]]:
        """A list of names matching `pattern`, each once (across `seen`)."""
        items = self.sequence(node, path)
        if items is None:
            return None
        names = []
        local = _Unique(self) if seen is None else seen
        for item_path, item in items:
            value = self.name(item, item_path, pattern, what)
            if value is not None:
                local.add(value, value, _line(item), item_path)
                names.append(value)
        return tuple(names)

    def _read_fields(self, top: _Section, key: str, cls, read: Callable):
        """A section whose keys are exactly the fields of `cls`, all optional."""
        names = [f.name for f in fields(cls)]
        section = top.get(key, lambda n, p: self.section(n, p, top.key_line(key), set(names)))
        if section is None:
            return cls()
        return cls(**{name: section.get(name, read, default=_default(cls, name)) for name in names})
