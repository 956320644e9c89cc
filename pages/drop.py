"""What can I drop? The cost of every dimension and bit in retrieval, truncation and quantization."""

import json
import tempfile
from pathlib import Path

import streamlit as st

import dashboard as ui
from analysis.corpora import BUILTIN_TASKS
from analysis.export import export_model
from analysis.export.recipe import export_choices, export_command, point_settings, zip_folder
from analysis.figures import compress as figs
from analysis.figures import downloads
from analysis.options import DROP_TASKS
from analysis.reports.compress import cached_compress_report, compress_report, storage_recipe
from dashboard import urlstate
from dashboard.report_button import report_button

ctx = ui.context()
st.title("What can I drop?")
st.caption(
    "For this model and a retrieval task: what does each storage choice (fewer dimensions, int8, binary) keep "
    "of the ranking quality of full float32 vectors, and what does it cost in bytes per stored vector?"
)


def task_label(name: str) -> str:
    if name == "corpus":
        return f"The sidebar corpus: {ctx.corpus.name} (its query and document columns, or its labels)"
    return BUILTIN_TASKS[name].title


# Inputs.
i1, i2 = st.columns([2, 1])
with i1:
    choice = ui.bind(
        "task",
        st.selectbox,
        "Retrieval task",
        list(DROP_TASKS),
        format_func=task_label,
        help="Each query should find its document (pairs), or the documents sharing its label (a labelled corpus).",
    )
with i2:
    draws = ui.bind(
        "draws",
        st.select_slider,
        "Random draws",
        list(urlstate.DRAWS),
        help="How many random-k draws give each random-k mean and std; more is slower.",
    )

# Guard: a task, a loadable model, and approval before long work.
if ctx.vectors is not None and choice != "corpus":
    st.info(
        f"**{ui.plain(task_label(choice))}** has texts that need a model to embed them, and your embeddings "
        f"({ui.plain(ctx.vectors.name)}) hold vectors of their own rows only. Pick *The sidebar corpus* to score "
        "them on "
        "their labels (every row against the others), or choose a built-in corpus and a model in the sidebar.",
        icon=":material/model_training:",
    )
    st.stop()
task = ui.retrieval_task_or_stop(ctx, choice)
notes = " ".join(task.messages())
st.caption(ui.plain(f"{task.name}: {task.describe()}. {notes}".strip()))
with ui.stop_on_error():
    resolved = ui.resolve(ctx.model, trust=ctx.trust_remote_code)
    store = ui.store_for(task)  # public mode: an uploaded task never reaches the shared cache
    report = cached_compress_report(resolved, task, n_draws=draws, store=store)
    if report is None:
        why = ui.task_pending_reason(ctx.model, task, trust=ctx.trust_remote_code)
        if why:
            ui.compute_box(
                f"**{ui.plain(resolved.name)}** has not been scored on {ui.plain(task.name)} yet: {why}.",
                key="drop_compute",
                on_click=ui.approve_task,
                args=(ctx.model, task, ctx.trust_remote_code),
            )
            st.stop()
        progress = ui.Progress(f"{resolved.name} on {task.name}", reading=ctx.vectors is not None)
        try:
            with st.spinner("Scoring every storage variant…"):
                report = compress_report(
                    resolved,
                    task,
                    n_draws=draws,
                    store=store,
                    progress=progress,
                    time_limit_s=ui.deployment_policy().encode_time_limit_s,
                )
        finally:
            progress.close()

# Render: the headline, the Pareto chart and the verdict.
ui.backend_caption(report.backend_summary)
full, int8, rescore = report.variant("float32"), report.variant("int8"), report.variant("binary-rescore")
m1, m2, m3, m4 = st.columns(4)
m1.metric("float32 nDCG@10", f"{full.ndcg_at_10:.3f}", help=f"{full.bytes_per_vector:,} bytes per vector")
m2.metric(
    "int8 keeps",
    f"{int8.retention:.1%}" if int8.retention is not None else "n/a",
    help=f"{int8.bytes_per_vector:,} bytes per vector",
)
m3.metric("binary + rescoring keeps", f"{rescore.retention:.1%}" if rescore.retention is not None else "n/a")
m4.metric("Dead dimensions", len(report.dead_dims), help=report.dead_rule)
st.info(report.verdict, icon=":material/gavel:")
report_button(ctx, compress=report, task=choice, key="drop_report")
ui.plot(figs.pareto_chart(report.variants), key="drop_pareto")
st.caption(
    f"{report.model}, normalized embeddings, {report.n_queries:,} queries against {report.n_documents:,} documents. "
    "Retention is a variant's nDCG@10 divided by float32's; bytes are per stored document vector. Every k-variant "
    "re-normalizes its vectors; int8 is calibrated on the documents as sentence-transformers does; binary keeps "
    "x > 0 and ranks by equal bits; rescoring re-ranks the 40 best by Hamming with the float query. Ties rank "
    "the lower document first."
)

# The Matryoshka check.
st.subheader("Can the vectors be truncated?")
matryoshka = report.matryoshka.split("; rule:")[0]
st.markdown(matryoshka[:1].upper() + matryoshka[1:] + ".")
st.caption(f"Rule: {report.matryoshka_rule}.")
ui.plot(figs.truncation_chart(report.variants), key="drop_truncation")

# Per-dimension readiness.
r = report.readiness
st.subheader("Which dimensions are ready for which choice")
c1, c2, c3 = st.columns(3)
c1.metric(
    "Top dimension's share of the mean cosine", f"{r.top1_share_raw:.1%}" if r.top1_share_raw is not None else "n/a"
)
c2.metric("Top 3 dimensions' share", f"{r.top3_share_raw:.1%}" if r.top3_share_raw is not None else "n/a")
c3.metric(
    "Dimensions whose removal raises nDCG@10"
    if r.harmful_mode == "leave-one-out"
    else "Dimensions in groups whose removal raises nDCG@10",
    len(r.harmful_dims),
)
left, right = st.columns(2)
with left:
    ui.plot(figs.bit_balance_chart(r.bit_balance, dead_dims=report.dead_dims), key="drop_bits")
    ui.plot(figs.cosine_share_chart(r.cosine_share_raw, r.cosine_share_standardized), key="drop_share")
with right:
    ui.plot(figs.int8_range_chart(r.int8_range_over_std, r.std, dead_dims=report.dead_dims), key="drop_int8")
    ui.plot(
        figs.harmful_chart(
            r.harmful_units, r.harmful_gains, r.harmful_standard_errors, z=r.harmful_z, mode=r.harmful_mode
        ),
        key="drop_harmful",
    )
how = (
    "each dimension removed on its own (leave-one-out)"
    if r.harmful_mode == "leave-one-out"
    else f"{len(r.harmful_units)} groups of dimensions with similar document variance removed one group at a time "
    "(leave-one-out over every dimension would be slow at this size)"
)
st.caption(
    f"Removal test: {how}; a removal counts as raising nDCG@10 when the gain exceeds {r.harmful_z:g} standard "
    "errors over the queries. "
    + (f"Clearly harmful: {', '.join(map(str, r.harmful_dims))}." if r.harmful_dims else "None is clearly harmful.")
)

# The table and the downloads.
table = figs.variant_table(report.variants)
with st.expander("Every variant (mean and std over random draws)"):
    st.dataframe(table, hide_index=True)
st.subheader("Download")
choices = ["drop-dead", "all"] + [
    f"{f}-{k}" for f in ("top-variance", "prefix") for k in report.ks if k < report.dimension
]
if ui.state().keep not in choices:
    st.caption(f":material/link_off: `{ui.state().keep}` was not scored here; the recipe keeps drop-dead instead.")
    ui.update(keep="drop-dead")
keep = ui.bind(
    "keep",
    st.selectbox,
    "Dimensions the recipe keeps",
    choices,
    help="The JSON recipe lists these dimensions and the int8 ranges over them (documents re-normalized).",
)
with ui.stop_on_error():
    recipe = storage_recipe(report, resolved, task, keep, store=store)
named = {"model": report.model, "subject": report.task}
row = st.container(horizontal=True)
ui.download(
    "Download the table (CSV)",
    downloads.safe_csv_bytes(table),
    **named,
    what="variants",
    ext="csv",
    mime="text/csv",
    where=row,
)
ui.download(
    "Download the recipe (JSON)",
    json.dumps(recipe, indent=1).encode(),
    **named,
    what=f"{keep}-recipe",
    ext="json",
    mime="application/json",
    where=row,
)
st.caption(
    f"The recipe keeps {recipe['n_kept']} of {report.dimension} dimensions: {recipe['int8']['bytes_per_vector']} "
    f"bytes per vector in int8, {recipe['binary']['bytes_per_vector']} in binary."
)

# Export: the chosen point as a model folder sentence-transformers loads, its command line and the store
# settings (issue 21). Public mode shows the recipe and the command only: no model files are built for visitors.
st.subheader("Export")
if ctx.vectors is not None:
    st.info(
        f"Your embeddings ({ui.plain(ctx.vectors.name)}) have no model to export; the settings below still apply "
        "to the vectors you store.",
        icon=":material/info:",
    )
e1, e2 = st.columns([2, 1])
export_variant = e1.selectbox(
    "Variant to export",
    export_choices(report.dimension, report.ks, report.dead_dims),
    key="drop_export_variant",
    help="Fitted on this task's documents exactly as scored above: the dead dimensions, the largest variances, "
    "the first dimensions (sentence-transformers' truncate_dim) or the top principal axes.",
)
export_precision = e2.segmented_control(
    "Stored as", ["float32", "int8", "binary"], default="float32", key="drop_export_precision"
)
export_precision = export_precision or "float32"
corpus_spec = (
    choice if choice != "corpus" else (ctx.corpus.name if ctx.corpus.source.startswith("builtin:") else "YOUR_FILE")
)
model_spec = resolved.spec if getattr(resolved, "source", "") == "folder" else resolved.name
st.markdown("The command that exports it, with the model card, provenance and measured figures:")
st.code(
    export_command(model_spec, corpus_spec, export_variant, export_precision, columns={}),
    language="bash",
    wrap_lines=True,
)
if corpus_spec == "YOUR_FILE":
    st.caption("Replace YOUR_FILE with the file you uploaded (its query and document columns, or its labels).")
settings = point_settings(report, export_variant, export_precision)
retention = settings["measured_retention"]
st.caption(
    f"{settings['dimensions']} dimensions stored as {export_precision}; measured retention "
    + (f"{retention:.1%}" if retention is not None else "n/a")
    + (
        " (int8 and binary with rescoring measured at the model's full width)."
        if export_precision != "float32"
        else "."
    )
)
tabs = st.tabs(["pgvector", "Qdrant", "LanceDB", "FAISS"])
for tab, store_name in zip(tabs, ("pgvector", "qdrant", "lancedb", "faiss"), strict=True):
    with tab:
        entry = settings[store_name]
        st.caption(f"{store_name} {settings['versions'][store_name]}: {ui.plain(entry['why'])}")
        shown = {k: v for k, v in entry.items() if k != "why" and v}
        if store_name == "pgvector":
            st.code("\n".join(f"-- {k}\n{v}" for k, v in shown.items()), language="sql", wrap_lines=True)
        elif store_name == "qdrant":
            st.code(json.dumps(shown, indent=1), language="json", wrap_lines=True)
        else:
            st.code("\n".join(shown.values()) or "(no index fits; see above)", language="python", wrap_lines=True)
if ui.deployment_policy().public:
    st.caption("This public demo offers the recipe and the command only: run the command where you run your model.")
elif ctx.vectors is None:
    # A callback, not the button's return value: it survives the reruns the page's URL state may cause.
    st.button(
        "Build the trimmed model",
        key="drop_export_build",
        on_click=st.session_state.__setitem__,
        args=("drop_export_requested", True),
        icon=":material/build:",
    )
if st.session_state.pop("drop_export_requested", False) and ctx.vectors is None and not ui.deployment_policy().public:
    with ui.stop_on_error(), st.spinner("Writing the model folder…"), tempfile.TemporaryDirectory() as scratch:
        what = f"{export_variant}-{export_precision}-model"
        folder = Path(scratch) / ui.file_name(**named, what=what, ext="zip").removesuffix(".zip")  # the zip's folder
        export_model(resolved, task, export_variant, folder, precision=export_precision, store=store)
        archive = zip_folder(folder)
    ui.download(
        "Download the trimmed model (zip)",
        archive,
        **named,
        what=what,
        ext="zip",
        mime="application/zip",
    )
