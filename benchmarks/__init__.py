"""DimScope's benchmark suite: ``python -m benchmarks [--quick]``.

Each benchmark returns :class:`benchmarks.common.Figure` records (figure, value, target, verdict).
The runner prints them as a table and writes JSON to ``benchmarks/results/``. Figures are ratios
measured within one run, or absolute values that come with the machine they were measured on.
"""
