"""Reading the file and composing its YAML, within bounds: the file opened
once (O_NOFOLLOW, O_NONBLOCK, regular files only) with the permission checks
and the size and UTF-8 checks; `compose`, which builds the node tree within
MAX_DEPTH and MAX_EXPANDED_NODES (with libyaml's parser when PyYAML has it,
PyYAML's own otherwise, the same tree and the same messages either way);
where a node is and what its tag is.
"""

import errno
import os
import re
import stat
from typing import Dict, Tuple

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, SequenceNode
from yaml.resolver import Resolver

from ..exits import CONFIG, NOPERM
from .limits import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_EXPANDED_NODES
from .messages import _excerpt, _too_large
from .model import ConfigError


def _read_file(path: str, check_permissions: bool) -> str:
    # O_NONBLOCK: a FIFO put in the config's place must not hang the hook.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        # FreeBSD's open(2) says EMLINK for O_NOFOLLOW on a symlink, Linux ELOOP.
        if e.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise ConfigError(f"{path}: refusing a symlink; name the file itself", NOPERM) from None
        code = NOPERM if e.errno in (errno.EACCES, errno.EPERM) else CONFIG
        raise ConfigError(f"{path}: cannot open: {e.strerror}", code) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        if check_permissions:
            refusals = []
            if st.st_uid != 0:
                refusals.append(f"{path}: refusing a config not owned by root (uid {st.st_uid})")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                refusals.append(f"{path}: refusing a config writable by group or others"
                                f" (mode {stat.S_IMODE(st.st_mode):04o})")
            if refusals:
                raise ConfigError(refusals, NOPERM)
        chunks = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_large(path, data[:MAX_CONFIG_BYTES].count(b"\n") + 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x})") from None

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _LimitError(yaml.composer.ComposerError):
    """The text is YAML, but more than carpha reads."""


class _Limits:
    """compose_node within the limits (module docstring), for a loader built
    on PyYAML's Composer: the composer recurses once per level, so depth is
    checked on the way down, before Python's recursion limit; each node's
    size and height with every alias expanded are computed on the way up
    (children first, so linear in the text), which bounds what the reader
    later walks, merges included."""

    def _start_limits(self) -> None:
        self._depth = 0
        self._measure: Dict[int, Tuple[int, int]] = {}      # id(node) -> (size, height)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._measure:
                raise _LimitError(
                    None, None, f"alias *{_excerpt(event.anchor)} refers to a node that contains it",
                    event.start_mark)
            return node
        if self._depth >= MAX_DEPTH:
            raise _LimitError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                              event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = ()
        size, height = 1, 1
        for child in children:
            child_size, child_height = self._measure[id(child)]
            size += child_size
            height = max(height, child_height + 1)
        if size > MAX_EXPANDED_NODES:
            raise _LimitError(
                None, None, f"more than {MAX_EXPANDED_NODES} values once its aliases and merge keys are"
                            f" expanded; write the repeated parts out", node.start_mark)
        if height > MAX_DEPTH:
            raise _LimitError(
                None, None, f"nested more than {MAX_DEPTH} levels deep once its aliases and merge keys"
                            f" are expanded", node.start_mark)
        self._measure[id(node)] = (size, height)
        return node


class _Loader(_Limits, yaml.SafeLoader):
    """PyYAML's pure-Python SafeLoader within the limits: the reference, whose
    tree and messages carpha uses."""

    def __init__(self, text: str):
        super().__init__(text)
        self._start_limits()


# libyaml scans and parses in C (0.9 ms instead of 12 for examples/three-
# servers.yaml: PyYAML's own scanner was most of a config load, on the
# worker's way to its first command); Composer, ahead of CParser in the MRO,
# composes its events in Python, so _Limits runs unchanged. FreeBSD's
# py-yaml port builds the C extension only with its LIBYAML option (on by
# default: devel/py-pyyaml/Makefile, OPTIONS_DEFAULT=LIBYAML, else
# --without-libyaml), so either path may be the one in use.
if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(_Limits, Composer, yaml._yaml.CParser, SafeConstructor, Resolver):
        def __init__(self, text: str):
            yaml._yaml.CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start_limits()

        def compose_node(self, parent, index):
            event = self.peek_event()
            if (isinstance(event, yaml.ScalarEvent) and not event.style
                    and parent is not None and parent.flow_style):
                if event.value == "":
                    # An absent value in a flow collection: libyaml marks it at
                    # the next token (maybe the next line), PyYAML at the ':'.
                    raise _Unlike("an empty value in a flow collection")
                if "?" in event.value:
                    # PyYAML ends a plain scalar at a '?' in a flow collection
                    # ([a?b] is refused); libyaml reads on.
                    raise _Unlike("a '?' in a plain value in a flow collection")
            return super().compose_node(parent, index)

        def compose_scalar_node(self, anchor):
            event = self.peek_event()
            if event.tag == "!":
                # PyYAML's parser resolves a "!" scalar as plain, empty ones
                # too; libyaml gives an empty one no implicit resolution.
                event.implicit = (True, False)
            if event.style == "":
                event.style = None      # libyaml's plain style; PyYAML's is None
            return super().compose_scalar_node(anchor)
else:
    _CLoader = None


class _Unlike(Exception):
    """libyaml would compose this text unlike PyYAML: read it with PyYAML."""


# Text libyaml reads unlike PyYAML (found by comparing the two), sent to the
# pure loader: a tab (libyaml accepts one between tokens, PyYAML refuses it),
# a comment right after a block scalar's header (`|#`, likewise), a U+FEFF
# (PyYAML reads one inside the text as a character, libyaml not always).
_LIBYAML_UNLIKE = re.compile("[\t\ufeff]|[|>][-+0-9]*#")


def compose(text: str):
    """(loader, root): the root node of `text` (None for an empty file),
    within the limits, and the loader whose constructor builds its scalars.
    Raises the pure loader's yaml error, so a message never depends on
    whether libyaml is installed: when libyaml fails, the text is read again
    by the pure loader, and if that one accepts it, its tree is used, as it
    would be on a host without libyaml (the nodes of a cluster read the same
    file and must agree on it)."""
    if _CLoader is not None and not _LIBYAML_UNLIKE.search(text):
        loader = None
        try:
            # CParser encodes the text to UTF-8 here: a lone surrogate raises
            # UnicodeEncodeError, which the pure Reader refuses as a yaml error.
            loader = _CLoader(text)
            return loader, loader.get_single_node()
        except Exception:       # any refusal or surprise: the pure loader says what it is
            if loader is not None:
                loader.dispose()
    loader = _Loader(text)
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


def _line(node) -> int:
    return node.start_mark.line + 1


def _tag(node) -> str:
    return node.tag.replace("tag:yaml.org,2002:", "!!")
