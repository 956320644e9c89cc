"""Explore a model: heatmap of texts x dimensions, per-dimension spread, statistics table."""

import streamlit as st

import dashboard as ui
from analysis import options
from analysis.figures import budget, downloads, heatmap, stat_tables
from analysis.figures.spread import std_bar_chart
from dashboard import urlstate
from dashboard.report_button import report_button

ctx = ui.context()
st.title("Explore a model")

# Guard and compute: statistics first (cheap when cached), then the embeddings for the heatmap.
result = ui.stats_or_stop(ctx)
embeddings = ui.embeddings_or_stop(ctx)
corpus = ctx.corpus
frame = result.view(ctx.view)
dead = result.dead_dims
head = result.headline(ctx.view)

st.caption(f"{ui.subject(ctx, result.model_name, result.corpus_name)} · {ctx.view} view")
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("Dimensions", f"{head['dimension']:,}")
m2.metric("Texts", f"{result.n_texts:,}")
m3.metric("Dead dimensions", len(dead), help=", ".join(map(str, dead)) or "none")
m4.metric("Median std", f"{head['median_std']:.4g}")
m5.metric("Smallest std / median", f"{head['min_std'] / head['median_std']:.2g}" if head["median_std"] else "n/a")
report_button(ctx, result, key="explore_report")

# --- heatmap ---------------------------------------------------------------------------------------
st.subheader("Texts × dimensions")
# Two rows, so that no box is narrower than its longest choice ("std (largest first)") at 1280 px.
c1, c5 = st.columns([3, 1], vertical_alignment="bottom")
c2, c3, c4 = st.columns(3, vertical_alignment="bottom")
with c1:
    heat = ui.bind(
        "heat",
        st.segmented_control,
        "Values",
        list(options.HEATMAP_VIEWS),
        required=True,
        help="Standardized: each dimension z-scored over the corpus (normalized view); dead dimensions "
        "keep a floor on their std so their noise is not blown up.",
    )
with c2:
    sort = ui.bind(
        "sort",
        st.selectbox,
        "Order dimensions by",
        list(options.DIM_ORDERS),
        format_func=options.DIM_ORDER_LABELS.get,
    )
with c3:
    rows_how = ui.bind(
        "rows",
        st.selectbox,
        "Order texts by",
        list(options.ROW_ORDERS),
        format_func=options.ROW_ORDER_LABELS.get,
        disabled=corpus.labels is None,
        help=None if corpus.labels is not None else "This corpus has no labels.",
    )
with c4:
    key = ui.widget_key("dims")
    if key not in st.session_state:
        st.session_state[key] = ctx.state.dims
    typed = st.text_input("Dimensions", key=key, placeholder=f"all (0-{result.dimension - 1}); e.g. 0-63,127")
    try:
        wanted = urlstate.parse_dims(typed.strip()) if typed.strip() else None
        ui.update(dims=urlstate.dims_to_spec(wanted) if wanted else "")
    except ValueError as exc:
        st.error(f"{ui.plain(str(exc))}.")
        wanted = urlstate.parse_dims(ui.state().dims) if ui.state().dims else None

with c5:
    every_text = ui.bind(
        "full",
        st.toggle,
        "Every text",
        help=f"Draw up to {heatmap.FULL_MAX_ROWS:,} texts instead of about one per pixel row "
        f"({heatmap.DEFAULT_MAX_ROWS:,}); slower to draw in the browser.",
    )

dims_shown = None
if wanted is not None:
    dims_shown = [d for d in wanted if d < result.dimension]
    if len(dims_shown) < len(wanted):
        st.info(
            f"This model has {result.dimension} dimensions (0-{result.dimension - 1}); "
            f"{len(wanted) - len(dims_shown)} requested dimension(s) left out."
        )
    if not dims_shown:
        st.info("None of the requested dimensions exists in this model; showing all.")
        dims_shown = None

ui.plot(
    result.plot_heatmap(
        heat,
        order=sort,
        dims=dims_shown,
        every_text=every_text,
        group_by_label=rows_how == "label",
        embeddings=embeddings,  # already read for this session: the method need not read the store again
    ),
    key="explore_heatmap",
)

# --- per-dimension spread ----------------------------------------------------------------------------
st.subheader("How much each dimension varies")
b1, b2, b3, b4 = st.columns(4)
with b1:
    metric = ui.bind("metric", st.radio, "Measure", list(options.SPREAD_METRICS), horizontal=True)
with b2:
    bars = ui.bind(
        "bars",
        st.radio,
        "Order",
        list(options.BAR_ORDERS),
        horizontal=True,
        format_func=options.BAR_ORDER_LABELS.get,
    )
with b3:
    log_y = ui.bind("log", st.toggle, "Log scale")
with b4:
    threshold = ui.bind(
        "threshold",
        st.number_input,
        "Threshold (× median)",
        min_value=urlstate.THRESHOLD_RANGE[0],
        max_value=urlstate.THRESHOLD_RANGE[1],
        step=0.01,
        format="%.4g",
        help="Draws a line at this multiple of the median and colours the dimensions below it. "
        "The dead rule is 0.01 × the median std of the normalized view.",
    )
scale = ui.bind(
    "scale",
    st.segmented_control,
    "Scale",
    list(options.SPREAD_SCALES),
    format_func=options.SPREAD_SCALE_LABELS.get,
    required=True,
    help="std × √d removes the dimension count (1.0 = an even share of unit vectors, whatever d); "
    "share: each dimension's share of the total variance.",
)
shown = budget.spread_name(scale, metric)
cut = result.spread_cut(ctx.view, metric=metric, scale=scale, multiple=float(threshold))
line = cut.line
ui.plot(
    std_bar_chart(
        frame,
        dead_dims=dead,
        sort=bars == "sorted",
        log_y=log_y,
        threshold=line,
        metric=metric,
        view_name=ctx.view,
        threshold_label=f"{threshold:g} × median {shown}",
        scale=scale,
    ),
    key="explore_bars",
)
st.caption(
    f"{cut.n_below} dimension(s) below {threshold:g} × the median {shown} ({line:.3g}); "
    f"{len(dead)} dead by the rule ({', '.join(map(str, dead)) or 'none'})."
)

# --- table -------------------------------------------------------------------------------------------
st.subheader("Per-dimension statistics")
table = stat_tables.stats_table(frame, dead)
st.dataframe(
    table,
    hide_index=True,
    height=360,
    column_config={
        "dim": st.column_config.NumberColumn("dim", format="%d"),
        "dead": st.column_config.CheckboxColumn("dead"),
        "near_zero_share": st.column_config.ProgressColumn(
            "near-zero share", min_value=0.0, max_value=1.0, format="percent"
        ),
    },
)
export = table.copy()
export.insert(0, "model", result.model_name)
export.insert(1, "corpus", result.corpus_name)
export.insert(2, "view", ctx.view)
named = {"model": result.model_name, "subject": result.corpus_name, "what": f"{ctx.view}-stats"}
buttons = st.container(horizontal=True)
ui.download("Download CSV", downloads.safe_csv_bytes(export), **named, ext="csv", mime="text/csv", where=buttons)
ui.download(
    "Download Parquet",
    downloads.parquet_bytes(export),
    **named,
    ext="parquet",
    mime="application/vnd.apache.parquet",
    where=buttons,
)

# --- per-label crowding ------------------------------------------------------------------------------
st.subheader("Crowding by label")
if corpus.labels is None:
    st.info("This corpus has no labels: upload one with a label column to split its spread by topic.")
else:
    crowding = result.label_crowding(embeddings=embeddings)  # the embeddings the heatmap already holds
    k1, k2, k3 = st.columns(3)
    k1.metric("‖μ‖² of the whole corpus", f"{crowding.corpus_mean_norm_sq:.4f}")
    k2.metric("Variance within labels", f"{crowding.within_total:.4f}", help="Σ_c w_c (1 − ‖μ_c‖²)")
    k3.metric("Variance between labels", f"{crowding.between_total:.4f}", help="Σ_c w_c ‖μ_c − μ‖²")
    st.markdown(crowding.sentence())
    ui.plot(budget.label_crowding_chart(crowding), key="explore_crowding")
    st.caption(
        "Normalized view. With w_c the share of texts in label c, the total variance splits exactly into "
        "Σ_c w_c (1 − ‖μ_c‖²) within labels plus Σ_c w_c ‖μ_c − μ‖² between them. A label far to the right of the "
        "dashed line is a tight topic: its texts point in much the same direction."
    )
    with st.expander("Per-label table"):
        st.dataframe(
            budget.crowding_table(crowding),
            hide_index=True,
            column_config={
                c: st.column_config.NumberColumn(format="%.4f") for c in ("‖μ_c‖²", "within variance", "‖μ_c − μ‖²")
            },
        )
