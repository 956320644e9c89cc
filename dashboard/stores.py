"""A vector store on this server (``lancedb:PATH#TABLE``...) as the Corpus page opens it: private mode only.

The Corpus page of a private server offers a field where its user types a store form, as the CLI's
``--embeddings`` takes it. What comes back is a :class:`~analysis.vectors.VectorSource`, the same
object an uploaded embeddings file gives: it goes into :func:`~dashboard.state.vector_uploads` and
every page works on it, its statistics through the one cached path under the fingerprint the
library computes of the store's files.

A public demo never opens one: a visitor must not name a path on the server. The page does not draw
the field there, links naming a store are refused by :mod:`dashboard.urlstate`, and
:func:`open_store` itself refuses, whatever calls it.

An opened store is kept for the session with the request that opened it (:func:`opened_store`): a
rerun of the page, or a column choice that changes nothing, reads nothing again (a Chroma store is
copied to be read, so a second opening costs as much as the first).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from analysis.errors import CorpusError, DimScopeError, OptionError, upload_memory
from analysis.vectors import VectorSource, open_vectors
from analysis.vectors.stores import STORE_FORMS, parse_store
from dashboard.policy import Policy, current_policy

__all__ = ["PUBLIC_REFUSAL", "StoreRequest", "open_store", "opened_store", "store_forms"]

#: The one line a public demo answers to any attempt to open a store on its server.
PUBLIC_REFUSAL = (
    "This public demo never reads a vector store on its server: a visitor cannot name a path there. "
    "Upload an embeddings file instead."
)
OPENED = "ds_store_opened"  # session key: (request, what came of it) for the last store opened


def store_forms() -> list[str]:
    """The store forms this installation reads (``lancedb:PATH#TABLE``...), as the library lists them."""
    return list(STORE_FORMS.values())


@dataclass(frozen=True)
class StoreRequest:
    """What the Corpus page asks of a store: its form, the columns and which rows.

    Columns: None is inferred, ``""`` none (as :func:`~analysis.vectors.open_vectors` takes them).
    Rows: all, the first ``limit``, or a uniform ``sample`` drawn with ``seed`` (the CLI's
    ``--limit``, ``--sample N --seed S``).
    """

    form: str
    vector_column: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0

    def as_used(self, source: VectorSource) -> StoreRequest:
        """This request with the columns ``source`` ended up using: what asking for them again would open."""
        text, label = source.columns_used
        return replace(
            self,
            vector_column=source.layout.vector_column or None,
            text_column=text or "",
            label_column=label or "",
        )


def open_store(request: StoreRequest, rules: Policy | None = None) -> VectorSource:
    """The store opened read-only and checked, every row read once (NaN, inf, dimension) before any
    page sees it; its texts and labels read too. A :class:`DimScopeError` with one line otherwise.

    Refused on a public demo (``rules``: the deployment's policy by default)."""
    rules = rules or current_policy()
    if rules.public:
        raise OptionError(PUBLIC_REFUSAL)
    form = request.form.strip()
    if not form:
        raise OptionError(f"Type a vector store: {', '.join(store_forms())}.")
    parse_store(form)  # an unknown scheme, a missing folder or an incomplete form: one line, before any library loads
    source = open_vectors(
        form,
        vector_column=request.vector_column,
        text_column=request.text_column,
        label_column=request.label_column,
        max_rows=request.limit,
        max_chars=rules.max_chars,
        sample=request.sample,
        seed=request.seed,
    )
    if source.data is not None:  # never the case for a store form; a guard, since pages trust this
        raise CorpusError(f"{form} is not a vector store.")
    with upload_memory(source.name):
        source.moments()  # one streamed pass: refuses NaN or inf rows (with their count) now
        _ = source.corpus  # its texts and labels read now: a store that fails there is never adopted
    return source


def opened_store(request: StoreRequest) -> VectorSource:
    """The store for ``request``, opened once per session: the same request (or the columns the
    last opening inferred, asked for by name) gives the same source without reading it again.

    A failure is raised once and forgotten, so the next run tries again (the user may have fixed the
    store)."""
    kept = st.session_state.get(OPENED)
    if kept is not None and request in kept[0]:
        result = kept[1]
        if isinstance(result, DimScopeError):
            del st.session_state[OPENED]
            raise result
        return result
    try:
        source = open_store(request)
    except DimScopeError as exc:
        st.session_state[OPENED] = ((request,), exc)
        raise
    st.session_state[OPENED] = ((request, request.as_used(source)), source)
    return source
