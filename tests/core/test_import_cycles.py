"""No import cycles under lib/carpha: data flows one way (command line ->
engine -> actions -> FreeBSD layer, safety decisions and stored state
below; the simulator its own tree). Static, from the AST, as
../shared/tools/import_cycles.py checks it (its logic is copied here: the
suite never reads ../shared). Imports inside functions count too: a
deferred import is still a dependency."""

import ast
import os

from conftest import LIB


def modules(root):
    base = os.path.dirname(os.path.abspath(root))
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
                if rel.endswith(".__init__"):
                    rel = rel[: -len(".__init__")]
                yield rel, path


def resolve(mod, is_pkg, level, name):
    parts = mod.split(".")
    if not is_pkg:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


def graph(root):
    mods = dict(modules(root))
    names = set(mods)
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        is_pkg = path.endswith("__init__.py")
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve(m, is_pkg, node.level, node.module) if node.level else (node.module or "")
                subs = [f"{base}.{a.name}" for a in node.names]
                # `from pkg import mod` depends on pkg.mod; `from mod import name` on mod
                targets = [t for t in subs if t in names] or [base]
            for t in targets:
                while t and t not in names:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    edges[m].add(t)
    return edges


def sccs(g):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = i[0]
        i[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(g):
        if v not in index:
            visit(v)
    return [sorted(c) for c in out if len(c) > 1]


def cycles(root):
    found = sccs(graph(root))
    # A package __init__ that imports its own submodules to register them is not a cycle worth naming.
    return [c for c in found if not (len(c) >= 2 and all(x.startswith(min(c, key=len) + ".") or x == min(c, key=len)
                                                         for x in c) and len(c) == 2)]


def test_lib_carpha_has_no_import_cycle():
    found = cycles(os.path.join(LIB, "carpha"))
    assert not found, "import cycles in carpha:\n" + "\n".join("  cycle: " + " <-> ".join(c) for c in found)


def test_the_check_sees_carphas_imports_deferred_ones_included():
    # Not vacuous: the graph holds the package, module-level and deferred edges.
    edges = graph(os.path.join(LIB, "carpha"))
    assert "carpha.engine.transitions" in edges["carpha.engine.worker"]          # from . import ..., transitions
    assert "carpha.safety.witness" in edges["carpha.engine.promotion"]           # inside witness_allows()
    assert "carpha.sim.commands" in edges["carpha.sim.host"]       # inside Host.execute()


def test_the_check_names_a_cycle_made_by_a_deferred_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def helper():\n    from .sub import high\n    return high\n")
    (package / "sub" / "__init__.py").write_text("from . import high  # noqa: F401\n")
    (package / "sub" / "high.py").write_text("from ..low import helper\n")
    (package / "alone.py").write_text("import os\nfrom . import low\n")
    assert cycles(str(package)) == [["pkg.low", "pkg.sub.high"]]


# The layers, top to bottom (README "Layout"): a module imports its own
# layer and those below it, never one above.
LAYERS = ["carpha.cli carpha.__main__", "carpha.lab", "carpha.rehearsal", "carpha.ops", "carpha.engine",
          "carpha.actions", "carpha.safety", "carpha.sim", "carpha.host", "carpha.freebsd", "carpha.store",
          "carpha.config carpha.exits carpha.clock carpha.log carpha"]


def layer_of(module):
    ranks = [(len(prefix), rank) for rank, prefixes in enumerate(LAYERS) for prefix in prefixes.split()
             if module == prefix or module.startswith(prefix + ".")]
    return max(ranks)[1]


def upward(edges):
    return sorted(f"{m} -> {t}" for m, targets in edges.items() for t in targets if layer_of(t) < layer_of(m))


def test_nothing_imports_a_layer_above_its_own():
    found = upward(graph(os.path.join(LIB, "carpha")))
    assert not found, "upward imports:\n  " + "\n  ".join(found)


def test_the_layer_check_names_an_upward_import():
    assert upward({"carpha.store.state": {"carpha.engine.worker", "carpha.exits"}}) == [
        "carpha.store.state -> carpha.engine.worker"]
