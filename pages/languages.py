"""Languages: per-language spread of the dimensions and how close translations land."""

import streamlit as st

import dashboard as ui
from analysis.figures import languages as figs
from analysis.reports.multilingual import MAX_PER_LANGUAGE, multilingual_report, sample_per_language

MULTILINGUAL = "chatterbot-multilingual"


ctx = ui.context()
st.title("Languages")
st.caption(
    "For a corpus with a language column: how each language spreads over the dimensions, and how close a "
    "sentence lands to its translation."
)

# Guard: a language column.
if ctx.corpus.languages is None:
    st.info(
        f"**{ui.plain(ctx.corpus.name)}** has no language column. Use the built-in multilingual corpus (28 languages, "
        "with line-for-line translations), or upload a file with a language column.",
        icon=":material/translate:",
    )
    if MULTILINGUAL in ui.builtin_names():
        st.button(
            "Use ChatterBot multilingual",
            key="languages_use",
            on_click=ui.set_widget,
            args=("corpus", MULTILINGUAL),
            icon=":material/swap_horiz:",
        )
    st.stop()

# The rows the report analyses (the CLI's multilingual takes the same): asked for here to check the cache first.
corpus = sample_per_language(ctx.corpus, MAX_PER_LANGUAGE)
if corpus is not ctx.corpus:
    st.caption(
        f"Sampled to at most {MAX_PER_LANGUAGE} texts per language (translated sentences first): "
        f"{len(corpus):,} of {len(ctx.corpus):,} texts."
    )

with ui.stop_on_error():
    why = ui.pending_reason(ctx.model, corpus, trust=ctx.trust_remote_code)
    if why:
        ui.compute_box(
            f"**{ui.plain(ctx.model)}** has not been run on this sample yet: {why}.",
            key="languages_compute",
            on_click=ui.approve,
            args=(ctx.model, corpus, ctx.trust_remote_code),
        )
        st.stop()
    resolved = ui.resolve(ctx.model, trust=ctx.trust_remote_code)
    progress = ui.Progress(f"{resolved.name} on {corpus.name}")
    try:
        report = multilingual_report(
            resolved, ctx.corpus, max_per_language=MAX_PER_LANGUAGE, progress=progress, store=ui.store_for(corpus)
        )
    finally:
        progress.close()

languages = report.languages
parallel = report.parallel
m1, m2, m3 = st.columns(3)
m1.metric("Languages", len(languages))
m2.metric("Parallel pairs", f"{parallel.n_pairs:,}" if parallel else "0")
m3.metric("Mean cosine with the translation", f"{parallel.mean_cosine:.3f}" if parallel else "n/a")

ui.plot(figs.language_std_chart(languages), key="languages_std")
everywhere = sorted(set.intersection(*(set(row.dead_dims) for row in languages))) if languages else []
extra = {row.language: sorted(set(row.dead_dims) - set(everywhere)) for row in languages}
st.caption(
    "Median over dimensions of each dimension's std within one language. Dead in every language: "
    + (", ".join(map(str, everywhere)) or "none")
    + "."
    + "".join(f" Also dead in {k}: {', '.join(map(str, v))}." for k, v in extra.items() if v)
)

if parallel:
    ui.plot(figs.language_parallel_chart(parallel), key="languages_parallel")
    st.caption(
        f"Rows that share a group id are translations of one utterance; each is compared with its "
        f"{parallel.pivot} version. A multilingual model puts translations close (cosine near 1); an "
        "English-only model does not."
    )
else:
    st.info("No parallel sentences in this corpus (no shared group ids), so no translation cosines.")
