"""Geometry: anisotropy, IsoScore, effective rank, spectrum, rogue dimensions, and a post-processing preview."""

import streamlit as st

import dashboard as ui
from analysis.errors import DimScopeError
from analysis.figures import geometry as figs
from analysis.figures import report_tables
from analysis.options import POSTPROCESSING, POSTPROCESSING_LABELS
from analysis.reports.geometry import COSINE_PAIRS, cosine_sample, geometry_report

ctx = ui.context()
st.title("Geometry")
st.caption(
    "How the embeddings fill their space: do all texts point the same way (anisotropy), how evenly is the "
    "variance spread (IsoScore, effective rank), and which dimensions dominate the cosine similarity."
)

# Inputs.
post = ui.bind(
    "post",
    st.selectbox,
    "Post-processing preview",
    list(POSTPROCESSING),
    format_func=POSTPROCESSING_LABELS.get,
    help="Applied to each view before measuring. Standardize: per-dimension z-score. All-but-the-top: center and "
    "remove the top d/100 principal components (Mu & Viswanath 2018). Whitening: center and rotate to unit "
    "variance (Su et al. 2021).",
)

# Guard and compute: statistics first (encodes with a progress bar, or reads the cache).
ui.stats_or_stop(ctx)
with ui.stop_on_error():
    resolved = ui.resolve(ctx.model, trust=ctx.trust_remote_code)
    store = ui.store_for(ctx.corpus)
    base = geometry_report(resolved, ctx.corpus, store=store)
    report = base if post == "none" else geometry_report(resolved, ctx.corpus, postprocessing=post, store=store)
view = ctx.view
shown = report.view(view)

st.caption(
    f"{ui.subject(ctx, report.model, report.corpus)} · {report.n_texts:,} texts × {report.dimension} dims · "
    f"{view} view · post-processing: {POSTPROCESSING_LABELS[post]}"
)
m1, m2, m3, m4, m5 = st.columns(5)


def delta(key: str, fmt: str) -> str | None:
    return None if post == "none" else format(getattr(shown, key) - getattr(base.view(view), key), fmt)


m1.metric(
    "Anisotropy",
    f"{shown.anisotropy:.3f}",
    delta("anisotropy", "+.3f"),
    delta_color="off",
    help="Mean cosine over all pairs of distinct texts (Ethayarajh 2019). 0 for an isotropic cloud.",
)
m2.metric(
    "IsoScore",
    f"{shown.isoscore:.3f}",
    delta("isoscore", "+.3f"),
    delta_color="off",
    help="1 = variance spread evenly over all dimensions, 0 = all on one axis (Rudman et al. 2022).",
)
m3.metric(
    "Effective rank",
    f"{shown.effective_rank:.1f}",
    delta("effective_rank", "+.1f"),
    delta_color="off",
    help="exp of the entropy of the normalized singular values (Roy & Vetterli 2007).",
)
m4.metric("Effective rank / d", f"{shown.effective_rank_ratio:.1%}")
m5.metric(
    "Outlier dimensions",
    len(shown.outlier_dims),
    help="mean |x| beyond 3σ of all dimensions: " + (", ".join(map(str, shown.outlier_dims)) or "none"),
)

# One table under the other, each as wide as its columns: side by side, the before/after table's four
# columns (labels up to 45 characters, then three numbers) needed ~530 px and got ~435 at 1440 px, so
# its last columns were cut off behind a scroll bar.
st.subheader("Metrics, raw and normalized")
metrics_table = report_tables.geometry_metrics_table(report)
st.dataframe(
    metrics_table,
    hide_index=True,
    width="content",
    column_config={c: st.column_config.NumberColumn(format="%.4g") for c in ("raw", "normalized")},
)
st.caption(
    "Outlier dimensions (their numbers): "
    + "; ".join(f"{v}: {', '.join(map(str, report.view(v).outlier_dims)) or 'none'}" for v in ("raw", "normalized"))
    + ". "
    + (report_tables.undefined_note(metrics_table) or "")
)
st.subheader("Post-processing: before and after")
if post == "none":
    st.info("Pick a post-processing above to see how every metric changes.", icon=":material/tune:")
else:
    comparison = report_tables.postprocessing_comparison(base, report, view)
    st.dataframe(
        comparison,
        hide_index=True,
        width="content",
        column_config={c: st.column_config.NumberColumn(format="%.4g") for c in ("none", post, "change")},
    )
    st.caption(f"{view} view; the change is after minus before. {report_tables.undefined_note(comparison) or ''}")

st.subheader("Singular-value spectrum")
ui.plot(
    figs.spectrum_chart({"raw": report.raw.singular_values, "normalized": report.normalized.singular_values}),
    key="geometry_spectrum",
)
st.caption(
    "Singular values of the centered matrix, largest first, against k/d so models of different sizes line up "
    "(Jing et al. 2022). A steep drop means the embeddings use few directions; s_k near 0 is a collapsed "
    "direction (a dead dimension gives one)."
)

c1, c2 = st.columns(2)
with c1:
    ui.plot(figs.rogue_chart(shown.rogue_dimensions, view=view), key="geometry_rogue")
    st.caption(
        "CC_j: dimension j's share of the mean pairwise cosine (Timkey & van Schijndel 2021). The top few "
        "often carry most of the anisotropy."
    )
with c2:
    try:
        sample = cosine_sample(resolved, ctx.corpus, view=view, postprocessing=post, store=store)
    except DimScopeError as exc:
        st.info(f"No cosine histogram: {ui.plain(str(exc))}")
    else:
        ui.plot(figs.cosine_histogram(sample.before, sample.after, view=view), key="geometry_cosines")
        st.caption(
            f"Cosines of {COSINE_PAIRS:,} random pairs of texts (all pairs when fewer), as they are and after "
            "subtracting the mean vector; dotted lines mark the means."
        )
