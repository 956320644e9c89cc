"""The shared sidebar: model, corpus and view, each bound to the URL, and the page context it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from analysis.corpora import DEFAULT_CORPUS, Corpus, builtin_corpora, load_builtin_corpus
from analysis.models import CATALOG, STATUS_DOWNLOAD, Availability, catalog_info, format_bytes, list_models
from analysis.options import VIEWS
from pages.dashboard import urlstate
from pages.dashboard.policy import current_policy
from pages.dashboard.state import bind, builtin_names, state, update, uploads
from pages.dashboard.urlstate import UPLOAD_PREFIX, UrlState

TRUST = "ds_trust_remote_code"
OTHER = "__other__"
PAGE_CORPUS = "pages/corpus.py"


@dataclass
class Context:
    """What every page needs: the state, the model spec, the corpus and the trust flag."""

    state: UrlState
    model: str
    corpus: Corpus
    trust_remote_code: bool

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


def _model_label(availability: dict[str, Availability]) -> Callable[[str], str]:
    def label(name: str) -> str:
        if name == OTHER:
            return "Other: a hub id or a local folder…"
        info = catalog_info(name)
        text = f"{name} · {info.dimension} dims" if info else name
        found = availability.get(name)
        return text + (f" · {found.label}" if found else "")

    return label


def _model_caption(found: Availability) -> str | None:
    """A line under the picker when the chosen model is not ready here."""
    if found.status == STATUS_DOWNLOAD:
        size = f" ({format_bytes(found.download_bytes)})" if found.download_bytes else ""
        return f"Downloads from the hub{size} on first use, then loads from the local hub cache."
    if not found.available:
        return f"Not available here: {found.where}."
    return None


def _corpus_label(name: str) -> str:
    if name.startswith(UPLOAD_PREFIX):  # pure (no session state): AppTest calls it outside a run
        return f"Uploaded: {name[len(UPLOAD_PREFIX) :]}"
    titles = {info.name: info.title for info in builtin_corpora()}
    return titles.get(name, name)


def sidebar() -> Context:
    """The shared sidebar: model, corpus and view, each bound to the URL. Returns the context."""
    availability = _availability()
    rules = current_policy()
    catalog_names = offered_models()
    sb = st.sidebar
    sb.markdown("#### Model")
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
        help="Catalog models, or any sentence-transformers model by hub id or folder.",
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
            sb.error(f"{problem.capitalize()}.")
        elif typed:
            update(model=urlstate.canonical_model(typed))
        else:
            sb.info(f"Type a hub id or a folder. Still showing {state().model}.")
    else:
        update(model=choice)
    chosen = availability.get(state().model)
    caption = _model_caption(chosen) if chosen else None
    if caption:
        sb.caption(caption)
    info = catalog_info(state().model)
    trust = False
    if info is not None and info.needs_trust_remote_code:
        trust = sb.checkbox(
            "Allow this model's custom code",
            key=TRUST,
            help="This model runs Python code from its hub repository (trust_remote_code).",
        )

    sb.markdown("#### Corpus")
    names = builtin_names() + [UPLOAD_PREFIX + name for name in uploads()]
    if state().corpus not in names:
        update(corpus=DEFAULT_CORPUS if DEFAULT_CORPUS in names else names[0])
    bind("corpus", sb.selectbox, "Corpus", names, format_func=_corpus_label)
    sb.page_link(PAGE_CORPUS, label="Browse or upload corpora", icon=":material/upload_file:")

    sb.markdown("#### Statistics")
    bind(
        "view",
        sb.radio,
        "View",
        list(VIEWS),
        horizontal=True,
        format_func=lambda v: {"normalized": "normalized", "raw": "raw (before Normalize)"}[v],
        help="Normalized: unit-length vectors, what the model returns. Raw: the pooled vector before "
        "the model's own Normalize step. Dead dimensions are always judged on the normalized view.",
    )
    return Context(state(), state().model, corpus_for(state().corpus), trust)


def corpus_for(name: str) -> Corpus:
    if name.startswith(UPLOAD_PREFIX):
        found = uploads().get(name[len(UPLOAD_PREFIX) :])
        if found is not None:
            return found
        name = DEFAULT_CORPUS
    return load_builtin_corpus(name)
