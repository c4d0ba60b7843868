"""Pure parsers for the output of FreeBSD commands carpha reads.

Contract:
- one module per tool, each exposing `parse_<command>(text) -> data` where
  data is plain JSON-able Python (dict/list/str/int/None), never objects;
- parsers follow the printf formats in the FreeBSD sources (cited in each
  module), not the spacing of one sample: blanks, tabs and trailing blanks
  may vary, and unknown but well-formed lines inside a block are skipped;
- input that cannot be the documented format raises `ParseError`, which
  names the 1-based line and why (exit code 65, EX_DATAERR, if uncaught);
- no process is started here and importing this package stays cheap (no
  yaml, no subprocess): the devd hook imports it on every event.

`parse_text(kind, text)` dispatches by kind name (see KINDS).
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator, Optional, Tuple

from ..exits import DATAERR, CarphaError

__all__ = ["KINDS", "ParseError", "parse_text"]


class ParseError(CarphaError, ValueError):
    """Text that cannot be the documented output format.

    `lineno` is 1-based (None when the fault is not on one line, e.g. the
    structure of a JSON document); `reason` says what was expected.
    """

    exit_code = DATAERR

    def __init__(self, lineno: Optional[int], reason: str):
        # One line, whatever the offending text contained.
        self.reason = " ".join(str(reason).splitlines()).strip()
        self.lineno = lineno
        text = self.reason if lineno is None else f"line {lineno}: {self.reason}"
        super().__init__(text)


# kind -> (submodule, function)
_DISPATCH = {
    "ifconfig": ("ifconfig", "parse_ifconfig"),
    "gmirror-status": ("gmirror", "parse_gmirror_status"),
    "gmirror-list": ("gmirror", "parse_gmirror_list"),
    "jls": ("jls", "parse_jls"),
    "ggatec-list": ("ggate", "parse_ggatec_list"),
    "sysctl": ("sysctl", "parse_sysctl"),
    "devd-event": ("devd", "parse_devd_event"),
    "mount": ("mount", "parse_mount"),
    "hastctl-status": ("hastctl", "parse_hastctl_status"),
}

KINDS: Tuple[str, ...] = tuple(_DISPATCH)


def parse_text(kind: str, text: str) -> Any:
    """Parse `text` as the output named by `kind` (one of KINDS)."""
    try:
        module_name, function_name = _DISPATCH[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}") from None
    if not isinstance(text, str):
        raise TypeError(f"{kind}: text must be str, not {type(text).__name__}")
    # Imported on demand so a hook that parses one kind loads one module.
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, function_name)(text)


def numbered_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(1-based line number, line without trailing blanks) for every line.

    Splits on "\\n" only: str.splitlines() would also split on form feeds
    and other separators a value could legitimately contain.
    """
    for lineno, line in enumerate(text.split("\n"), start=1):
        yield lineno, line.rstrip()
