"""carpha.config composes YAML with libyaml's parser where PyYAML has it and
with PyYAML's own otherwise, and nothing carpha says depends on which: every
example and fixture gives the same node tree (tags, values, marks) and the
same Config; a refusal is PyYAML's message; text libyaml would read unlike
PyYAML goes to PyYAML. (test_config.py and test_config_limits.py also run
every test on both paths.)"""

import glob
import os

import pytest
import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from carpha.config import ConfigError, loads, yamlfile

from conftest import ROOT
from example_text import EXAMPLE, edited

pytestmark = pytest.mark.skipif(yamlfile._CLoader is None, reason="this PyYAML has no libyaml (C extension)")

CONFIGS = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml"))
                 + glob.glob(os.path.join(ROOT, "tests", "fixtures", "*.yaml")))


def composed(text, path, monkeypatch):
    """(class of the loader that composed `text`, the tree as plain data)."""
    with monkeypatch.context() as m:
        if path == "pure":
            m.setattr(yamlfile, "_CLoader", None)
        loader, root = yamlfile.compose(text)
        try:
            return type(loader), tree(root, {})
        finally:
            loader.dispose()


def tree(node, seen):
    """What the reader can see of a node: kind, tag, value, style and where
    it starts (a collection's end mark differs between the two: libyaml's is
    the next token's start; nothing reads it)."""
    if id(node) in seen:                     # an alias: the same node again
        return ("alias", seen[id(node)])
    seen[id(node)] = len(seen)
    head = (type(node).__name__, node.tag, node.start_mark.line, node.start_mark.column)
    if isinstance(node, ScalarNode):
        return head + (node.value, node.style, node.end_mark.line, node.end_mark.column)
    if isinstance(node, MappingNode):
        return head + (tuple((tree(k, seen), tree(v, seen)) for k, v in node.value),)
    assert isinstance(node, SequenceNode)
    return head + (tuple(tree(child, seen) for child in node.value),)


def outcome(text, path, monkeypatch, node="serverA"):
    with monkeypatch.context() as m:
        if path == "pure":
            m.setattr(yamlfile, "_CLoader", None)
        try:
            return loads(text, "carpha.yaml", node=node)
        except ConfigError as e:
            return e.problems


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_example_and_fixture_composes_the_same_tree_and_config_with_libyaml(path, monkeypatch):
    with open(path) as f:
        text = f.read()
    c_loader, c_tree = composed(text, "libyaml", monkeypatch)
    pure_loader, pure_tree = composed(text, "pure", monkeypatch)
    assert (c_loader, pure_loader) == (yamlfile._CLoader, yamlfile._Loader)
    assert c_tree == pure_tree
    for node in ("serverA", "serverB", "serverC"):
        config = outcome(text, "libyaml", monkeypatch, node)
        assert not isinstance(config, list), config
        assert config == outcome(text, "pure", monkeypatch, node)


def test_the_example_takes_the_libyaml_path_when_there_is_one():
    loader, _ = yamlfile.compose(EXAMPLE)
    assert isinstance(loader, yamlfile._CLoader)


@pytest.mark.parametrize("text, why", [
    ("nodes: " + "[" * 100 + "]" * 100 + "\n", "nested more than"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcde", "bcdef")), "values once"),
], ids=["deep", "expanding aliases"])
def test_the_limits_run_in_the_libyaml_loader_itself(text, why):
    # Not only in the pure loader it falls back to: Composer, ahead of
    # CParser, composes libyaml's events in Python, through _Limits.
    with pytest.raises(yamlfile._LimitError, match=why):
        yamlfile._CLoader(text).get_single_node()


@pytest.mark.parametrize("edits, expected", [
    ([("      vhid: 1\n", "      vhid: 300\n")], "carpha.yaml:85: groups.web.carp.vhid: 300 is not in 1..255"),
    ([("  kind: lease ", "  kind: leases ")], "carpha.yaml:18: witness.kind: "),
    ([("  serverB: {address: 192.0.2.2}", "  serverB: {address: 192.0.2.2")],
     "carpha.yaml:15: invalid YAML: while parsing a flow mapping at line 14"),
    ([("  serverC: {address: 192.0.2.3}", "  serverC: &c {address: 192.0.2.3, self: *c}")],
     "carpha.yaml:15: refused: alias *c refers to a node that contains it"),
    ([("  serverA: {address: 192.0.2.1}", "  serverA: {address: 192.0.2.1}\n  serverA: {address: 192.0.2.9}")],
     "carpha.yaml:14: nodes.serverA: duplicate key"),
], ids=["bad value", "bad choice", "unclosed flow mapping", "recursive alias", "duplicate key"])
def test_a_refusal_says_the_same_on_both_paths(edits, expected, monkeypatch):
    text = edited(*edits)
    problems = outcome(text, "libyaml", monkeypatch)
    assert isinstance(problems, list) and any(p.startswith(expected) for p in problems), problems
    assert problems == outcome(text, "pure", monkeypatch)


def test_text_only_pure_pyyaml_accepts_is_read_by_it_as_on_a_host_without_libyaml(monkeypatch):
    # libyaml refuses %YAML 1.3 ("found incompatible YAML document"); PyYAML
    # reads any 1.x. The nodes of a cluster share the file: both must take it.
    text = "%YAML 1.3\n---\n" + EXAMPLE
    with pytest.raises(yaml.YAMLError):
        yamlfile._CLoader(text).get_single_node()
    loader, root = yamlfile.compose(text)
    assert isinstance(loader, yamlfile._Loader) and root.start_mark.line == 13
    config = outcome(text, "libyaml", monkeypatch)
    assert config == outcome(text, "pure", monkeypatch)
    assert config.groups == outcome(EXAMPLE, "pure", monkeypatch).groups


@pytest.mark.parametrize("edits", [
    [("  serverA: {address: 192.0.2.1}", "  serverA: {address:\t192.0.2.1}")],     # a tab between tokens
    [("  serverA: {address: 192.0.2.1}", "  serverA: {address: 192.0.2.1}\t")],    # a trailing tab
    [("    jails: [www, db]", "    jails: [www, d?b]")],        # PyYAML ends a flow scalar at '?'
    [("\nwitness:", "\nnote: |#\n  x\nwitness:")],              # a comment glued to a block header
    [("    jails: [www, db]", "    jails: [www,\n      ]\n    x: {a:\n      }")],   # empty flow values
    [("  serverA: {address: 192.0.2.1}", "  serverA: {address:\n    }")],
    [("    jails: [www, db]", "    jails: [www, \ufeffdb]")],    # a U+FEFF inside the text
    [("    jails: [www, db]", "    jails: ! ")],               # an empty "!" scalar: PyYAML says null
], ids=["tab after colon", "trailing tab", "question mark in flow", "block header comment",
        "empty flow values", "empty flow value, next line", "byte order mark", "empty non-specific tag"])
def test_text_libyaml_reads_unlike_pyyaml_gets_the_pure_loaders_answer(edits, monkeypatch):
    text = edited(*edits)
    try:
        pure_tree = composed(text, "pure", monkeypatch)[1]
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            composed(text, "libyaml", monkeypatch)
    else:
        assert composed(text, "libyaml", monkeypatch)[1] == pure_tree
    assert outcome(text, "libyaml", monkeypatch) == outcome(text, "pure", monkeypatch)


@pytest.mark.parametrize("text", [
    "nodes: " + "[" * 200 + "]" * 200 + "\n",
    "a: &a [*a]\n",
    "a: \ud800\n",                      # a lone surrogate: CParser cannot even encode it
    "a: \x01\n",
    "nodes: {}\n---\ngroups: {}\n",
    "",
], ids=["too deep", "self alias", "lone surrogate", "control character", "two documents", "empty"])
def test_refusals_before_any_section_is_read_are_pyyaml_s_on_both_paths(text, monkeypatch):
    problems = outcome(text, "libyaml", monkeypatch)
    assert isinstance(problems, list) and len(problems) == 1
    assert "internal error" not in problems[0]
    assert problems == outcome(text, "pure", monkeypatch)
