"""The command line: ``python -m analysis`` or ``dimscope``.

* :mod:`~analysis.cli.main`: the parser and :func:`main` (exit codes 0, 1 internal, 2 bad input);
* :mod:`~analysis.cli.common`: argument groups, progress bar, output paths, JSON;
* :mod:`~analysis.cli.commands`: models, corpora, embed, stats;
* :mod:`~analysis.cli.report_commands`: diagnose, geometry, select, multilingual.
"""

from analysis.cli.main import main

__all__ = ["main"]
