"""Computation for the pages: resolve under the deployment policy, load with a progress bar, ask
before expensive work, and stop a page with a clear error instead of a traceback."""

from __future__ import annotations

from typing import Any

import streamlit as st

from analysis.cache import default_store
from analysis.corpora import Corpus
from analysis.errors import DimScopeError
from analysis.models import ResolvedModel
from analysis.pipeline import EmbeddingResult, StatsResult, cached_options, get_embeddings, get_stats
from pages.dashboard.policy import Policy, current_policy
from pages.dashboard.sidebar import Context

MEMO = "ds_embeddings_memo"
APPROVED = "ds_compute_approved"
# Work started without asking, in texts x million parameters: all-MiniLM-L6-v2 (22.7M) on the
# default corpus (1,629 texts) is 37k; all-mpnet-base-v2 (110M) on it is 178k, minutes on a CPU.
AUTO_COMPUTE_BUDGET = 60_000
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
    if cached_options(resolved, corpus, store=default_store()) is not None:  # never calibrates or loads
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


def stats_or_stop(ctx: Context) -> StatsResult:
    """The page guard: statistics, or an error with the fix and a stopped page."""
    try:
        result = load_stats(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    except DimScopeError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    for warning in result.warnings:
        st.caption(f":material/warning: {warning}")
    st.caption(f":material/speed: {result.backend_summary[0].upper()}{result.backend_summary[1:]}.")
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
