"""The house rules of docs/architecture.md, checked on the tree itself.

* no import circles between curbside's modules (every import counts: module level, inside a
  function, and under ``TYPE_CHECKING``);
* no module imports a ``_private`` name of another module, or a ``_private`` module from outside
  its package (source, tests and benchmarks alike);
* no module over 800 lines;
* every package's ``__init__`` says what its stage takes in and gives out;
* the module table of docs/architecture.md names every module, and only modules that exist;
* every data file under ``curbside/data`` is versioned and says what it holds.

The checks read the source with :mod:`ast`; the first three also run on small planted trees, so a
check that could never fail would show.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import curbside

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(curbside.__file__).resolve().parent
MAX_LINES = 800


@dataclass(frozen=True)
class Imported:
    """One import statement's target, as written in ``module``."""

    module: str  # the importing module
    target: str  # the module imported from (resolved to one that exists)
    names: tuple[str, ...]  # names taken from it (empty for ``import x``)
    line: int


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package`` under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The longest prefix of ``name`` that is a known module."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str, path: Path, known: dict[str, Path], package: str) -> Iterator[Imported]:
    """Every import of ``package`` modules in ``path``, wherever it stands in the file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    yield Imported(module, _resolve(alias.name, known), (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            if base != package and not base.startswith(package + "."):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:  # "from curbside.web import pages": the module itself
                    yield Imported(module, full, (), node.lineno)
                else:
                    yield Imported(module, _resolve(base, known), (alias.name,), node.lineno)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    known = modules(root, package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for imp in imports_of(module, path, known, package):
            if imp.target != module:
                graph[module].add(imp.target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(files: dict[str, Path], known: dict[str, Path], package: str) -> list[str]:
    """``module:line: what`` for every private name or private module reached from outside."""
    bad = []
    for module, path in files.items():
        for imp in imports_of(module, path, known, package):
            for name in imp.names:
                if _private(name) and imp.target != module:
                    bad.append(f"{module}:{imp.line}: {name} from {imp.target}")
            parts = imp.target.split(".")
            for i, part in enumerate(parts):
                owner = ".".join(parts[:i])  # the package a private module belongs to
                if _private(part) and not (module == owner or module.startswith(owner + ".")):
                    bad.append(f"{module}:{imp.line}: module {imp.target}")
    return bad


def long_modules(root: Path, limit: int = MAX_LINES) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            out.append(f"{path.relative_to(root)}: {lines} lines")
    return out


def _outside_files() -> dict[str, Path]:
    """Tests and benchmarks: they may not reach into private names either."""
    out = {}
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).glob("*.py")):
            out[f"{folder}.{path.stem}"] = path
    return out


# --- the rules, on curbside --------------------------------------------------------------------------


def test_no_import_circles() -> None:
    found = circles(import_graph(PACKAGE, "curbside"))
    assert not found, "import circles (each a set of modules that import one another):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_no_private_names_across_modules() -> None:
    known = modules(PACKAGE, "curbside")
    bad = private_imports({**known, **_outside_files()}, known, "curbside")
    assert not bad, "private names imported from another module (make them public and documented):\n" + (
        "\n".join(bad)
    )


def test_no_module_over_800_lines() -> None:
    assert not long_modules(PACKAGE), long_modules(PACKAGE)


def test_every_package_says_what_it_takes_and_gives() -> None:
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 60, (
            f"{init.relative_to(PACKAGE.parent)} has no docstring saying what it holds"
        )


def test_public_names_do_not_hide_packages() -> None:
    """``curbside.ingest`` is the API function: a subpackage of that name would be unreachable by
    attribute (``import curbside.ingest.x as m`` and ``mock.patch`` walk attributes)."""
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} | {
        p.stem for p in PACKAGE.glob("*.py")
    }
    assert not subpackages & set(curbside.__all__), subpackages & set(curbside.__all__)


def _table_paths(text: str) -> set[str]:
    return set(re.findall(r"`(curbside/[\w/]+\.py)`", text))


def test_the_architecture_doc_names_every_module_and_no_other() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = _table_paths(doc)
    tree = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")}
    assert not tree - named, f"modules missing from docs/architecture.md: {sorted(tree - named)}"
    assert not named - tree, f"docs/architecture.md names modules that do not exist: {sorted(named - tree)}"


def test_every_data_file_is_versioned_and_says_what_it_holds() -> None:
    files = sorted((PACKAGE / "data").glob("*.json"))
    assert len(files) >= 20
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data.get("version"), int), f"{path.name}: no version"
        assert len(data.get("note", "")) > 40, f"{path.name}: no note saying what it holds"


# --- the checks can fail -------------------------------------------------------------------------------


def _plant(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "planted"
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return pkg


def test_a_planted_circle_is_found_even_through_a_function_level_import(tmp_path: Path) -> None:
    pkg = _plant(
        tmp_path,
        {
            "__init__.py": '"""planted"""\n',
            "a.py": "from planted.b import f\n",
            "b.py": "def f() -> None:\n    from planted.c import g\n",
            "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from planted import a\n",
            "d.py": "import planted.a\n",
        },
    )
    assert circles(import_graph(pkg, "planted")) == [["planted.a", "planted.b", "planted.c"]]


def test_planted_private_imports_are_found(tmp_path: Path) -> None:
    pkg = _plant(
        tmp_path,
        {
            "__init__.py": '"""planted"""\n',
            "a.py": "_x = 1\n__version__ = '1'\n",
            "b.py": "from planted.a import _x, __version__\n",
            "inner/__init__.py": '"""inner"""\n',
            "inner/_impl.py": "y = 1\n",
            "inner/ok.py": "from planted.inner._impl import y\n",
            "c.py": "from planted.inner._impl import y\n",
        },
    )
    known = modules(pkg, "planted")
    bad = private_imports(known, known, "planted")
    assert bad == ["planted.b:1: _x from planted.a", "planted.c:1: module planted.inner._impl"]


def test_a_planted_long_module_is_found(tmp_path: Path) -> None:
    pkg = _plant(tmp_path, {"long.py": "x = 1\n" * 801, "short.py": "x = 1\n" * 800})
    assert long_modules(pkg) == ["long.py: 801 lines"]


@pytest.mark.parametrize("text", ["| x | `curbside/nowhere.py` | gone |"])
def test_a_table_row_for_a_missing_module_would_be_caught(text: str) -> None:
    tree = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")}
    assert _table_paths(text) - tree == {"curbside/nowhere.py"}
