"""Overview: what DimScope shows and why, and the chosen model's headline figures."""

import streamlit as st

import dashboard as ui
from analysis.pipeline import StatsResult
from dashboard.report_button import report_button

ctx = ui.context()
st.title("DimScope")
st.markdown(
    "DimScope looks inside a sentence-embedding model **one dimension at a time**: it embeds a corpus "
    "and measures how each output dimension varies across the texts.\n\n"
    "**The finding.** Older sentence-transformers models emit a few dimensions that stay almost "
    "constant near zero whatever the text: all-MiniLM-L6-v2's dimensions 127, 223 and 319, and "
    "all-mpnet-base-v2's 34, 555, 688 and 756. These *dead* dimensions carry no information, yet they "
    "take space in every stored vector. Newer models do not show them.\n\n"
    f"A dimension counts as dead when its standard deviation in the normalized view is below "
    f"{StatsResult.dead_threshold:.0%} of the median standard deviation of all dimensions."
)

# Guard and compute.
result = ui.stats_or_stop(ctx)
head = result.headline(ctx.view)  # from numpy columns: this page never needs pandas
dead = result.dead_dims

# Render.
st.subheader(ui.subject(ctx, result.model_name, result.corpus_name))
c1, c2, c3, c4 = st.columns(4)
with c1:
    st.metric("Dimensions", f"{head['dimension']:,}", border=True)
    st.page_link(ui.PAGE_EXPLORE, label="See every dimension", icon=":material/grid_on:", query_params=ui.link_params())
with c2:
    st.metric(
        "Dead dimensions", f"{len(dead)}", border=True, help="Dead: std below 1% of the median std (normalized view)."
    )
    if dead:
        st.page_link(
            ui.PAGE_DIMENSION,
            label=f"Inspect dimension {dead[0]}",
            icon=":material/query_stats:",
            query_params=ui.link_params(dim=dead[0]),
        )
    else:
        st.page_link(
            ui.PAGE_COMPARE,
            label="Compare with other models",
            icon=":material/compare_arrows:",
            query_params=ui.link_params(),
        )
with c3:
    st.metric(f"Median std ({ctx.view})", f"{head['median_std']:.4g}", border=True)
    st.page_link(
        ui.PAGE_EXPLORE,
        label="Std of each dimension",
        icon=":material/bar_chart:",
        query_params=ui.link_params(bars="sorted", log=True),
    )
with c4:
    st.metric("Texts", f"{result.n_texts:,}", border=True)
    st.page_link(ui.PAGE_CORPUS, label="About the corpus", icon=":material/table_rows:", query_params=ui.link_params())

if dead:
    st.markdown("Dead here: " + ", ".join(f"**{d}**" for d in dead) + ". They sit far below every other dimension:")
else:
    st.markdown("No dead dimension in this model on this corpus.")
ui.plot(result.plot_std(ctx.view), key="overview_std")
st.caption(
    "Log scale: each dot is one dimension's standard deviation over the corpus. "
    "Pick another model or corpus in the sidebar; every choice is kept in the page's URL, so a link reproduces it."
)
report_button(ctx, result, key="overview_report")
