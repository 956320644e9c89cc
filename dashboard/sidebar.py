"""The shared sidebar: model, corpus and view, each bound to the URL, and the page context it returns.

Uploaded embeddings (a vectors :class:`~dashboard.selection.Selection` in the corpus list) are the
corpus and the model at once: choosing them replaces the model picker with a note, and the
context's ``model`` names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from analysis.corpora import DEFAULT_CORPUS, Corpus, builtin_corpora, load_builtin_corpus
from analysis.models import (
    CATALOG,
    STATUS_CACHED,
    STATUS_DOWNLOAD,
    STATUS_OFFLINE,
    STATUS_PACKAGED,
    STATUS_TEXT,
    Availability,
    catalog_info,
    format_bytes,
    list_models,
)
from analysis.options import VIEWS
from analysis.vectors import VECTOR_VIEWS, VectorSource
from analysis.wording import plain
from dashboard import urlstate
from dashboard.policy import current_policy
from dashboard.selection import Selection
from dashboard.state import bind, builtin_names, state, update, uploads, vector_choices, vector_uploads, widget_value
from dashboard.urlstate import UrlState

TRUST = "ds_trust_remote_code"
OTHER = "__other__"
PAGE_CORPUS = "pages/corpus.py"


@dataclass
class Context:
    """What every page needs: the state, the model spec, the corpus and the trust flag.

    With uploaded embeddings chosen, ``vectors`` is their source, ``model`` is their selection as a string
    (``ui.resolve`` returns the source) and ``corpus`` is their rows.
    """

    state: UrlState
    model: str
    corpus: Corpus
    trust_remote_code: bool
    vectors: VectorSource | None = None

    @property
    def view(self) -> str:
        return self.state.view


# The first sidebar of a process waits at most this long for the hub to report download sizes.
SIZE_WAIT_S = 1.0


def _availability() -> dict[str, Availability]:
    """Catalog short name -> what choosing it will do here (public mode: allow-listed models only)."""
    rules = current_policy()
    only = set(rules.allowed_models) if rules.public else None
    return {a.info.short_name: a for a in list_models(sizes=True, wait_s=SIZE_WAIT_S, only=only)}


def offered_models() -> list[str]:
    """Catalog short names this deployment offers (public mode: the allow-list), in catalog order."""
    rules = current_policy()
    return [info.short_name for info in CATALOG if not rules.public or info.hub_id in rules.allowed_models]


def compare_defaults(current: str) -> list[str]:
    """Compare's default selection: the sidebar's model, then the models that load without a
    download (PyPI copies, complete hub snapshots), never more than the multiselect allows."""
    ready = [name for name, a in _availability().items() if a.ready and name != current]
    return ([current] + ready)[: urlstate.MAX_MODELS]


#: One mark per status, before the name: the picker is as narrow as the sidebar (about 190 px of text,
#: 28 characters), so a status in words was cut off ("· needs netwo") and a long name with it. The
#: caption under the picker says the chosen model's status in words, with the download size.
STATUS_MARKS = {STATUS_PACKAGED: "✓", STATUS_CACHED: "✓", STATUS_DOWNLOAD: "↓", STATUS_OFFLINE: "⊘"}

MODEL_HELP = (
    "Catalog models, or any sentence-transformers model by hub id or folder. The mark before each name says "
    "what choosing it does here: **✓** loads offline (shipped in an installed package, or in the local hub "
    "cache); **↓** downloads from the hub on first use; **⊘** not reachable offline. The line under the "
    "picker says it in words, with the size of a download."
)


def _model_label(availability: dict[str, Availability]) -> Callable[[str], str]:
    def label(name: str) -> str:
        if name == OTHER:
            return "Other: a hub id or a folder…"
        found = availability.get(name)
        return f"{STATUS_MARKS[found.status]} {name}" if found else name

    return label


def _model_caption(found: Availability) -> str:
    """What choosing the model does, in words, under the picker."""
    info = found.info
    if found.status == STATUS_DOWNLOAD:
        size = f" ({format_bytes(found.download_bytes)})" if found.download_bytes else ""
        what = f"downloads from the hub{size} on first use, then loads from the local hub cache"
    elif found.available:
        what = f"{STATUS_TEXT[found.status]}: loads offline"
    elif current_policy().public:  # how to get it is the owner's business (see the server log)
        what = current_policy().for_visitor(f"{info.hub_id}: {found.where}", "not available on this demo")
    else:
        what = f"not reachable offline: {found.where}"
    return f"{info.dimension} dims, {info.parameters_millions:.0f}M parameters; {what}."


def _corpus_label(name: str) -> str:
    chosen = Selection.parse(name)  # pure (no session state): AppTest calls it outside a run
    if chosen.is_upload:
        return f"Uploaded: {chosen.name}"
    if chosen.is_vectors:
        return f"Embeddings: {chosen.name}"
    titles = {info.name: info.title for info in builtin_corpora()}
    return titles.get(name, name)


def sidebar() -> Context:
    """The shared sidebar: model, corpus and view, each bound to the URL. Returns the context."""
    availability = _availability()
    rules = current_policy()
    catalog_names = offered_models()
    sb = st.sidebar
    sb.markdown("#### Model")
    # The corpus picker is drawn below, but a new choice is already in its widget's state.
    vectors = chosen_vectors(widget_value("corpus") or state().corpus)
    if vectors is not None:
        sb.info(
            f"**Your vectors** from {plain(vectors.name)}: their rows are the corpus. "
            f"Raw = {VECTOR_VIEWS['raw']}; normalized = their L2 normalization.",
            icon=":material/upload_file:",
        )
        trust = False
    else:
        trust = _model_picker(sb, rules, catalog_names, availability)

    sb.markdown("#### Corpus")
    names = builtin_names() + [str(Selection.upload(name)) for name in uploads()]
    names += [str(Selection.vectors(name)) for name in vector_choices()]
    if state().corpus not in names:
        update(corpus=DEFAULT_CORPUS if DEFAULT_CORPUS in names else names[0])
    bind("corpus", sb.selectbox, "Corpus", names, format_func=_corpus_label)
    sb.page_link(PAGE_CORPUS, label="Browse or upload corpora", icon=":material/upload_file:")
    vectors = chosen_vectors(state().corpus)

    sb.markdown("#### Statistics")
    raw_label = "raw (as given)" if vectors is not None else "raw (before Normalize)"
    bind(
        "view",
        sb.radio,
        "View",
        list(VIEWS),
        horizontal=True,
        format_func=lambda v: {"normalized": "normalized", "raw": raw_label}[v],
        help="Normalized: unit-length vectors, what the model returns. Raw: the pooled vector before "
        "the model's own Normalize step (for your own vectors: the vectors as given). Dead dimensions are always "
        "judged on the normalized view.",
    )
    model = str(Selection.vectors(vectors.name)) if vectors is not None else state().model
    return Context(state(), model, corpus_for(state().corpus), trust, vectors)


def chosen_vectors(corpus: str) -> VectorSource | None:
    """The uploaded embeddings a corpus choice names, or None."""
    chosen = Selection.parse(corpus)
    return vector_uploads().get(chosen.name) if chosen.is_vectors and chosen.name in vector_choices() else None


def _model_picker(sb: Any, rules: Any, catalog_names: list[str], availability: dict[str, Availability]) -> bool:
    """The model selectbox (or a free-text id), bound to the URL; returns the trust checkbox's value."""
    current = state().model
    if rules.public and current not in catalog_names:  # not reachable through sync_from_url; a guard
        update(model=catalog_names[0])
        current = catalog_names[0]
    choice_key, other_key = "w_model_choice", "w_model_other"
    if choice_key not in st.session_state:
        st.session_state[choice_key] = current if current in catalog_names else OTHER
    if other_key not in st.session_state:
        st.session_state[other_key] = "" if current in catalog_names else current
    choice = sb.selectbox(
        "Model",
        catalog_names + ([] if rules.public else [OTHER]),
        key=choice_key,
        format_func=_model_label(availability),
        help=MODEL_HELP,
    )
    if choice == OTHER:
        typed = sb.text_input(
            "Hub id or folder",
            key=other_key,
            placeholder="org/name or /path/to/model",
            help="A Hugging Face hub id (needs a network unless cached) or an absolute folder path.",
        ).strip()
        problem = urlstate.model_problem(typed) if typed else None
        if problem:
            sb.error(plain(f"{problem.capitalize()}."))
        elif typed:
            update(model=urlstate.canonical_model(typed))
        else:
            sb.info(f"Type a hub id or a folder. Still showing {plain(state().model)}.")
    else:
        update(model=choice)
    chosen = availability.get(state().model)
    if chosen is not None:
        sb.caption(_model_caption(chosen))
    info = catalog_info(state().model)
    trust = False
    if info is not None and info.needs_trust_remote_code:
        trust = sb.checkbox(
            "Allow this model's custom code",
            key=TRUST,
            help="This model runs Python code from its hub repository (trust_remote_code).",
        )
    return bool(trust)


def corpus_for(name: str) -> Corpus:
    vectors = chosen_vectors(name)
    if vectors is not None:
        return vectors.corpus
    chosen = Selection.parse(name)
    if chosen.is_upload:
        found = uploads().get(chosen.name)
        if found is not None:
            return found
        name = DEFAULT_CORPUS
    return load_builtin_corpus(name)
