"""Dimension detail: one dimension's distribution, its extreme texts, per-label means, and its rank."""

import pandas as pd
import streamlit as st

import dashboard as ui
from analysis.figures import downloads, spread, stat_tables, view_matrix

ctx = ui.context()
st.title("Dimension detail")

# Guard and compute.
result = ui.stats_or_stop(ctx)
embeddings = ui.embeddings_or_stop(ctx)
corpus = ctx.corpus
frame = result.view(ctx.view)
dead = result.dead_dims
n_dims = result.dimension
if ui.state().dim >= n_dims:
    st.info(
        f"Dimension {ui.state().dim:,} does not exist in {result.model_name}, which has {n_dims:,} dimensions "
        f"(0 to {n_dims - 1:,}); showing dimension 0."
    )
    ui.set_widget("dim", 0)


def _pick_from_chart() -> None:
    """on_select callback: a clicked point of the overview chart becomes the chosen dimension."""
    selection = st.session_state.get("dimension_pick")
    points = (selection or {}).get("selection", {}).get("points", [])
    if points:
        dim = points[0].get("x")  # the chart's x axis is the dimension index
        if isinstance(dim, (int, float)) and float(dim).is_integer() and 0 <= int(dim) < n_dims:
            ui.set_widget("dim", int(dim))


# Inputs.
c1, c2 = st.columns([1, 3])
with c1:
    dim = int(ui.bind("dim", st.number_input, "Dimension", min_value=0, max_value=n_dims - 1, step=1))
with c2:
    if dead:
        st.markdown(f"Dead dimensions of {'these vectors' if ctx.vectors is not None else 'this model'}: jump to one")
        jumps = st.container(horizontal=True)
        for d in dead[:12]:
            jumps.button(str(d), key=f"jump_{d}", on_click=ui.set_widget, args=("dim", d), icon=":material/block:")
    else:
        st.caption(
            "This model has no dead dimension on this corpus. Click any point in the chart below to pick a dimension."
        )

values = view_matrix.ViewMatrix(embeddings.raw, ctx.view).column(dim)
row = frame.set_index("dim").loc[dim]
ratio = float(result.std_ratio(ctx.view)[dim])
rank = int(result.std_rank(ctx.view)[dim])
is_dead = dim in dead

st.subheader(f"Dimension {dim}" + (" · dead" if is_dead else ""))
m = st.columns(5)
m[0].metric("Mean", f"{row['mean']:.4g}")
m[1].metric("Std", f"{row['std']:.4g}")
m[2].metric("Std / median", f"{ratio:.3g}")
m[3].metric("Std rank", f"{rank} of {n_dims}")
m[4].metric(
    "Near-zero share", f"{row['near_zero_share']:.0%}", help="Share of texts where |x| < 0.1% of the vector's length."
)

g1, g2 = st.columns(2)
with g1:
    ui.plot(spread.dimension_distribution(values, dim=dim, view_name=ctx.view, dead=is_dead), key="dimension_hist")
with g2:
    ui.plot(
        spread.dimension_vs_others(frame, dim, dead_dims=dead, view_name=ctx.view),
        key="dimension_pick",
        on_select=_pick_from_chart,
        selection_mode="points",
    )
    st.caption("Click a point to inspect that dimension.")

st.subheader("Texts with the highest and lowest values")
n = st.slider("How many", min_value=5, max_value=50, value=10, step=5, key="dimension_top_n")
top, bottom = stat_tables.top_bottom_texts(values, corpus.texts, corpus.labels, n)
if is_dead:
    st.caption("A dead dimension's values are almost equal for every text, so this ranking is mostly noise.")
if ctx.vectors is not None and not ctx.vectors.has_texts:
    st.caption(f"{ui.plain(ctx.vectors.name)} has no text column: rows are named by their position in the file.")
t1, t2 = st.columns(2)
config = {
    "value": st.column_config.NumberColumn("value", format="%.4g"),
    "text": st.column_config.TextColumn("text", width="large"),
}
t1.markdown("**Highest**")
t1.dataframe(top, hide_index=True, column_config=config)
t2.markdown("**Lowest**")
t2.dataframe(bottom, hide_index=True, column_config=config)
both = pd.concat([top.assign(end="highest"), bottom.assign(end="lowest")], ignore_index=True)
ui.download(
    "Download these texts (CSV)",
    downloads.safe_csv_bytes(both),
    model=result.model_name,
    subject=result.corpus_name,
    what=f"{ctx.view}-dim{dim}-texts",
    ext="csv",
    mime="text/csv",
)

st.subheader("Mean per label")
if corpus.labels is None:
    st.info("This corpus has no labels. Built-in corpora carry topic labels; an upload can map a label column.")
else:
    ui.plot(spread.per_label_means(values, corpus.labels, dim=dim, view_name=ctx.view), key="dimension_labels")
