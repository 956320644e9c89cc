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
* :mod:`~analysis.figures.diagnosis`: the weight scan (why dimensions die);
* :mod:`~analysis.figures.geometry`: spectrum, rogue dimensions, cosine histograms;
* :mod:`~analysis.figures.selection`: scores against the number of dimensions kept;
* :mod:`~analysis.figures.languages`: spread per language, parallel-text agreement;
* :mod:`~analysis.figures.compress`: what each storage choice keeps, and what it costs;
* :mod:`~analysis.figures.view_matrix`: lazy matrix views and the heatmap's orders;
* :mod:`~analysis.figures.stat_tables`: per-dimension tables, one dimension's texts, comparison tables;
* :mod:`~analysis.figures.report_tables`: tables of the insight reports;
* :mod:`~analysis.figures.downloads`: download bytes (CSV with formulas neutralised, Parquet).

Import the module you need: a page that draws one chart must not pay for pandas.
"""
