"""Which dimensions matter: top-k by variance vs PCA-k vs random-k vs all, on a labeled corpus."""

import json

import streamlit as st

import dashboard as ui
from analysis.figures import downloads
from analysis.figures import selection as figs
from analysis.options import SELECTION_SCORE_LABELS
from analysis.reports.selection import selection_report
from dashboard import urlstate

ctx = ui.context()
st.title("Which dimensions matter")
st.caption(
    "Keep only k dimensions: chosen by variance, by PCA or at random. How much of the label structure and "
    "of each text's nearest neighbours survives?"
)

# Guard: the scores compare with labels.
if ctx.corpus.labels is None:
    st.info(
        f"Dimension selection needs a labeled corpus, and **{ui.plain(ctx.corpus.name)}** has no labels. "
        "Pick a built-in "
        "corpus in the sidebar (all have topic labels) or upload a file with a label column.",
        icon=":material/label_off:",
    )
    st.page_link(ui.PAGE_CORPUS, label="Browse or upload corpora", icon=":material/upload_file:")
    st.stop()

# Inputs.
i1, i2, i3 = st.columns([2, 1, 1])
with i1:
    score = ui.bind(
        "score", st.selectbox, "Score", list(SELECTION_SCORE_LABELS), format_func=SELECTION_SCORE_LABELS.get
    )
with i2:
    seeds = ui.bind(
        "draws",
        st.select_slider,
        "Random draws",
        list(urlstate.DRAWS),
        help="How many random-k draws give the mean and the ± std band; more is slower.",
    )
with i3:
    neighbors = ui.bind(
        "neighbors",
        st.select_slider,
        "Neighbours",
        list(urlstate.NEIGHBORS),
        format_func=lambda n: "auto" if n == 0 else str(n),
        help="How many nearest texts the kNN accuracy votes among and the overlap compares. "
        "auto: 10, or half of the other texts on a corpus of fewer than 21.",
    )

# Compute: statistics first (encodes with a progress bar), then the scoring with its own bar.
stats = ui.stats_or_stop(ctx)
progress = ui.Progress("Scoring the selections", unit="configurations")  # silent when the report is cached
with ui.stop_on_error():
    try:
        resolved = ui.resolve(ctx.model, trust=ctx.trust_remote_code)
        report = selection_report(
            resolved,
            ctx.corpus,
            n_random_seeds=seeds,
            n_neighbors=neighbors or None,
            view=ctx.view,
            progress=progress,
            store=ui.store_for(ctx.corpus),
        )
    finally:
        progress.close()

attrs = report.attrs
st.caption(
    f"{ui.subject(ctx, report.model, report.corpus)} · {ctx.view} view · {attrs['n_samples']:,} texts, "
    f"{attrs['n_classes']} labels (largest label {attrs['majority_rate']:.0%} of texts)"
)
st.info(report.verdict, icon=":material/gavel:")
ui.plot(figs.selection_curves(report.table, score), key="selection_curves")
nn = attrs["n_neighbors"]
st.caption(
    "Each k keeps that many dimensions, then L2-normalizes. k-means ARI/NMI cluster the texts and compare "
    f"with the labels; kNN accuracy votes among the {nn} cosine-nearest texts; the overlap counts how many of "
    f"each text's {nn} nearest neighbours stay the same as with all dimensions."
)

with st.expander("All scores (mean and std over random draws)"):
    summary = report.summary()
    st.dataframe(
        summary,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in summary.columns if c.endswith(("_mean", "_std"))
        },
    )

# Export the selected dimension list.
st.subheader("Export the top-k dimensions by variance")
d = int(attrs["d"])
if ui.state().topk > d:
    st.info(f"k = {ui.state().topk:,} is more than this model's {d:,} dimensions; showing all {d:,}.")
    ui.update(topk=d)
k = ui.bind(
    "topk",
    st.slider,
    "k",
    min_value=1,
    max_value=d,
    help="The k dimensions with the largest variance on this corpus, largest first.",
)
export = downloads.selected_dims_export(
    report.top_variance_order, k, model=report.model, corpus=report.corpus, view=ctx.view
)
st.caption(f"Top {k} of {d}: " + ", ".join(map(str, export["dim"].head(24))) + (" …" if k > 24 else ""))
named = {"model": report.model, "subject": report.corpus, "what": f"{ctx.view}-top{k}-dims"}
payload = {**export.attrs, "dims": [int(x) for x in export["dim"]]}
row = st.container(horizontal=True)
ui.download("Download CSV", downloads.safe_csv_bytes(export), **named, ext="csv", mime="text/csv", where=row)
ui.download(
    "Download JSON", json.dumps(payload, indent=1).encode(), **named, ext="json", mime="application/json", where=row
)
