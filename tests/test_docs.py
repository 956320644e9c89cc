"""The README's notebook example runs as written (a real doctest, on the real model)."""

from __future__ import annotations

import doctest

from tests.helpers import ROOT


def test_readme_notebook_example(warm_cache_dir, monkeypatch):
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))  # the example's corpus is the warm default
    result = doctest.testfile(str(ROOT / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0
