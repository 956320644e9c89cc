"""Compare models: raw and normalized statistics side by side, on a relative-rank axis.

Uploaded embeddings take part too: each file on its own rows, next to other files or to models
(which encode the sidebar's corpus; for embeddings with a text column, those texts).
"""

import streamlit as st

import dashboard as ui
from analysis.errors import DimScopeError
from analysis.figures import budget, comparison, stat_tables
from analysis.options import SPREAD_SCALE_LABELS, SPREAD_SCALES
from analysis.wording import plural
from dashboard import urlstate
from dashboard.report_button import report_button

ctx = ui.context()
st.title("Compare models")
st.caption(
    f"All models embed the same corpus: {ui.plain(ctx.corpus.name)} ({plural(len(ctx.corpus), 'text')}). Your own "
    "embeddings, if any, are each measured on their own rows."
)

# Inputs: by default the sidebar's model plus those that load without a download; () in the URL
# means exactly that.
# With uploaded embeddings chosen, the models default to the model picker's last choice (it encodes their texts).
defaults = ui.compare_defaults(ctx.state.model if ctx.vectors is not None else ctx.model)
options = ui.offered_models()
options += [m for m in [*defaults, *ui.state().models] if m not in options]
# Embeddings without texts give a model nothing to embed: no Models box then, and one sentence says why.
bare = ctx.vectors if ctx.vectors is not None and not ctx.vectors.has_texts else None
if bare is None:
    ui.bind(
        "models",
        st.multiselect,
        "Models",
        options,
        max_selections=urlstate.MAX_MODELS,
        to_widget=lambda v: list(v) if v else list(defaults),
        from_widget=lambda v: () if list(v) in ([], list(defaults)) else tuple(v),
        help="Models that need a download wait for a click; those that cannot be loaded are listed below with the "
        "reason.",
    )
    models = list(ui.widget_value("models"))  # what the widget shows (an empty choice is not a URL state)
else:
    models = []
    st.info(
        f"No model takes part: {ui.plain(bare.name)} has no text column, so no model can embed its rows "
        "(upload it with its texts to compare it with models).",
        icon=":material/info:",
    )
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

# Guard.
if not models and not files:
    st.info("Choose one or more models (or your embeddings) to compare.")
    st.stop()
ui.enough_texts_or_stop(ctx.corpus)

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
        results[f"{name} (your vectors)"] = ui.load_stats(str(ui.Selection.vectors(name)), source.corpus)
    except DimScopeError as exc:
        failures.append({"model": name, "reason": str(exc)})

for name, why in pending:
    ui.compute_box(
        f"**{ui.plain(name)}** has not been run on {ui.plain(ctx.corpus.name)} yet: {why}.",
        key=f"compute_{name}",
        on_click=ui.approve,
        args=(name, ctx.corpus),
        label=f"Compute {name}",
    )
if failures:  # whole sentences, not table cells: a reason is a message with its fix, and must be read in full
    reasons = "\n".join(f"- **{ui.plain(f['model'])}**: {ui.plain(f['reason'])}" for f in failures)
    what = "model(s) or file(s)" if files else "model(s)"
    st.warning(
        f"{len(failures)} of {len(models) + len(files)} {what} cannot be loaded here and are left out of the charts:"
        f"\n\n{reasons}"
    )
if not results:
    if not pending:
        st.info(
            "None of the chosen models can be loaded here. all-MiniLM-L6-v2 ships with DimScope; add it to compare."
        )
    st.stop()
if len(results) == 1 and not pending and bare is None:
    st.info("Only one model loaded: add another to compare.")
if files:
    st.caption(
        ":material/info: For your embeddings, raw = the vectors as given and normalized = their L2 normalization."
    )

# Render.
report_button(ctx, next(iter(results.values())), compared=results, key="compare_report")
st.subheader("Summary")
summary = stat_tables.compare_summary(results)
st.dataframe(
    summary,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="%.4g") for c in summary.columns if c.startswith(("median", "mean"))
    },
)

st.subheader("Why the spreads differ: the variance budget")
with st.container(border=True, key="budget_panel"):
    budgets = {name: r.budget for name, r in results.items()}
    st.markdown(budget.budget_intro({ui.plain(name): b for name, b in budgets.items()}))
    budget_frame = budget.budget_table(budgets)
    st.dataframe(
        budget_frame,
        hide_index=True,
        key="budget_table",
        column_config={
            c: st.column_config.NumberColumn(format="%.4f" if c != "effective dims" else "%.1f")
            for c in budget_frame.columns
            if c not in ("model", "d")
        },
    )
    for sentence in budget.median_std_explanations(budgets):
        st.markdown(f"- {sentence}")
    st.caption(
        "Effective dims: (Σ var)² / Σ var², the number of equally varying dimensions that would give the same "
        "spread. The split of a median std ratio: d contributes √(d_ref / d), crowding √((1 − ‖μ‖²) / "
        "(1 − ‖μ_ref‖²)), and the rest is how evenly the variance is spread (median std / RMS std); the three "
        "factors multiply back to the ratio."
    )

raw = {name: r.raw for name, r in results.items()}
normalized = {name: r.normalized for name, r in results.items()}
dead = {name: r.dead_dims for name, r in results.items()}

scale = ui.bind(
    "scale",
    st.segmented_control,
    "Spread scale",
    list(SPREAD_SCALES),
    format_func=SPREAD_SCALE_LABELS.get,
    required=True,
    help="std × √d removes the dimension count: unit vectors spread evenly have 1.0 in every dimension, and a "
    "long mean vector sits lower. Share: each dimension's share of the total variance.",
)
st.subheader(f"Sorted {budget.spread_name(scale)}, raw and normalized")
ui.plot(comparison.raw_vs_normalized(raw, normalized, dead=dead, scale=scale), key="compare_curves")
st.caption(
    "Each curve is one model's per-dimension spread, largest first; the x axis is the rank divided by "
    "the dimension count, so models of different sizes line up. Dead dimensions are the vermillion marks at the "
    "tail; their std is many orders of magnitude lower, so on the log axis they sit in the grey off-scale band."
)

st.subheader(f"Distribution of per-dimension {budget.spread_name(scale)}")
b1, b2 = st.columns(2)
with b1:
    ui.plot(comparison.std_distribution_by_model(raw, view_name="raw", dead=dead, scale=scale), key="compare_box_raw")
with b2:
    ui.plot(
        comparison.std_distribution_by_model(normalized, view_name="normalized", dead=dead, scale=scale),
        key="compare_box_norm",
    )

st.subheader("Dead dimensions")
dead_table = stat_tables.dead_dims_table(results)
if dead_table.empty:
    st.success("No dead dimension in any of these models on this corpus.")
else:
    st.dataframe(
        dead_table,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format=stat_tables.DEAD_TABLE_NUMBER_FORMAT)
            for c in dead_table.columns
            if c.startswith("std")
        },
    )
