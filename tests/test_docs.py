"""Every docstring example of the library, and the README's notebook example, run as written
(the examples of ``analysis.__all__``'s names: tests/test_docstrings.py).

One runner for all of them (instead of ``--doctest-modules``) so that they get the per-test
fresh cache like every other test, and so that a module whose examples do not run is a failure.
"""

from __future__ import annotations

import doctest
import functools
import importlib
import inspect
import io

import pytest

import analysis
from tests.helpers import ROOT

MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in (ROOT / "analysis").rglob("*.py")
    if path.name != "__main__.py"
)


# The public names' own examples run in tests/test_docstrings.py, in empty globals as a user pastes
# them; here they would only run a second time (several encode).
PUBLIC_DOCSTRINGS = {
    f"{obj.__module__}.{obj.__qualname__}"
    for obj in map(functools.partial(getattr, analysis), analysis.__all__)
    if inspect.isclass(obj) or inspect.isroutine(obj)
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in doctest.DocTestFinder().find(module):
        if test.name not in PUBLIC_DOCSTRINGS:
            runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()


def test_docstring_examples_exist():
    with_examples = [
        name
        for name in MODULES
        if doctest.DocTestFinder().find(importlib.import_module(name))
        and any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(name)))
    ]
    assert len(with_examples) >= 12, with_examples


def test_readme_notebook_example(warm_cache_dir, monkeypatch):
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))  # the example's corpus is the warm default
    result = doctest.testfile(str(ROOT / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0
