"""Every public name (``analysis.__all__``) documented so a user can copy from it.

Each gets a numpydoc docstring (the style of scikit-learn and sentence-transformers): Parameters that
match the signature, Returns (functions) or Attributes that exist (classes), and an Examples section
that runs here, offline, as written. The examples run in empty globals, so each one imports what it
uses and a user can paste it into a notebook; ``DIMSCOPE_CACHE_DIR`` points at a temporary folder
(shared by this module's tests, so the examples' encodes of the same texts are reused), never at the
user's cache.

A constant cannot carry ``__doc__``: its docstring is the string literal right after its assignment
(an attribute docstring, as Sphinx reads it), found here in the source.
"""

from __future__ import annotations

import ast
import doctest
import functools
import inspect
import io
import re
from pathlib import Path

import pytest

import analysis
from tests.helpers import ROOT

PUBLIC = sorted(analysis.__all__)

# Examples that load all-MiniLM-L6-v2 (importing sentence_transformers alone takes seconds here).
ENCODES = {
    "CompressReport",
    "EmbeddingResult",
    "EncodeOptions",
    "GeometryReport",
    "MultilingualReport",
    "SelectionReport",
    "StatsResult",
    "compress_report",
    "geometry_report",
    "get_embeddings",
    "get_stats",
    "multilingual_report",
    "selection_report",
    "stats",
}

SECTION = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n(?P<rule>-+)$", re.MULTILINE)
ENTRY = re.compile(r"^(?P<names>\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: : .+)?$")


def is_constant(obj: object) -> bool:
    return not (inspect.isclass(obj) or inspect.isroutine(obj))


@functools.cache
def attribute_docstrings() -> dict[str, list[str | None]]:
    """Every name assigned at the top of a module under analysis/, with the string literal that
    follows each assignment (None where none does)."""
    found: dict[str, list[str | None]] = {}
    for path in sorted((ROOT / "analysis").rglob("*.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for statement, following in zip(body, [*body[1:], None], strict=False):
            targets = statement.targets if isinstance(statement, ast.Assign) else []
            if isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            literal = (
                following.value.value
                if isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                else None
            )
            for target in targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(literal and inspect.cleandoc(literal))
    return found


def attribute_docstring(name: str) -> str | None:
    """The docstring of a constant: the string literal after its one top-level assignment."""
    assignments = attribute_docstrings().get(name, [])
    assert len(assignments) <= 1, f"{name} is assigned at the top of {len(assignments)} modules"
    return assignments[0] if assignments else None


def docstring(name: str) -> str:
    obj = getattr(analysis, name)
    text = attribute_docstring(name) if is_constant(obj) else inspect.getdoc(obj)
    assert text, f"analysis.{name} has no docstring"
    return text


def sections(text: str) -> dict[str, str]:
    """numpydoc sections: a title line, a rule of dashes as long as it, then the body."""
    matches = [m for m in SECTION.finditer(text) if len(m["rule"]) == len(m["title"])]
    return {
        m["title"]: text[m.end() : following.start() if following else len(text)]
        for m, following in zip(matches, [*matches[1:], None], strict=False)
    }


def entries(body: str) -> list[str]:
    """The names a Parameters or Attributes section documents (its unindented lines)."""
    names = []
    for line in body.strip("\n").splitlines():
        if line and not line[0].isspace():
            match = ENTRY.match(line)
            assert match, f"not a numpydoc entry line: {line!r}"
            names.extend(match["names"].split(", "))
    return names


def signature_names(obj: object) -> list[str]:
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    parameters = inspect.signature(obj).parameters.values()
    return [stars.get(p.kind, "") + p.name for p in parameters if p.name != "self"]


def class_attributes(cls: type) -> set[str]:
    fields = getattr(cls, "__dataclass_fields__", {})
    return set(fields) | {a for a in dir(cls) if not a.startswith("_")}


@pytest.mark.parametrize("name", PUBLIC)
def test_numpydoc_sections(name):
    obj = getattr(analysis, name)
    found = sections(docstring(name))
    assert "Examples" in found, f"analysis.{name}: no Examples section"
    if inspect.isroutine(obj):
        assert "Returns" in found, f"analysis.{name}: no Returns section"
        documented = entries(found.get("Parameters", ""))
        assert documented == signature_names(obj), f"analysis.{name}: Parameters do not match the signature"
    elif inspect.isclass(obj) and not issubclass(obj, BaseException):
        assert "Attributes" in found, f"analysis.{name}: no Attributes section"
        unknown = set(entries(found["Attributes"])) - class_attributes(obj)
        assert not unknown, f"analysis.{name}: Attributes names no attribute {sorted(unknown)}"
        if "Parameters" in found:
            documented = entries(found["Parameters"])
            assert documented == signature_names(obj), f"analysis.{name}: Parameters do not match the signature"


@pytest.fixture(scope="module")
def examples_cache_dir(tmp_path_factory) -> Path:
    """One cache folder for all the examples of this module: the same texts are encoded once."""
    return tmp_path_factory.mktemp("docstring-cache")


def run_examples(name: str) -> tuple[doctest.TestResults, str]:
    """Run one public name's examples as a user would paste them: empty globals, no module names."""
    text = docstring(name)
    test = doctest.DocTestParser().get_doctest(text, {}, f"analysis.{name}", None, 0)
    assert test.examples, f"analysis.{name} has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    result = runner.run(test, out=report.write)
    test.globs.clear()  # results hold models and stores: let them go with the test
    return result, report.getvalue()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ENCODES else n for n in PUBLIC])
def test_examples_run(name, examples_cache_dir, monkeypatch):
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(examples_cache_dir))
    result, report = run_examples(name)
    assert result.failed == 0, report


def test_a_failing_example_fails(monkeypatch):
    """The runner really reports a wrong output (so a green run means the examples ran as written)."""
    monkeypatch.setattr(analysis.corpus_from_texts, "__doc__", ">>> 1 + 1\n3\n")
    result, report = run_examples("corpus_from_texts")
    assert result.failed == 1 and "Expected:\n    3\nGot:\n    2" in report
