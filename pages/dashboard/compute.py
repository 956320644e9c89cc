"""Computation for the pages: resolve under the deployment policy, load with a progress bar, ask
before expensive work, and stop a page with a clear error instead of a traceback."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from analysis.cache import default_store
from analysis.corpora import Corpus
from analysis.errors import DimScopeError, ModelNotDownloadedError
from analysis.models import ResolvedModel, catalog_info, download_sizes, format_bytes
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
    """resolve_model under the deployment policy (public mode: allow-listed models only).

    A model that needs a download gets a progress bar while it downloads."""
    policy = deployment_policy()
    try:
        return policy.resolve(model, allow_trust_remote_code=trust, download=False)
    except ModelNotDownloadedError:
        pass
    bar = st.progress(0.0, text=f"Downloading {model} from the hub…")

    def progress(done: int, total: int) -> None:
        text = f"Downloading {model} from the hub: {format_bytes(done)} of {format_bytes(total)}"
        bar.progress(min(1.0, done / total) if total else 0.0, text=text)

    try:
        return policy.resolve(model, allow_trust_remote_code=trust, progress=progress)
    finally:
        bar.empty()


def _download_key(model: str) -> str:
    """The approval key of a model that is not on this machine yet (no fingerprint before the download)."""
    return f"download:{model}"


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
    of the work, for a page to ask before starting it; a model that needs a download always asks.
    Raises DimScopeError for unloadable models."""
    approved = st.session_state.get(APPROVED, set())
    try:
        resolved = deployment_policy().resolve(model, allow_trust_remote_code=trust, download=False)
    except ModelNotDownloadedError:
        if (_download_key(model), corpus.content_hash) in approved:
            return None
        info = catalog_info(model)
        size = download_sizes([info.hub_id], wait_s=0).get(info.hub_id) if info else None
        weight = f" ({format_bytes(size)})" if size else ""
        return (
            f"it needs a download from the hub first{weight}, then {len(corpus):,} texts through it; "
            "both are kept for every later visit"
        )
    store, options = default_store(), EncodeOptions()
    if all(stats_key(resolved, corpus, options, view) in store for view in ("raw", "normalized")):
        return None
    if embeddings_key(resolved, corpus, options) in store:
        return None
    if (resolved.fingerprint, corpus.content_hash) in approved:
        return None
    millions = resolved.info.parameters_millions if resolved.info else 110.0
    if len(corpus) * millions <= AUTO_COMPUTE_BUDGET:
        return None
    return (
        f"{len(corpus):,} texts through a {millions:.0f}M-parameter model, which can take minutes on a CPU; "
        "the result is cached for every later visit"
    )


def approve(model: str, corpus: Corpus, trust: bool = False) -> None:
    """Callback: allow computing ``model`` on ``corpus`` in this session (downloading it first if needed)."""
    try:
        key = deployment_policy().resolve(model, allow_trust_remote_code=trust, download=False).fingerprint
    except DimScopeError:  # not downloaded yet (or unloadable: the page then shows why)
        key = _download_key(model)
    st.session_state.setdefault(APPROVED, set()).add((key, corpus.content_hash))


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


_MARKDOWN_ACTIVE = re.compile(r"([\\`*_\[\]<>$])")


def plain(text: str) -> str:
    """``text`` with the characters Markdown would act on escaped, to show a message as written.

    >>> plain("set HF_TOKEN; see [docs] or $HOME")
    'set HF\\_TOKEN; see \\[docs\\] or \\$HOME'
    """
    return _MARKDOWN_ACTIVE.sub(r"\\\1", text)
