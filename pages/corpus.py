"""Corpus: browse the built-in corpora, upload your own texts or embeddings, and pick what every page analyses."""

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

import dashboard as ui
from analysis.corpora import (
    SUPPORTED_EXTENSIONS,
    TablePreview,
    UploadedTable,
    builtin_corpora,
    load_builtin_corpus,
    plural,
    read_upload,
    require_texts_for_statistics,
)
from analysis.errors import DimScopeError, upload_memory
from analysis.figures.corpus import label_counts_chart
from analysis.vectors import VECTOR_EXTENSIONS, VECTOR_VIEWS, VectorSource, open_vectors

ctx = ui.context()
# An upload is likely from here: the model loads while the file is chosen, read and cleaned.
ui.preload_model(ctx)
st.title("Corpus")
st.markdown(
    f"Every page analyses the corpus chosen in the sidebar, now **{ui.plain(ctx.corpus.name)}** "
    f"({plural(len(ctx.corpus), 'text')})."
)

UPLOAD_KEY = "corpus_upload"
VECTORS_KEY = "vectors_upload"
# What an on_change callback read of a new file, handed to the body of the same run (see _read_once).
HANDED = {UPLOAD_KEY: "corpus_upload_parsed", VECTORS_KEY: "vectors_upload_opened"}
NONE = "(none)"
T = TypeVar("T")


def _use(name: str) -> None:
    ui.set_widget("corpus", name)


def _limits() -> dict:
    """Upload limits of the deployment (public demo: 10 MB, 5,000 texts, texts cut at 2,000 characters)."""
    rules = ui.deployment_policy()
    limits = {"max_bytes": rules.max_upload_bytes, "max_chars": rules.max_chars}
    if rules.max_texts is not None:
        limits["max_texts"] = rules.max_texts
    return limits


def _parse(upload) -> UploadedTable:
    """The upload's bytes read once, under this deployment's limits: preview, corpus and pairs all
    come from this one table."""
    limits = _limits()
    return read_upload(upload.getvalue(), upload.name, max_bytes=limits["max_bytes"], max_chars=limits["max_chars"])


def _hand_over(key: str, read: Callable[[Any], T]) -> T | None:
    """In an on_change callback: read the new file under ``key`` and hand what came of it (the
    result or its error) to this run's body, which shows it. None when there is nothing to use."""
    upload = st.session_state.get(key)
    if upload is None:
        return None
    try:
        result = read(upload)
    except DimScopeError as exc:
        st.session_state[HANDED[key]] = (upload.file_id, exc)
        return None
    st.session_state[HANDED[key]] = (upload.file_id, result)
    return result


def _read_once(key: str, upload: Any, read: Callable[[Any], T]) -> T:
    """In the page body: what the callback read of this very file in this run (taken back at once,
    so it never outlives the run), else a new reading. A file is read once per run."""
    handed = st.session_state.pop(HANDED[key], None)
    if handed is None or handed[0] != upload.file_id:
        return read(upload)
    if isinstance(handed[1], DimScopeError):
        raise handed[1]
    return handed[1]


def _on_upload() -> None:
    """A new file becomes the corpus of every page at once (columns as inferred; the mapping below
    can change them). Runs before the script, so the sidebar already shows it."""
    parsed = _hand_over(UPLOAD_KEY, _parse)
    if parsed is None:
        return  # the page body shows the reason with the preview
    try:
        corpus = parsed.corpus(max_texts=_limits().get("max_texts"))
    except DimScopeError:
        return  # the page body shows the reason with the preview
    ui.uploads()[corpus.name] = corpus
    _use(str(ui.Selection.upload(corpus.name)))


def _open_vectors(upload, **columns) -> VectorSource:
    """Uploaded embeddings under this deployment's limits, every row checked (NaN, inf, dimension)."""
    rules = ui.deployment_policy()
    with upload_memory(upload.name):
        source = open_vectors(
            upload.getvalue(),
            name=upload.name,
            max_bytes=rules.max_vector_upload_bytes,
            max_rows=rules.max_vector_rows,
            max_chars=rules.max_chars,
            **columns,
        )
        source.moments()  # one streamed pass: refuses NaN or inf rows (with their count) before any page sees them
        _ = source.corpus  # its texts and labels read now: a file that fails there is never adopted
    return source


def _on_vectors_upload() -> None:
    """New embeddings become the corpus (and the model) of every page at once, columns as inferred."""
    _forget_picks(UPLOAD_PICKS)  # a new file: its own columns, not the last file's choices
    source = _hand_over(VECTORS_KEY, _open_vectors)
    if source is None:
        return  # the page body shows the reason
    ui.vector_uploads()[source.name] = source
    _use(str(ui.Selection.vectors(source.name)))


def _map_pairs(parsed: UploadedTable, name: str, query_col: str | None, document_col: str | None) -> None:
    """Keep (or forget) this upload's query -> document pairs for the "What can I drop?" page."""
    if query_col in (None, NONE) or document_col in (None, NONE):
        ui.pair_uploads().pop(name, None)
        return
    try:
        task = parsed.pairs(query_column=query_col, document_column=document_col, max_pairs=_limits().get("max_texts"))
    except DimScopeError as exc:
        ui.pair_uploads().pop(name, None)
        st.error(f"Query and document columns: {ui.plain(str(exc))}")
        return
    ui.pair_uploads()[name] = task
    st.caption(f":material/search: Also a retrieval task: {task.describe()}. " + ui.plain(" ".join(task.messages())))
    st.page_link(
        ui.PAGE_COMPRESS,
        label="Score these pairs on What can I drop?",
        icon=":material/compress:",
        query_params=ui.link_params(task="corpus", corpus=str(ui.Selection.upload(name))),
    )


def _adopt(corpus, label_col: str | None, lang_col: str | None) -> None:
    """Keep a parsed upload in this session, offer it to every page, and describe it."""
    # "(none)" must mean none: parse_corpus_bytes infers a column when given None.
    if label_col == NONE and corpus.labels is not None:
        corpus = dataclasses.replace(corpus, labels=None)
    if lang_col == NONE and corpus.languages is not None:
        corpus = dataclasses.replace(corpus, languages=None)
    name = corpus.name
    stored = ui.uploads().get(name)
    if (
        stored is None
        or stored.content_hash != corpus.content_hash
        or stored.labels != corpus.labels
        or stored.languages != corpus.languages
    ):
        ui.uploads()[name] = corpus
    if ctx.state.corpus != str(ui.Selection.upload(name)):
        st.button(
            "Use this corpus",
            on_click=_use,
            args=(str(ui.Selection.upload(name)),),
            type="primary",
            icon=":material/check:",
            key="use_upload",
            help=f"Analyse {ui.plain(name)} on every page",
        )
    else:
        # The next page shows its statistics: the encode starts now, while the user looks and clicks.
        ui.start_stats_ahead(ctx.model, corpus, trust=ctx.trust_remote_code)
        st.success(f"{ui.plain(name)} is the corpus every page analyses now.", icon=":material/check:")
    _describe(corpus, "upload")


def _describe(corpus, where: str) -> None:
    """Counts, cleaning report, label distribution and the texts of one corpus."""
    labels = corpus.labels
    c1, c2, c3 = st.columns(3)
    c1.metric("Texts", f"{len(corpus):,}")
    c2.metric("Labels", f"{len(set(labels)):,}" if labels else "none")
    c3.metric("Languages", f"{len(set(corpus.languages)):,}" if corpus.languages else "not given")
    for message in corpus.report.messages():
        st.caption(f":material/info: {ui.plain(message)}")
    try:
        require_texts_for_statistics(corpus)
    except DimScopeError as exc:
        st.warning(ui.plain(str(exc)), icon=":material/warning:")
    left, right = st.columns([1, 1])
    with left:
        if labels:
            ui.plot(
                label_counts_chart(labels, title=f"Texts per label in {ui.plain(corpus.name, 'plotly')}"),
                key=f"labels_{where}",
            )
        else:
            st.info("No labels: pages that group by label will say so.")
    with right:
        st.dataframe(corpus.to_frame(), height=min(420, 40 + 35 * len(corpus)), hide_index=False, key=f"texts_{where}")


# The column pickers of an embeddings upload and of a store, by widget key (vector, text, label).
UPLOAD_PICKS = ("map_vectors", "map_vtext", "map_vlabel")
STORE_PICKS = ("store_vectors", "store_vtext", "store_vlabel")
STORE_KEY = "store_form"
ARRAY = "(the array)"
ROWS: dict[str, str] = {"all": "All rows", "first": "The first N rows", "sample": "A uniform sample of N rows"}


def _picked(keys: tuple[str, str, str]) -> dict[str, str | None]:
    """The columns the pickers chose in an earlier run, as open_vectors takes them ("" = none);
    {} before they are drawn (a new file or store: its columns are inferred)."""
    vector, text, label = (st.session_state.get(key) for key in keys)
    if vector is None and text is None and label is None:
        return {}
    return {
        "vector_column": None if vector in (None, ARRAY) else vector,
        "text_column": None if text is None else "" if text == NONE else text,
        "label_column": None if label is None else "" if label == NONE else label,
    }


def _forget_picks(keys: tuple[str, str, str]) -> None:
    for key in keys:
        st.session_state.pop(key, None)


def _column_pickers(source: VectorSource, keys: tuple[str, str, str]) -> None:
    """Vector, text and label columns, starting from what ``source`` uses; a change opens it again
    with them in the next run (see _picked)."""
    layout = source.layout
    text, label = source.columns_used
    v1, v2, v3 = st.columns(3)
    vectors = list(layout.vector_columns) or [ARRAY]
    v1.selectbox(
        "Vector column",
        vectors,
        index=vectors.index(layout.vector_column) if layout.vector_column in vectors else 0,
        key=keys[0],
        disabled=len(layout.vector_columns) < 2,
    )
    others = [NONE, *layout.scalar_columns]
    v2.selectbox("Text column", others, index=others.index(text) if text in others else 0, key=keys[1])
    v3.selectbox("Label column", others, index=others.index(label) if label in others else 0, key=keys[2])


def _offer(source: VectorSource, key: str, label: str) -> None:
    """Keep ``source`` in this session under its name, and make it the choice of every page (a button) or say it is."""
    stored = ui.vector_uploads().get(source.name)
    if stored is None or (stored.fingerprint, stored.columns_used) != (source.fingerprint, source.columns_used):
        ui.vector_uploads()[source.name] = source
    choice = str(ui.Selection.vectors(source.name))
    if ctx.state.corpus != choice:
        st.button(
            label,
            on_click=_use,
            args=(choice,),
            type="primary",
            icon=":material/check:",
            key=key,
            help=f"Analyse the vectors in {ui.plain(source.name)} on every page",
        )
    else:
        st.success(f"{ui.plain(source.name)} is what every page analyses now.", icon=":material/check:")


def _describe_vectors(source: VectorSource, where: str) -> None:
    m1, m2, m3 = st.columns(3)
    m1.metric("Vectors", f"{source.n_rows:,}")
    # The layout knows it but for a list column: then one streamed pass (a kept store is not read again per run).
    m2.metric("Dimensions", f"{source.dimension or source.moments()['raw'].dimension:,}")
    m3.metric("Stored as", source.layout.dtype)
    st.caption(
        f":material/info: Raw = {VECTOR_VIEWS['raw']}; normalized = {VECTOR_VIEWS['normalized']}."
        + ("" if source.has_texts else " No text column: rows are shown as row 0, row 1, ...")
    )
    _describe(source.corpus, where)


def _store_request(columns: dict[str, str | None]) -> ui.StoreRequest:
    """The store the field names, with ``columns`` and the rows chosen (the CLI's --limit, --sample N --seed S)."""
    rows, n, seed = (st.session_state.get(key) for key in ("store_rows", "store_n", "store_seed"))
    return ui.StoreRequest(
        str(st.session_state.get(STORE_KEY, "")).strip(),
        limit=int(n) if rows == "first" and n else None,
        sample=int(n) if rows == "sample" and n else None,
        seed=int(seed or 0) if rows == "sample" else 0,
        **columns,
    )


def _on_store() -> None:
    """A store typed (Enter) becomes the corpus and the model of every page at once, columns inferred;
    the page body shows a failure (the same opening, kept: see ui.opened_store)."""
    _forget_picks(STORE_PICKS)
    if ui.deployment_policy().public:  # the field is not drawn there; nothing else may open a store either
        return
    try:
        source = ui.opened_store(_store_request({}))
    except DimScopeError:
        return
    ui.vector_uploads()[source.name] = source
    _use(str(ui.Selection.vectors(source.name)))


# Where results computed from an upload go (see ui.store_for); said the same way for texts and embeddings.
KEPT = (
    "On this public demo, what is computed from it (embeddings, statistics, reports) is kept in this "
    "session's memory only and is gone when the session ends."
    if ui.deployment_policy().public
    else "What is computed from it is cached on this machine's disk, so a later visit or a "
    "`python -m analysis` run on the same file reuses it."
)

# Upload first: it is the action this page exists for, and it stays visible (not in a hidden tab).
st.subheader("Your own corpus")
st.markdown(
    "One text per line (.txt), a table with a header row (.csv, .tsv), JSON lines, JSON or Parquet. "
    "Blank rows and duplicates are dropped and counted. The upload stays in this browser session: other "
    "sessions never see it and it cannot travel in a link. " + KEPT
)
upload = st.file_uploader(
    "Corpus file",
    type=[ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS],
    key=UPLOAD_KEY,
    on_change=_on_upload,
    max_upload_size=ui.upload_limit_mb(ui.deployment_policy().max_upload_bytes),
    help="A new file becomes the corpus of every page right away.",
)
if upload is not None:
    preview: TablePreview | None
    try:
        parsed = _read_once(UPLOAD_KEY, upload, _parse)
        preview = parsed.preview()
    except DimScopeError as exc:
        st.error(ui.plain(str(exc)))
        preview = None
    if preview is not None:
        st.caption(
            f"{preview.format.upper()}, {preview.n_rows:,} rows, columns: "
            + ", ".join(ui.plain(c) for c in preview.columns[:50])
        )
        st.dataframe(preview.head, hide_index=True, height=220)
        columns = preview.columns
        text_col = label_col = lang_col = query_col = document_col = None
        if preview.format != "txt":
            if preview.text_column is None:
                st.warning(
                    f"No column of {ui.plain(upload.name)} holds text (columns: {ui.plain(', '.join(columns[:20]))}"
                    f"{', …' if len(columns) > 20 else ''}). Choose the column with the texts below; "
                    "nothing is analysed until you do.",
                    icon=":material/table_rows:",
                )
            m1, m2, m3 = st.columns(3)
            text_col = m1.selectbox(
                "Text column",
                columns,
                index=columns.index(preview.text_column) if preview.text_column in columns else None,
                placeholder="Choose the text column",
                key="map_text",
            )
            if text_col in preview.numeric_columns:
                st.warning(
                    f"The column {ui.plain(text_col)} holds numbers, not text: each number will be "
                    "embedded as a string of digits, which says little about how the model reads language.",
                    icon=":material/pin:",
                )
            others = [NONE] + columns
            label_col = m2.selectbox(
                "Label column",
                others,
                index=others.index(preview.label_column) if preview.label_column in others else 0,
                key="map_label",
            )
            lang_col = m3.selectbox(
                "Language column",
                others,
                index=others.index(preview.language_column) if preview.language_column in others else 0,
                key="map_language",
            )
            p1, p2 = st.columns(2)
            query_col = p1.selectbox(
                "Query column (retrieval pairs, for What can I drop?)",
                others,
                index=others.index(preview.query_column) if preview.query_column in others else 0,
                key="map_query",
                help="With a document column: each row's query should find its document.",
            )
            document_col = p2.selectbox(
                "Document column",
                others,
                index=others.index(preview.document_column) if preview.document_column in others else 0,
                key="map_document",
            )
        try:
            corpus = (
                None  # no text column chosen yet: nothing to parse
                if preview.format != "txt" and text_col is None
                else parsed.corpus(
                    text_column=text_col,
                    label_column=None if label_col in (None, NONE) else label_col,
                    language_column=None if lang_col in (None, NONE) else lang_col,
                    max_texts=_limits().get("max_texts"),
                )
            )
        except DimScopeError as exc:
            st.error(ui.plain(str(exc)))
        else:
            if corpus is not None:
                _adopt(corpus, label_col, lang_col)
                _map_pairs(parsed, corpus.name, query_col, document_col)

st.subheader("Your own embeddings")
rules = ui.deployment_policy()
cap = f" This server takes files up to {rules.max_vector_upload_bytes / 2**20:.0f} MB" + (
    f" and the first {rules.max_vector_rows:,} vectors." if rules.max_vector_rows else "."
)
st.markdown(
    "Vectors you already have, one row per text: a 2-D array (.npy, or an array in .npz) or a table with a "
    "vector column, a list of floats per row (.parquet, .arrow, .feather), optionally with text and label "
    f"columns. **The vectors as given are the raw view; normalized is their L2 normalization.** Every page "
    "but *Why dimensions die* (which reads a model's weights) works on them, *What can I drop?* on their labels; "
    "rows with NaN or infinite values are "
    f"refused with their count.{cap if rules.public else ''} The upload stays in this browser session. " + KEPT
)
vectors_upload = st.file_uploader(
    "Embeddings file",
    type=[ext.lstrip(".") for ext in VECTOR_EXTENSIONS],
    key=VECTORS_KEY,
    on_change=_on_vectors_upload,
    max_upload_size=ui.upload_limit_mb(ui.deployment_policy().max_vector_upload_bytes),
    help="New embeddings become the corpus and the model of every page right away.",
)
if vectors_upload is not None:
    source: VectorSource | None
    try:
        # Opened once per run: with the columns the pickers hold, or (a new file) as the callback read it.
        picked = _picked(UPLOAD_PICKS)
        source = (
            _open_vectors(vectors_upload, **picked)
            if picked
            else _read_once(VECTORS_KEY, vectors_upload, _open_vectors)
        )
    except DimScopeError as exc:
        st.error(ui.plain(str(exc)))
        source = None
    if source is not None:
        _column_pickers(source, UPLOAD_PICKS)
        _offer(source, "use_vectors", "Use these embeddings")
        _describe_vectors(source, "vectors")

if not ui.deployment_policy().public:
    # Private mode only: a public demo's visitors never name paths on its server (dashboard/stores.py).
    st.subheader("Your vector store")
    st.markdown(
        "Vectors that already live in a store on this machine, read where they are: nothing is uploaded, "
        "and reading never changes the store (a Chroma folder is copied first, since its own client writes "
        "to it on opening). The forms are those of `python -m analysis stats --embeddings`: "
        + ", ".join(f"`{form}`" for form in ui.store_forms())
        + ". "
        + KEPT
    )
    st.text_input(
        "Vector store on this server",
        key=STORE_KEY,
        on_change=_on_store,
        placeholder=ui.store_forms()[0].replace("PATH", "/path/to/folder"),
        help="Press Enter: the store becomes the corpus and the model of every page.",
    )
    r1, r2, r3 = st.columns(3)
    rows = r1.selectbox("Rows", list(ROWS), format_func=lambda choice: ROWS[choice], key="store_rows")
    r2.number_input("N (rows)", min_value=1, value=10_000, step=1_000, key="store_n", disabled=rows == "all")
    r3.number_input("Seed", min_value=0, value=0, step=1, key="store_seed", disabled=rows != "sample")
    if st.session_state.get(STORE_KEY, "").strip():
        try:
            source = ui.opened_store(_store_request(_picked(STORE_PICKS)))
        except DimScopeError as exc:
            st.error(ui.plain(str(exc)), icon=":material/error:")
        else:
            _column_pickers(source, STORE_PICKS)
            _offer(source, "use_store", "Use this store")
            _describe_vectors(source, "store")

if ui.uploads() or ui.vector_uploads():
    st.markdown("**Uploaded in this session** (selectable in the sidebar on every page)")
    st.dataframe(
        pd.DataFrame(
            [
                {"name": n, "kind": "texts", "rows": len(c), "labels": len(set(c.labels)) if c.labels else 0}
                for n, c in ui.uploads().items()
            ]
            + [
                {
                    "name": n,
                    "kind": "embeddings" if v.data is not None else "vector store",
                    "rows": v.n_rows,
                    "labels": len(set(v.corpus.labels)) if v.corpus.labels else 0,
                }
                for n, v in ui.vector_uploads().items()
            ]
        ),
        hide_index=True,
    )

st.subheader("Built-in corpora")
infos = builtin_corpora()
st.dataframe(
    pd.DataFrame(
        [
            {
                "name": i.name,
                "title": i.title,
                "available": i.available,
                "labels": i.has_labels,
                "languages": i.has_languages,
                "description": i.description
                or ui.deployment_policy().for_visitor(f"{i.name}: {i.reason}", "Not available on this demo."),
            }
            for i in infos
        ]
    ),
    hide_index=True,
    height=240,
    column_config={"description": st.column_config.TextColumn(width="large")},
)
names = [i.name for i in infos if i.available]
current = ctx.state.corpus if ctx.state.corpus in names else names[0]
titles = {i.name: i.title for i in infos}
browse = st.selectbox(
    "Browse", names, index=names.index(current), key="corpus_browse", format_func=lambda name: titles.get(name, name)
)
try:
    corpus = load_builtin_corpus(browse)
except DimScopeError as exc:
    st.error(ui.plain(str(exc)))
else:
    if browse != ctx.state.corpus:
        st.button(
            f"Analyse {browse} on every page", on_click=_use, args=(browse,), type="primary", icon=":material/check:"
        )
    _describe(corpus, "builtin")
