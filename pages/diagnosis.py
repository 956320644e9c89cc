"""Why dimensions die: the static weight scan of the final layer, and how it agrees with the corpus."""

import streamlit as st

import dashboard as ui
from analysis.errors import DimScopeError
from analysis.figures import diagnosis as figs
from analysis.figures import report_tables
from analysis.reports.diagnosis import diagnosis_report
from analysis.wording import plural

ctx = ui.context()
st.title("Why dimensions die")
st.caption(
    "A scan of the model's weights, without reading any text: which output dimensions does the final "
    "layer force to a constant, and with which values?"
)

# Guards: a model (uploaded embeddings have no weights), and one that loads (the scan reads its weight files).
if ctx.vectors is not None:
    st.info(
        f"This page scans a model's weights, and **{ui.plain(ctx.vectors.name)}** holds vectors only: "
        "it needs a model. "
        "Choose a corpus that is not your embeddings in the sidebar to pick one; every other page works on your "
        "vectors.",
        icon=":material/biotech:",
    )
    st.stop()
with ui.stop_on_error():
    resolved = ui.resolve(ctx.model, trust=ctx.trust_remote_code)
    report = diagnosis_report(resolved)

# The corpus side, only when it is cheap (cached or small): the scan itself never needs it.
corpus_dead = None
try:
    pending = ui.pending_reason(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    if pending is None:
        stats = ui.load_stats(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
        corpus_dead = sorted(set(stats.dead_dims) | set(stats.constant_dims))
except DimScopeError as exc:
    pending = None
    st.warning(f"The corpus comparison is not available: {ui.plain(str(exc))}", icon=":material/warning:")

if not report.understood:
    st.warning(f"**Architecture not understood.** {report.message}", icon=":material/help:")
    st.markdown(
        "The scan only reads architectures whose final layer it knows (BERT, RoBERTa, XLM-R, MPNet, "
        "ELECTRA, DistilBERT and the usual sentence-transformers pooling/Dense modules); it never guesses. "
        "The corpus-based detection on **Explore a model** still works for this model."
    )
    if corpus_dead is not None:
        st.caption(f"Dead or constant on {ui.plain(ctx.corpus.name)}: {', '.join(map(str, corpus_dead)) or 'none'}.")
    st.stop()

flagged = report.dead_dims_from_weights
m1, m2, m3 = st.columns(3)
m1.metric("Architecture", report.architecture or report.model_type or "?")
m2.metric("Output dimensions", f"{len(report.weight_abs):,}")
m3.metric("Forced constant", len(flagged), help=", ".join(map(str, flagged)) or "none")
st.markdown(f"Layer responsible: `{report.final_layer or 'none'}`")
(st.success if flagged else st.info)(report.message, icon=":material/biotech:")

ui.plot(
    figs.weight_scan_chart(
        report.weight_abs,
        report.bias_abs,
        flagged=flagged,
        layer=report.final_layer,
        relative_threshold=report.threshold,
    ),
    key="diagnosis_weights",
)
st.caption(
    f"Each dimension's |weight| (gamma) and |bias| (beta) in the final layer. A dimension is flagged when "
    f"|gamma| is below {report.threshold:g} × the median |gamma| (dotted line): the LayerNorm then outputs "
    "beta for every token of every input, so pooling cannot make it vary."
)

st.subheader("Evidence, and agreement with the corpus")
table = report_tables.evidence_table(report, corpus_dead)
if corpus_dead is not None:
    comparison = diagnosis_report(resolved, corpus_dead).corpus_comparison
    assert comparison is not None  # asked for with the corpus's dead dims
    a1, a2, a3 = st.columns(3)
    a1.metric("Both", len(comparison.both), help=", ".join(map(str, comparison.both)) or "none")
    a2.metric("Weights only", len(comparison.weights_only), help=", ".join(map(str, comparison.weights_only)) or "none")
    a3.metric("Corpus only", len(comparison.corpus_only), help=", ".join(map(str, comparison.corpus_only)) or "none")
    (st.success if comparison.agree else st.info)(comparison.explanation, icon=":material/compare_arrows:")
    st.caption(
        f"Corpus side: dimensions that are dead or constant on {ui.plain(ctx.corpus.name)} "
        f"({plural(len(ctx.corpus), 'text')})."
    )
else:
    ui.compute_box(
        f"The corpus comparison needs {ui.plain(ctx.model)} run on {ui.plain(ctx.corpus.name)}: {pending}.",
        key="diagnosis_compute",
        on_click=ui.approve,
        args=(ctx.model, ctx.corpus, ctx.trust_remote_code),
    )

if table.empty:
    st.caption(
        "No dimension is forced constant by the weights"
        + (" or dead on the corpus." if corpus_dead is not None else ".")
    )
else:
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "dim": st.column_config.NumberColumn("dim", format="%d"),
            "weight": st.column_config.NumberColumn("weight (gamma)", format="%.3e"),
            "bias": st.column_config.NumberColumn("bias (beta)", format="%.3e"),
            "layer": st.column_config.TextColumn("layer", width="large"),
        },
    )
    st.caption(
        "Verdict *zero*: the dimension is 0 for every input. *Constant*: it never varies but sits at beta "
        "(after the model's Normalize it still varies a little, divided by a varying norm)."
    )
