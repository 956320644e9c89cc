"""Computation for the pages: resolve under the deployment policy, load with a progress bar, ask
before expensive work, and stop a page with a clear error instead of a traceback."""

from __future__ import annotations

from typing import Any

import streamlit as st

from analysis.cache import default_store
from analysis.corpora import Corpus, RetrievalTask, labelled_task, load_builtin_task
from analysis.errors import DimScopeError
from analysis.models import ResolvedModel
from analysis.pipeline import (
    EmbeddingResult,
    EncodeOptions,
    StatsResult,
    embeddings_key,
    get_embeddings,
    get_stats,
    stats_key,
)
from pages.dashboard.policy import Policy, current_policy
from pages.dashboard.sidebar import Context
from pages.dashboard.state import pair_uploads
from pages.dashboard.urlstate import UPLOAD_PREFIX

MEMO = "ds_embeddings_memo"
APPROVED = "ds_compute_approved"
# Work started without asking, in texts x million parameters: all-MiniLM-L6-v2 (22.7M) on the
# default corpus (1,629 texts) is 37k; all-mpnet-base-v2 (110M) on it is 178k, minutes on a CPU.
AUTO_COMPUTE_BUDGET = 60_000
# Retrieval scoring started without asking, in query x document pairs: the 34 variants and the
# harmful-dimension scan of 2,000 x 2,000 pairs take about 10-20 s on 2 cores.
AUTO_SCORING_PAIRS = 4_000_000
_MEMO_SIZE = 2


def deployment_policy() -> Policy:
    """Private (everything open) or public demo limits, from DIMSCOPE_PUBLIC / DIMSCOPE_CONFIG."""
    return current_policy()


def resolve(model: str, *, trust: bool = False) -> ResolvedModel:
    """resolve_model under the deployment policy (public mode: allow-listed models only)."""
    return deployment_policy().resolve(model, allow_trust_remote_code=trust)


class Progress:
    """A progress callback that draws nothing until real work starts (a cache hit stays silent)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or (self.bar is None and done >= total):
            return
        if self.bar is None:
            self.bar = st.progress(0.0, text=f"{self.label}: loading the model…")
        self.bar.progress(min(1.0, done / total), text=f"{self.label}: encoded {done:,} of {total:,} texts")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.empty()
            self.bar = None


def load_stats(model: str, corpus: Corpus, *, trust: bool = False) -> StatsResult:
    """Statistics from the disk cache, or computed with a progress bar. Raises DimScopeError."""
    resolved = resolve(model, trust=trust)
    progress = Progress(f"{resolved.name} on {corpus.name}")
    try:
        return get_stats(resolved, corpus, progress=progress, time_budget_s=deployment_policy().encode_budget_seconds)
    finally:
        progress.close()


def load_embeddings(model: str, corpus: Corpus, *, trust: bool = False) -> EmbeddingResult:
    """Raw embeddings, remembered for this session only (keyed by model fingerprint and corpus hash)."""
    resolved = resolve(model, trust=trust)
    memo: dict[tuple[str, str], EmbeddingResult] = st.session_state.setdefault(MEMO, {})
    key = (resolved.fingerprint, corpus.content_hash)
    if key in memo:
        return memo[key]
    progress = Progress(f"{resolved.name} on {corpus.name}")
    try:
        result = get_embeddings(
            resolved, corpus, progress=progress, time_budget_s=deployment_policy().encode_budget_seconds
        )
    finally:
        progress.close()
    while len(memo) >= _MEMO_SIZE:
        memo.pop(next(iter(memo)))
    memo[key] = result
    return result


def pending_reason(model: str, corpus: Corpus, *, trust: bool = False) -> str | None:
    """None when a model's statistics can be shown right away: already cached (or computable from
    cached embeddings), cheap to compute, or approved in this session. Otherwise a short estimate
    of the work, for a page to ask before starting it. Raises DimScopeError for unloadable models."""
    resolved = resolve(model, trust=trust)
    store, options = default_store(), EncodeOptions()
    if all(stats_key(resolved, corpus, options, view) in store for view in ("raw", "normalized")):
        return None
    if embeddings_key(resolved, corpus, options) in store:
        return None
    if (resolved.fingerprint, corpus.content_hash) in st.session_state.get(APPROVED, set()):
        return None
    millions = resolved.info.parameters_millions if resolved.info else 110.0
    if len(corpus) * millions <= AUTO_COMPUTE_BUDGET:
        return None
    return (
        f"{len(corpus):,} texts through a {millions:.0f}M-parameter model, which can take minutes on a CPU; "
        "the result is cached for every later visit"
    )


def approve(model: str, corpus: Corpus, trust: bool = False) -> None:
    """Callback: allow computing ``model`` on ``corpus`` in this session."""
    resolved = resolve(model, trust=trust)
    st.session_state.setdefault(APPROVED, set()).add((resolved.fingerprint, corpus.content_hash))


def task_pending_reason(model: str, task: RetrievalTask, *, trust: bool = False) -> str | None:
    """Like :func:`pending_reason` for both sides of a retrieval task, plus the scoring itself:
    None when it can start right away, else a short estimate of the work."""
    reasons = [
        why
        for corpus in ([task.queries] if task.queries is task.documents else [task.queries, task.documents])
        if (why := pending_reason(model, corpus, trust=trust)) is not None
    ]
    pairs = len(task.queries) * len(task.documents)
    approved = st.session_state.get(APPROVED, set())
    resolved = resolve(model, trust=trust)
    if pairs > AUTO_SCORING_PAIRS and (resolved.fingerprint, task.documents.content_hash) not in approved:
        reasons.append(f"scoring {pairs:,} query-document pairs for every variant, which can take minutes")
    return "; ".join(reasons) or None


def approve_task(model: str, task: RetrievalTask, trust: bool = False) -> None:
    """Callback: allow encoding and scoring ``task`` with ``model`` in this session."""
    for corpus in (task.queries, task.documents):
        approve(model, corpus, trust)


def stats_or_stop(ctx: Context) -> StatsResult:
    """The page guard: statistics, or an error with the fix and a stopped page."""
    try:
        result = load_stats(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    except DimScopeError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    for warning in result.warnings:
        st.caption(f":material/warning: {warning}")
    return result


def embeddings_or_stop(ctx: Context) -> EmbeddingResult:
    try:
        return load_embeddings(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    except DimScopeError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()


def plot(fig: Any, **kwargs: Any) -> Any:
    """Every chart goes through here: Streamlit's theme (light or dark), full width."""
    return st.plotly_chart(fig, theme="streamlit", width="stretch", **kwargs)


def retrieval_task_or_stop(ctx: Context, choice: str) -> RetrievalTask:
    """The task a page scores: a built-in pairs task, or the sidebar corpus (the query and document
    columns mapped on the Corpus page, else its labels). Stops the page with a note when there is none."""
    try:
        if choice != "corpus":
            return load_builtin_task(choice)
        corpus_name = ctx.state.corpus
        if corpus_name.startswith(UPLOAD_PREFIX) and corpus_name[len(UPLOAD_PREFIX) :] in pair_uploads():
            return pair_uploads()[corpus_name[len(UPLOAD_PREFIX) :]]
        if ctx.corpus.labels is not None:
            return labelled_task(ctx.corpus)
    except DimScopeError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    st.info(
        f"**{ctx.corpus.name}** has no labels and no query and document columns, so nothing says which texts "
        "should find which. Upload a file on the Corpus page and map a query column and a document column "
        "(or a label column), or pick one of the built-in tasks above.",
        icon=":material/search_off:",
    )
    st.stop()
