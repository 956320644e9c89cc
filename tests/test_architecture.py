"""The shape of the code: layers without cycles, no borrowed private names, modules of a readable size.

These are read from the source with ``ast`` (nothing is imported), so they hold for lazy imports
inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

LIBRARY = ROOT / "analysis"
MAX_MODULE_LINES = 600


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
