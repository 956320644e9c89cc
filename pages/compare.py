"""Compare models: raw and normalized statistics side by side, on a relative-rank axis.

Uploaded embeddings take part too: each file on its own rows, next to other files or to models
(which encode the sidebar's corpus; for embeddings with a text column, those texts).
"""

import pandas as pd
import streamlit as st

from analysis.errors import DimScopeError
from analysis.figures import comparison, tables
from analysis.models import CATALOG
from pages import dashboard as ui
from pages.dashboard import urlstate
from pages.dashboard.urlstate import VECTORS_PREFIX

ctx = ui.context()
st.title("Compare models")
st.caption(
    f"All models embed the same corpus: {ctx.corpus.name} ({len(ctx.corpus):,} texts). Your own embeddings, if any, "
    "are each measured on their own rows."
)

# Inputs: the models available here by default; () in the URL means exactly that.
available = ui.available_models()
options = [info.short_name for info in CATALOG]
options += [m for m in ui.state().models if m not in options]
ui.bind(
    "models",
    st.multiselect,
    "Models",
    options,
    max_selections=urlstate.MAX_MODELS,
    to_widget=lambda v: list(v) if v else list(available),
    from_widget=lambda v: () if list(v) in ([], list(available)) else tuple(v),
    help="Models that cannot be loaded here are listed below with the reason.",
)
models = list(st.session_state["w_models"])  # what the widget shows (an empty choice is not a URL state)
own = list(ui.vector_uploads())
files = (
    st.multiselect(
        "Your embeddings",
        own,
        default=[ctx.vectors.name] if ctx.vectors is not None else [],
        key="compare_vectors",
        help="Uploaded embeddings (Corpus page), each on its own rows; they stay in this session and out of links.",
    )
    if own
    else []
)
if ctx.vectors is not None and not ctx.vectors.has_texts and models:
    st.info(
        f"{ctx.vectors.name} has no text column, so no model can embed its rows: the models are left out. "
        "Upload the embeddings with their texts to compare them with models on the same texts.",
        icon=":material/info:",
    )
    models = []

# Guard.
if not models and not files:
    st.info("Choose one or more models (or your embeddings) to compare.")
    st.stop()

# Compute: one model at a time; a model that fails is listed, not fatal. Expensive work that is
# not cached waits for a click, except for the sidebar's model (the user already chose it).
results = {}
failures = []
pending = []
for name in models:
    trust = ctx.trust_remote_code and name == ctx.model
    try:
        why = None if name == ctx.model else ui.pending_reason(name, ctx.corpus, trust=trust)
        if why:
            pending.append((name, why))
            continue
        results[name] = ui.load_stats(name, ctx.corpus, trust=trust)
    except DimScopeError as exc:
        failures.append({"model": name, "reason": str(exc)})
for name in files:
    try:
        source = ui.vector_uploads()[name]
        results[f"{name} (your vectors)"] = ui.load_stats(VECTORS_PREFIX + name, source.corpus)
    except DimScopeError as exc:
        failures.append({"model": name, "reason": str(exc)})

for name, why in pending:
    box = st.container(border=True, horizontal=True, vertical_alignment="center")
    box.markdown(f"**{name}** has not been run on {ctx.corpus.name} yet: {why}.")
    box.button(
        f"Compute {name}",
        key=f"compute_{name}",
        on_click=ui.approve,
        args=(name, ctx.corpus),
        icon=":material/play_arrow:",
    )
if failures:
    st.warning(
        f"{len(failures)} of {len(models) + len(files)} model(s) or file(s) cannot be loaded here and are left out "
        "of the charts."
    )
    st.dataframe(
        pd.DataFrame(failures), hide_index=True, column_config={"reason": st.column_config.TextColumn(width="large")}
    )
if not results:
    if not pending:
        st.info(
            "None of the chosen models can be loaded here. all-MiniLM-L6-v2 ships with DimScope; add it to compare."
        )
    st.stop()
if len(results) == 1 and not pending:
    st.info("Only one model loaded: add another to compare.")
if files:
    st.caption(
        ":material/info: For your embeddings, raw = the vectors as given and normalized = their L2 normalization."
    )

# Render.
st.subheader("Summary")
summary = tables.compare_summary(results)
st.dataframe(
    summary,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="%.4g") for c in summary.columns if c.startswith(("median", "mean"))
    },
)
raw = {name: r.raw for name, r in results.items()}
normalized = {name: r.normalized for name, r in results.items()}
dead = {name: r.dead_dims for name, r in results.items()}

st.subheader("Sorted std, raw and normalized")
ui.plot(comparison.raw_vs_normalized(raw, normalized, dead=dead), key="compare_curves")
st.caption(
    "Each curve is one model's per-dimension std, largest first; the x axis is the rank divided by "
    "the dimension count, so models of different sizes line up. Dead dimensions are the vermillion marks at the "
    "tail; on the log axis they are drawn at the floor because their std is many orders of magnitude lower."
)

st.subheader("Distribution of per-dimension std")
b1, b2 = st.columns(2)
with b1:
    ui.plot(comparison.std_distribution_by_model(raw, view_name="raw", dead=dead), key="compare_box_raw")
with b2:
    ui.plot(comparison.std_distribution_by_model(normalized, view_name="normalized", dead=dead), key="compare_box_norm")

st.subheader("Dead dimensions")
dead_table = tables.dead_dims_table(results)
if dead_table.empty:
    st.success("No dead dimension in any of these models on this corpus.")
else:
    st.dataframe(
        dead_table,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3g") for c in dead_table.columns if c.startswith("std")
        },
    )
