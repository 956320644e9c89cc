"""The report as one self-contained HTML file: it opens from disk in any browser with no network.

Plotly's JavaScript is inlined once in the head; every chart is a ``<div>`` and a ``<script>`` that
draws it from its data in the page (plotly's JSON escapes ``<``, ``>`` and ``/``, so no name or text
can close a script). Every text a user supplied (model, corpus, file and column names, texts in the
heatmap's hover) goes through :func:`html.escape` in the page and ``plain(text, "plotly")`` in the
charts. No font, stylesheet, image or script is fetched: the page uses the system's fonts.

Chart ids are numbered in order and the only line that changes between two runs on the same results
is the date, so a report can be diffed and checked into a repository.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.figures.heatmap import HeatmapCap
from analysis.measures import budget as budget_module
from analysis.measures import stats as stats_module
from analysis.share.contents import ShareReport, dimscope_version

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from analysis.pipeline import StatsResult
    from analysis.reports.compress import CompressReport

#: The heatmap's rows in a report: evenly spaced texts, enough to see a dead column, few enough that
#: a 384-dimension model's heatmap stays under 1 MB of the file (~400 x 384 float32 as base64).
REPORT_HEATMAP_CAP = HeatmapCap(max_rows=400, max_cells=400 * 1024, max_bytes=2_000_000)
#: Plotly's options for every chart: interactive (hover, zoom), no link to plotly's site.
CHART_CONFIG = {"displaylogo": False, "responsive": True}
#: plotly.js's cartesian bundle, vendored from npm (see vendor/README.md): a third of the full
#: bundle's size, inlined when it draws every chart of the page and is the version plotly.py ships.
CARTESIAN_BUNDLE = "vendor/plotly-cartesian.min.js"
CARTESIAN_TRACES = frozenset(
    {"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour", "image", "pie",
     "scatter", "scatterternary", "violin"}
)  # fmt: skip
_BUNDLE_VERSION = re.compile(r"\A/\*\*\s*\* plotly\.js \([^)]*\) v(\S+)")

_STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --dead: #D55E00; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.25em; margin-top: 2em;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.muted, .generated { color: var(--muted); }
dl.provenance { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.provenance dt { color: var(--muted); } dl.provenance dd { margin: 0; overflow-wrap: anywhere; }
.headline { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.metric { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 150px; }
.metric .label { color: var(--muted); font-size: .85em; } .metric .value { font-size: 1.5em; }
.dead { color: var(--dead); font-weight: 600; }
.chart { margin: 8px 0 24px; }
table { border-collapse: collapse; font-size: .85em; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px; padding: 10px;
      white-space: pre-wrap; overflow-wrap: anywhere; }
.verdict { border-left: 4px solid #0072B2; padding: 6px 12px; background: #f0f6fb; }
"""


def esc(text: Any) -> str:
    """Text shown as written in the page (never markup), quotes included for attributes."""
    return html.escape(str(text), quote=True)


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    return str(value)


def html_table(frame: pd.DataFrame, *, digits: int = 4) -> str:
    """A DataFrame as an HTML table: every cell escaped, numbers with ``digits`` significant digits."""
    head = "".join(f"<th>{esc(column)}</th>" for column in frame.columns)
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{esc(_number(value, digits))}</td>" for value in row) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"


class _Charts:
    """Numbers the charts of one page in order, so that the same report always has the same ids."""

    def __init__(self) -> None:
        self.count = 0
        self.trace_types: set[str] = set()  # what the page's plotly.js must be able to draw

    def __call__(self, fig: go.Figure, caption: str = "") -> str:
        """The chart's ``<div>`` and drawing ``<script>``, and ``caption`` (plain text) under it."""
        import plotly.io as pio

        self.count += 1
        self.trace_types.update(trace.type for trace in fig.data)
        div = pio.to_html(
            fig, full_html=False, include_plotlyjs=False, div_id=f"chart-{self.count}", config=CHART_CONFIG
        )
        note = f'<p class="muted">{esc(caption)}</p>' if caption else ""
        return f'<div class="chart">{div}</div>\n{note}'


def _dims(dims: Iterable[int]) -> str:
    listed = ", ".join(str(int(d)) for d in dims)
    return listed or "none"


def _header(report: ShareReport, date: str) -> str:
    r = report.result
    rows = [
        ("Model", r.model_name),
        ("Fingerprint", r.fingerprint),
        ("Corpus", r.corpus_name),
        ("Corpus hash", r.corpus_hash),
        ("Texts", f"{r.n_texts:,}"),
        ("Backend", r.backend_summary),
        ("DimScope", dimscope_version()),
    ]
    if report.compared:
        rows.insert(1, ("Compared with", ", ".join(report.compared)))
    if report.compress is not None:
        rows.append(("Retrieval task", report.compress.task))
    items = "\n".join(f"<dt>{esc(key)}</dt><dd>{esc(value)}</dd>" for key, value in rows)
    return (
        f"<header>\n<h1>DimScope report: {esc(r.model_name)} on {esc(r.corpus_name)}</h1>\n"
        f'<p class="generated">Generated {esc(date)}</p>\n<dl class="provenance">\n{items}\n</dl>\n</header>'
    )


def budget_sentence(b: budget_module.VarianceBudget) -> str:
    """The variance budget in one sentence of plain text (Unicode; the caller escapes it)."""
    return (
        f"Each normalized vector has unit length, and its squared length splits into ‖μ‖² = {b.mean_norm_sq:.4f} "
        f"(the direction every text shares; the mean cosine between two texts is {b.mean_cosine:.4f}) and a total "
        f"variance of {b.total_variance:.4f} spread over the {b.dimension:,} dimensions; effective dimensions "
        f"{b.effective_dims:.1f} of {b.dimension:,}; the top {b.top1pct_dims} dimension(s) (1%) hold "
        f"{b.top1pct_share:.1%} of the variance."
    )


def _median_std(r: StatsResult, view: str) -> float:
    return float(np.median(r.columns(view)["std"])) if r.dimension else float("nan")


def _headline(r: StatsResult) -> str:
    medians = {view: _median_std(r, view) for view in ("raw", "normalized")}
    threshold = stats_module.DEAD_RELATIVE_THRESHOLD
    metrics = [
        ("Dimensions", f"{r.dimension:,}"),
        ("Dead dimensions", str(len(r.dead_dims))),
        ("Median std (normalized)", f"{medians['normalized']:.4g}"),
        ("Median std (raw)", f"{medians['raw']:.4g}"),
        ("Texts", f"{r.n_texts:,}"),
    ]
    cards = "".join(
        f'<div class="metric"><div class="label">{esc(k)}</div><div class="value">{esc(v)}</div></div>'
        for k, v in metrics
    )
    if r.dead_dims:
        dead = f'Dead dimensions: <span class="dead">{esc(_dims(r.dead_dims))}</span>'
    else:
        dead = "No dead dimension in this model on this corpus"
    rule = f"(normalized std below {threshold:.0%} of the median std)"
    constant = (
        f"<p>Constant in the raw view (never varies, at a non-zero value): {esc(_dims(r.constant_dims))}.</p>"
        if r.constant_dims
        else ""
    )
    warnings = "".join(f'<p class="muted">Note: {esc(w)}</p>' for w in r.warnings)
    return (
        f'<section id="headline">\n<h2>Headline</h2>\n<div class="headline">{cards}</div>\n'
        f"<p>{dead} {esc(rule)}.</p>\n{constant}"
        f"<p><b>Variance budget.</b> {esc(budget_sentence(r.budget))}</p>\n{warnings}</section>"
    )


def _spread(report: ShareReport, chart: _Charts) -> str:
    from analysis.figures import comparison

    r = report.result
    models = report.models
    parts = [
        '<section id="spread">\n<h2>The spread of every dimension</h2>',
        chart(
            r.plot_std("normalized"),
            "Normalized view (unit-length vectors, what the model returns), log scale: each dot is one dimension's "
            "standard deviation over the corpus; dead dimensions in vermillion.",
        ),
        chart(r.plot_std("raw"), "Raw view (the pooled vector before the model's Normalize), same axes."),
    ]
    if r.source is not None:  # statistics built by hand have no embeddings to draw
        parts.append(
            chart(
                r.plot_heatmap("normalized", cap=REPORT_HEATMAP_CAP),
                f"Texts × dimensions of the normalized view: at most {REPORT_HEATMAP_CAP.max_rows} texts, evenly "
                "spaced through the corpus (grouped by label when it has labels); hover a cell for its text and value.",
            )
        )
    parts.append(
        chart(
            comparison.raw_vs_normalized(
                {name: m.raw for name, m in models.items()},
                {name: m.normalized for name, m in models.items()},
                dead={name: m.dead_dims for name, m in models.items()},
            ),
            "Every dimension's std sorted largest first, raw view left and normalized right: dead dimensions sit "
            "far below the rest in both.",
        )
    )
    return "\n".join(parts) + "\n</section>"


def _compare(report: ShareReport, chart: _Charts) -> str:
    from analysis.figures import budget, comparison, stat_tables

    models = report.models
    dead = {name: r.dead_dims for name, r in models.items()}
    curves = chart(
        comparison.sorted_std_curves({name: r.normalized for name, r in models.items()}, dead=dead),
        "Rank-aligned: rank i of a d-dimensional model sits at i / (d − 1), so models of any width line up.",
    )
    return (
        f'<section id="compare">\n<h2>Compared with other models on {esc(report.result.corpus_name)}</h2>\n'
        f"{curves}\n{html_table(stat_tables.compare_summary(models))}\n"
        f"<p>The variance budget of each (normalized view):</p>\n"
        f"{html_table(budget.budget_table({name: r.budget for name, r in models.items()}))}\n</section>"
    )


def _compress(scored: CompressReport, chart: _Charts) -> str:
    from analysis.figures import compress as figs

    table = figs.variant_table(scored.variants)
    return (
        f'<section id="drop">\n<h2>What can I drop? Storage against retrieval quality on {esc(scored.task)}</h2>\n'
        f'<p class="verdict">{esc(scored.verdict)}</p>\n'
        + chart(
            figs.pareto_chart(scored.variants),
            f"{scored.n_queries:,} queries against {scored.n_documents:,} documents, normalized embeddings. "
            "Retention is a variant's nDCG@10 divided by float32's; bytes are per stored document vector.",
        )
        + f"\n<p>Matryoshka: {esc(scored.matryoshka)}</p>\n"
        f"<details><summary>Every variant</summary>\n{html_table(table)}\n</details>\n</section>"
    )


def _statistics(r: StatsResult) -> str:
    from analysis.figures import stat_tables

    tables = "\n".join(
        f"<details><summary>Per-dimension statistics, {view} view ({r.dimension:,} rows)</summary>\n"
        f"{html_table(stat_tables.stats_table(r.view(view), r.dead_dims))}\n</details>"
        for view in ("normalized", "raw")
    )
    return f'<section id="statistics">\n<h2>Statistics</h2>\n{tables}\n</section>'


def _method(report: ShareReport) -> str:
    r = report.result
    threshold = stats_module.DEAD_RELATIVE_THRESHOLD
    views = "".join(f"<li><b>{esc(view)}</b>: {esc(meaning)}</li>" for view, meaning in r.views.items())
    items = [
        f"A dimension is <b>dead</b> when its standard deviation in the normalized view is below {threshold:.0%} "
        f"of the median standard deviation of all dimensions (rule: normalized std &lt; {threshold} × median std).",
        f"The two views:<ul>{views}</ul>",
        "Standard deviations and variances are population statistics (ddof = 0) over every text of the corpus, "
        "accumulated in float64.",
        f"Variance budget: {esc(budget_module.BUDGET_RULE)}.",
        f"The heatmap shows at most {REPORT_HEATMAP_CAP.max_rows} texts taken at evenly spaced positions; "
        "its colour scale is centred on zero and clipped at the 99.5th percentile of |value|.",
    ]
    if report.compress is not None:
        items.append(
            "Storage test: every variant ranks the documents for each query; nDCG@10 of the variant over nDCG@10 of "
            f"float32 is its retention. Dead dimensions there: {esc(report.compress.dead_rule)}. Random-k is the "
            f"mean of {report.compress.n_draws} draws. Matryoshka: {esc(report.compress.matryoshka_rule)}."
        )
    listed = "\n".join(f"<li>{item}</li>" for item in items)
    return f'<section id="method">\n<h2>How the numbers were computed</h2>\n<ul>\n{listed}\n</ul>\n</section>'


def _reproduce(report: ShareReport) -> str:
    return (
        '<section id="reproduce">\n<h2>Reproduce</h2>\n'
        "<p>With DimScope installed (<code>pip install dimscope</code>), this command rebuilds the report "
        "from the same model and corpus:</p>\n"
        f"<pre><code>{esc(report.command)}</code></pre>\n</section>"
    )


def vendored_bundle_version(text: str) -> str | None:
    """The version in a plotly.js partial bundle's banner (``/** * plotly.js (cartesian - minified) v4.1.1``)."""
    found = _BUNDLE_VERSION.match(text)
    return found.group(1) if found else None


def plotly_bundle(trace_types: Iterable[str]) -> str:
    """The plotly.js to inline: the vendored cartesian bundle when it can draw ``trace_types`` and is
    plotly.py's own version (so the figures' JSON and the JavaScript agree), else plotly's full bundle."""
    from importlib.resources import files

    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    if set(trace_types) <= CARTESIAN_TRACES:
        try:
            text = files("analysis.share").joinpath(CARTESIAN_BUNDLE).read_bytes().decode("utf-8")
        except FileNotFoundError:  # an install without the vendored file: the full bundle draws the same
            text = ""
        if text and vendored_bundle_version(text) == get_plotlyjs_version():
            return text
    return get_plotlyjs()


def html_report(report: ShareReport, *, date: str) -> str:
    """The whole page for ``report``; ``date`` (:func:`analysis.share.contents.report_date`) is its one varying line."""
    chart = _Charts()
    r = report.result
    sections = [_header(report, date), _headline(r), _spread(report, chart)]
    if report.compared:
        sections.append(_compare(report, chart))
    if report.compress is not None:
        sections.append(_compress(report.compress, chart))
    sections += [_statistics(r), _method(report), _reproduce(report)]
    body = "\n\n".join(sections)
    title = esc(f"DimScope: {r.model_name} on {r.corpus_name}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # Nothing may load from elsewhere: the page is one file, read offline.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:\">\n"
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n"
        f'<script charset="utf-8">{plotly_bundle(chart.trace_types)}</script>\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def html_bytes(report: ShareReport, *, date: str) -> bytes:
    """:func:`html_report` encoded as UTF-8: what the CLI writes and the dashboard's button downloads."""
    return html_report(report, date=date).encode("utf-8")
