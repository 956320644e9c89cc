"""The shape of the code: layers without cycles, no borrowed private names, modules of a readable size.

These are read from the source with ``ast`` (nothing is imported), so they hold for lazy imports
inside functions too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

LIBRARY = ROOT / "analysis"
MAX_MODULE_LINES = 600
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"
FIRST_PARTY = ("analysis", "dashboard", "pages", "app")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _library_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import of a library module, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names if alias.name.startswith("analysis"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("analysis") and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((submodule, []) if submodule in modules else (node.module, [alias.name]))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _library_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, _ in _imports(path, modules):
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_library_has_no_import_cycle():
    graph = _graph()
    assert len(graph) > 40  # the walk found the modules
    assert graph["analysis.pipeline.embeddings"] >= {
        "analysis.pipeline.cache",
        "analysis.encoding",
    }  # and their imports
    assert _cycles(graph) == []


def test_the_lazy_faces_export_what_they_list():
    """``analysis`` and ``analysis.pipeline`` load their public names on first use: each listed name
    resolves, and the pipeline's literal ``__all__`` (what linters read) is its table of exports."""
    import analysis
    import analysis.pipeline

    assert analysis.pipeline.__all__ == sorted(analysis.pipeline._EXPORTS)
    for face in (analysis, analysis.pipeline):
        assert all(getattr(face, name) is not None for name in face.__all__)
    # Renamed public names still answer, with a warning that names the new one.
    with pytest.warns(DeprecationWarning, match="analysis.compress_report"):
        assert analysis.compression_report is analysis.compress_report
    assert "compression_report" not in analysis.__all__


# --- the declared layers (docs/architecture.md's ```layers block: the doc and this test read one list) ---


@dataclass(frozen=True)
class Layer:
    name: str
    files: tuple[str, ...]  # paths from the root; one ending in "/" holds every file under it
    imports: frozenset[str]  # the layers below it that it imports, as drawn

    def holds(self, path: str) -> bool:
        return any(path == f or (f.endswith("/") and path.startswith(f)) for f in self.files)


def _expand(pattern: str) -> list[str]:
    """``analysis/{errors,settings}.py`` -> ``analysis/errors.py``, ``analysis/settings.py``."""
    match = re.search(r"\{([^}]*)\}", pattern)
    if match is None:
        return [pattern]
    return [
        p for part in match[1].split(",") for p in _expand(pattern[: match.start()] + part + pattern[match.end() :])
    ]


def _declared_layers(doc: str) -> list[Layer]:
    """The layers of the doc's ```layers block, top first: ``name  files  [──> imported layers]``."""
    block = re.search(r"^```layers\n(.*?)^```", doc, re.S | re.M)
    assert block, f"{ARCHITECTURE_DOC.name} has no ```layers block"
    layers = []
    for line in block[1].splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        left, _, right = line.partition("──>")
        name, *files = left.split()
        layers.append(
            Layer(
                name,
                tuple(f for p in files for f in _expand(p)),
                frozenset(n.strip() for n in right.split(",") if n.strip()),
            )
        )
    return layers


def _module_file(module: str) -> str | None:
    """The file of a first-party module, relative to the root (None for a name that is not a module)."""
    base = Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if (ROOT / candidate).is_file():
            return candidate.as_posix()
    return None


def _import_sites(source: str) -> list[tuple[int, str]]:
    """(line, imported file) for every first-party import at any depth of a source: function bodies,
    ``if TYPE_CHECKING:`` blocks, and the module names a lazy face's ``_EXPORTS`` table imports on use."""
    sites = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [
                f"{node.module}.{a.name}" if _module_file(f"{node.module}.{a.name}") else node.module
                for a in node.names
            ]
        elif isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in targets):
                modules = [
                    v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                ]
        for module in modules:
            target = _module_file(module) if module.split(".")[0] in FIRST_PARTY else None
            if target is not None:
                sites.append((node.lineno, target))
    return sorted(set(sites))


def _layer_of(layers: list[Layer], path: str) -> int:
    found = [i for i, layer in enumerate(layers) if layer.holds(path)]
    assert len(found) == 1, f"{path} is in {len(found)} layers of {ARCHITECTURE_DOC.name}; put it in exactly one"
    return found[0]


def _first_party_files() -> list[str]:
    files = [
        "app.py",
        *(p.relative_to(ROOT).as_posix() for d in ("analysis", "dashboard", "pages") for p in (ROOT / d).rglob("*.py")),
    ]
    return sorted(files)


def _layer_imports(layers: list[Layer], sources: dict[str, str]) -> tuple[list[str], dict[str, set[str]]]:
    """(the upward imports as "file:line imports target (layer under layer)", each layer's imported layers)."""
    upward: list[str] = []
    edges: dict[str, set[str]] = {layer.name: set() for layer in layers}
    for path, source in sorted(sources.items()):
        here = _layer_of(layers, path)
        for line, target in _import_sites(source):
            there = _layer_of(layers, target)
            if there < here:
                upward.append(f"{path}:{line} imports {target} ({layers[here].name} is under {layers[there].name})")
            elif there > here:
                edges[layers[here].name].add(layers[there].name)
    return upward, edges


def test_no_module_imports_from_a_layer_above_its_own():
    """docs/architecture.md declares the layers, top first; a module imports only its own layer and
    those below, wherever the import is (a function body, a TYPE_CHECKING block, a lazy face's table)."""
    layers = _declared_layers(ARCHITECTURE_DOC.read_text(encoding="utf-8"))
    names = [layer.name for layer in layers]
    assert names[-1] == "base" and names[:3] == ["app", "pages", "dashboard"] and len(set(names)) == len(names)
    sources = {path: (ROOT / path).read_text(encoding="utf-8") for path in _first_party_files()}
    assert len(sources) > 100  # the walk found the files
    upward, edges = _layer_imports(layers, sources)
    assert upward == []
    # The arrows drawn are the arrows there are: the picture cannot drift from the code.
    drawn = {layer.name: set(layer.imports) for layer in layers}
    if drawn != edges:
        width = max(len(" ".join(layer.files)) for layer in layers)
        arrows = {layer.name: ", ".join(n for n in names if n in edges[layer.name]) for layer in layers}
        true_block = "\n".join(
            f"{layer.name:<11} {' '.join(layer.files):<{width}}  ──> {arrows[layer.name]}" for layer in layers
        )
        raise AssertionError(
            f"The layers block of {ARCHITECTURE_DOC.name} draws other arrows than the code has:\n{true_block}"
        )


def test_a_planted_upward_import_is_caught():
    """An import from a higher layer is caught wherever it hides: inside a function, under
    TYPE_CHECKING, as ``import x.y``, or in a lazy face's table; same-layer and downward ones pass."""
    layers = _declared_layers(ARCHITECTURE_DOC.read_text(encoding="utf-8"))
    planted = {
        "analysis/measures/planted.py": (
            "from typing import TYPE_CHECKING\n"
            "from analysis.errors import OptionError\n"  # down to base: fine
            "from analysis.measures import stats\n"  # same layer: fine
            "if TYPE_CHECKING:\n"
            "    from analysis.reports.geometry import GeometryReport\n"
            "def f():\n"
            "    import analysis.pipeline.cache\n"
            "    from analysis import encoding\n"
            "_EXPORTS = {'x': 'dashboard.state'}\n"
        ),
    }
    upward, edges = _layer_imports(layers, planted)
    assert [u.split(" (")[0] for u in upward] == [
        "analysis/measures/planted.py:5 imports analysis/reports/geometry.py",
        "analysis/measures/planted.py:7 imports analysis/pipeline/cache.py",
        "analysis/measures/planted.py:8 imports analysis/encoding/__init__.py",
        "analysis/measures/planted.py:9 imports dashboard/state.py",
    ]
    assert edges["measures"] == {"base"}


def test_the_layer_block_reads_as_written():
    layers = _declared_layers("```layers\n# comment\ntop  app.py  ──> low\nlow  analysis/{a,b}.py pkg/\n```\n")
    assert layers == [
        Layer("top", ("app.py",), frozenset({"low"})),
        Layer("low", ("analysis/a.py", "analysis/b.py", "pkg/"), frozenset()),
    ]
    assert layers[1].holds("pkg/x/y.py") and not layers[1].holds("analysis/c.py")


def test_a_planted_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_another_modules_private_names():
    modules = _library_modules()
    borrowed = []
    for folder in ("analysis", "dashboard", "pages", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for target, names in _imports(path, modules):
                borrowed += [f"{path.relative_to(ROOT)}: {target}.{n}" for n in names if n.startswith("_")]
    assert borrowed == []


def test_library_modules_stay_readable():
    long = {
        str(p.relative_to(ROOT)): n
        for p in LIBRARY.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_the_library_knows_nothing_of_the_dashboard():
    modules = _library_modules()
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        assert "import streamlit" not in source and "from streamlit" not in source, name
        assert all(not target.startswith(("pages", "dashboard")) for target, _ in _imports(path, modules)), name
    assert not (LIBRARY / "urlstate.py").exists() and not (LIBRARY / "policy.py").exists()
    assert (ROOT / "dashboard" / "urlstate.py").is_file() and (ROOT / "dashboard" / "policy.py").is_file()


def test_every_option_list_is_defined_once():
    """A tuple of option strings assigned at module level lives only in analysis/options.py."""
    from analysis import options

    lists = {value for name, value in vars(options).items() if name.isupper() and isinstance(value, tuple)}
    copies = []
    for folder in ("analysis", "dashboard", "pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "options.py":
                continue
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Tuple):
                    try:
                        value = ast.literal_eval(node.value)
                    except ValueError:
                        continue
                    if value in lists:
                        copies.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert copies == []


def test_where_a_result_is_stored_is_decided_by_the_caller_in_one_place():
    """Privacy by construction (issue 19): no library function that can encode or store falls back to
    the shared disk cache on its own. A ``store`` parameter has no default; only the two faces that
    mean the disk (the notebook API and the CLI) name ``default_store``, and on the dashboard only
    ``compute.store_for`` does, which sends a public session's uploads to its memory."""
    with_default = []
    for path in sorted(LIBRARY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = args.posonlyargs + args.args
                defaults = dict(zip([a.arg for a in positional][::-1], args.defaults[::-1], strict=False))
                defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d})
                if "store" in defaults:
                    with_default.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert with_default == []

    def naming(folder: Path) -> set[str]:
        return {
            str(p.relative_to(ROOT))
            for p in folder.rglob("*.py")
            if any(
                isinstance(n, ast.Name | ast.alias)
                and "default_store" in (getattr(n, "id", None), getattr(n, "name", None))
                for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            )
        }

    assert naming(LIBRARY) == {"analysis/api.py", "analysis/cli/common.py"}  # cache.py defines it
    assert naming(ROOT / "pages") | naming(ROOT / "dashboard") == {"dashboard/compute.py"}
    dashboard_sources = [*(ROOT / "pages").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py")]
    assert "EmbeddingStore(" not in "".join(p.read_text() for p in dashboard_sources)


# Pages read widgets, call the library and render: numbers are computed in analysis/, never on a page.
PAGE_FORBIDDEN = ("numpy", "analysis.measures")


def _page_analysis_imports(source: str) -> list[str]:
    """Every import of numpy or analysis.measures in ``source``, at any depth (inside functions too)."""

    def forbidden(module: str) -> bool:
        return any(module == f or module.startswith(f + ".") for f in PAGE_FORBIDDEN)

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if forbidden(node.module):
                found.append(node.module)
            else:
                found += [f"{node.module}.{a.name}" for a in node.names if forbidden(f"{node.module}.{a.name}")]
    return sorted(found)


def test_pages_hold_no_analysis():
    found = {
        str(path.relative_to(ROOT)): imports
        for path in sorted((ROOT / "pages").rglob("*.py"))
        if (imports := _page_analysis_imports(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_a_page_importing_analysis_is_caught_at_any_depth():
    source = (
        "import numpy as np\n"
        "from analysis import measures\n"
        "def f():\n"
        "    from analysis.measures.stats import headline\n"
        "    import numpy.linalg\n"
        "from analysis.figures import heatmap\n"  # allowed: pages draw through figures
        "import numpyro\n"  # a different package
    )
    assert _page_analysis_imports(source) == ["analysis.measures", "analysis.measures.stats", "numpy", "numpy.linalg"]
