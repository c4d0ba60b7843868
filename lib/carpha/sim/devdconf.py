"""devd.conf(5) as devd applies it, for running the shipped rule for real in
tests and in `carpha simulate` (reference 1.2-1.3, freebsd-src
sbin/devd/devd.cc, devd.conf.5):

- `notify PRIORITY { match "var" "regex"; ... action "cmd"; };` blocks;
  every match is a POSIX extended regex anchored as ^...$ (a leading `!`
  inverts it); all matches of a block must hold; a variable the event lacks
  matches as "";
- only the highest-priority matching block runs (ties keep parse order);
- the action's `$name` ([A-Za-z0-9_-]) is replaced by the value, `$$` is a
  literal `$`, `$(` passes through, unknown names expand to ""; the newest
  devd wraps each value as `$'...'` (shell_quote), older ones substitute
  raw: `expand()` does either.
Python's `re` stands in for POSIX ERE: the rules carpha ships use only the
common subset (classes, `+`, alternation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


class DevdConfError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    kind: str                              # notify, attach, detach, nomatch
    priority: int
    matches: Tuple[Tuple[str, str], ...]   # (variable, regex as written)
    action: Optional[str]
    order: int                             # parse order, for stable ties

    def matches_event(self, event: Dict[str, str]) -> bool:
        for variable, pattern in self.matches:
            inverted = pattern.startswith("!")
            regex = pattern[1:] if inverted else pattern
            hit = re.fullmatch(regex, event.get(variable, "")) is not None
            if hit == inverted:
                return False
        return True


_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|("(?:[^"\\]|\\.)*")|([{};])|([^\s{};"]+))', re.S)


def _tokens(text: str) -> List[str]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise DevdConfError(f"cannot parse near {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1):
            continue
        if m.group(2):
            tokens.append(("str", m.group(2)[1:-1].replace('\\"', '"')))
        else:
            tokens.append(("sym", m.group(3) or m.group(4)))
    return tokens


def parse(text: str) -> List[Rule]:
    tokens, rules, i = _tokens(text), [], 0

    def expect(value):
        nonlocal i
        if i >= len(tokens) or tokens[i] != ("sym", value):
            raise DevdConfError(f"expected {value!r} at token {i}")
        i += 1

    while i < len(tokens):
        kind = tokens[i][1]
        if kind not in ("notify", "attach", "detach", "nomatch"):
            raise DevdConfError(f"unsupported statement {kind!r}")
        priority = int(tokens[i + 1][1])
        i += 2
        expect("{")
        matches, action = [], None
        while tokens[i] != ("sym", "}"):
            word = tokens[i][1]
            if word == "match":
                matches.append((tokens[i + 1][1], tokens[i + 2][1]))
                i += 3
            elif word == "action":
                action = tokens[i + 1][1]
                i += 2
            else:
                raise DevdConfError(f"unsupported sub-statement {word!r}")
            expect(";")
        expect("}")
        expect(";")
        rules.append(Rule(kind, priority, tuple(matches), action, len(rules)))
    return rules


def select(rules: List[Rule], event: Dict[str, str], kind: str = "notify") -> Optional[Rule]:
    """The one block devd runs for `event`: highest priority, then parse order."""
    candidates = sorted((r for r in rules if r.kind == kind), key=lambda r: (-r.priority, r.order))
    return next((r for r in candidates if r.matches_event(event)), None)


_VAR = re.compile(r"\$(\$|\(|[A-Za-z0-9_-]+)")


def shell_quote(value: str) -> str:
    """devd.cc shell_quote(): $'...' with ' and \\ escaped."""
    return "$'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def expand(action: str, event: Dict[str, str], *, quote: bool = True) -> str:
    def substitute(m):
        name = m.group(1)
        if name == "$":
            return "$"
        if name == "(":
            return "$("
        value = event.get(name, "")
        return shell_quote(value) if quote else value
    return _VAR.sub(substitute, action)
