"""The import graph: no cycles, the two backends independent, the CLI a thin layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kdlab"


def _module_name(path: Path) -> str:
    parts = ["kdlab", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """kdlab modules imported anywhere in ``path`` (top level or inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("kdlab"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("kdlab"):
                continue
            out.add(mod)
            for a in node.names:  # ``from . import theory`` imports a module
                if (SRC.parent / (mod + "." + a.name).replace(".", "/")).with_suffix(".py").exists() or \
                        (SRC.parent / (mod + "." + a.name).replace(".", "/") / "__init__.py").exists():
                    out.add(mod + "." + a.name)
    return out - {name}


GRAPH = {_module_name(p): _imports(p) for p in SRC.rglob("*.py")}


def _imports_of_tree(tree, path):
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            out.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kdlab"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("kdlab"))
    return out - {name}


def find_cycle(graph: dict[str, set[str]]):
    """A cycle of the graph as a list of nodes (``None`` if there is none); a package importing
    its own submodules does not count."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if n not in graph or n.startswith(m + "."):
                continue
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if state.get(n) is None and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if state.get(m) is None and (c := visit(m)):
            return c
    return None


def test_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"p": {"p.x"}, "p.x": set()}) is None


def test_no_import_cycles_at_import_time():
    graph = {_module_name(p): _imports_of_tree(ast.parse(p.read_text()), p) for p in SRC.rglob("*.py")}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_no_import_cycles_counting_imports_inside_functions():
    cycle = find_cycle(GRAPH)
    assert cycle is None, " -> ".join(cycle)


#: The layers of docs/architecture.md: a module imports only from its own layer or below.
LAYERS = {
    "kdlab.errors": 0, "kdlab.params": 0, "kdlab.io": 0, "kdlab.values": 0, "kdlab.progress": 0,
    "kdlab.data": 1, "kdlab.stages": 1, "kdlab.problem": 1, "kdlab.losses": 1, "kdlab.results": 1,
    "kdlab.simulation": 2, "kdlab.theory": 2,
    "kdlab.runs": 3, "kdlab.checks": 3,
    "kdlab.reporting": 4,
    "kdlab.talk": 5, "kdlab.studies": 5, "kdlab.experiments": 5, "kdlab.estimator": 5, "kdlab.torch": 5,
    "kdlab.workflows": 1,
    "kdlab.cli": 6, "kdlab.__main__": 6,
}
#: Applications of one layer do not import each other (they share the layers below).
APPLICATIONS = ("kdlab.talk", "kdlab.studies", "kdlab.experiments")


def _layer(module: str):
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else (best, LAYERS[best])


def test_every_module_has_a_layer():
    assert not [m for m in GRAPH if m != "kdlab" and _layer(m) is None]


def test_imports_go_down_the_layers():
    bad = []
    for m, imps in GRAPH.items():
        if m == "kdlab":
            continue
        pm, lm = _layer(m)
        for i in imps:
            if i == "kdlab":
                continue  # ``from .. import __version__``: the root's version string
            li = _layer(i)
            if li is None:
                continue
            pi, level = li
            if level > lm or (pm != pi and pm in APPLICATIONS and pi in APPLICATIONS):
                bad.append(f"{m} -> {i}")
    assert not bad, bad


def test_the_package_root_imports_the_model_and_the_backends_only():
    """``import kdlab`` loads the model and the two backends; everything built on them (runs,
    reporting, the talk, the studies) is loaded on first use."""
    assert all(_layer(i)[1] <= 2 for i in GRAPH["kdlab"] if i != "kdlab"), GRAPH["kdlab"]
    import subprocess
    import sys

    code = ("import sys, kdlab; print(sorted(m for m in sys.modules if m.startswith(('kdlab.runs', "
            "'kdlab.talk', 'kdlab.studies', 'kdlab.reporting', 'kdlab.cli'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    out = subprocess.run([sys.executable, "-c", "import kdlab; print(kdlab.talk.reproduce.__module__)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "kdlab.talk._run" or out.strip().startswith("kdlab.")


def test_no_module_imports_another_packages_private_modules():
    bad = []
    for m, imps in GRAPH.items():
        for i in imps:
            parts = i.split(".")
            private = [k for k, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")]
            if not private:
                continue
            owner = ".".join(parts[:private[0]])  # the package the private module belongs to
            if not (m == owner or m.startswith(owner + ".")):
                bad.append(f"{m} -> {i}")
    assert not bad, bad


@pytest.mark.parametrize("a, b", [("kdlab.simulation", "kdlab.theory"), ("kdlab.theory", "kdlab.simulation")])
def test_backends_do_not_import_each_other(a, b):
    offenders = {m: sorted(i for i in imps if i == b or i.startswith(b + "."))
                 for m, imps in GRAPH.items() if m == a or m.startswith(a + ".")}
    assert not {m: v for m, v in offenders.items() if v}


def test_library_does_not_import_the_cli():
    offenders = {m: sorted(i for i in imps if i.startswith("kdlab.cli"))
                 for m, imps in GRAPH.items() if not m.startswith("kdlab.cli") and m != "kdlab.__main__"}
    assert not {m: v for m, v in offenders.items() if v}


def test_cli_does_no_numerics():
    """The command modules parse arguments and call library functions: no numpy, scipy or
    pandas computation of their own."""
    for path in (SRC / "cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and not n.level}
        assert not mods & {"numpy", "scipy", "sklearn"}, (path.name, mods & {"numpy", "scipy", "sklearn"})
