"""Figures and tables: what a page shows, as pure functions (data in, plotly figure or DataFrame out).

Nothing here shows, writes or caches anything, so tests call every builder without a server and
check the structure with ``fig.to_dict()``. Modules:

* :mod:`~analysis.figures.style`: the one palette and layout;
* :mod:`~analysis.figures.axes`: linear and log value axes, the log floor for dead dimensions;
* :mod:`~analysis.figures.heatmap`: texts x dimensions;
* :mod:`~analysis.figures.spread`: one model's per-dimension spread, one dimension in detail;
* :mod:`~analysis.figures.comparison`: several models side by side;
* :mod:`~analysis.figures.budget`: spread-scale titles, the budget table and sentences, crowding by label;
* :mod:`~analysis.figures.corpus`: a corpus's labels;
* :mod:`~analysis.figures.geometry`: weight scan, spectrum, rogue dims, cosines, selection, languages;
* :mod:`~analysis.figures.tables`: lazy matrix views, orders, tables and safe downloads.

Import the module you need: a page that draws one chart must not pay for pandas.
"""
