"""Computation for the pages: resolve under the deployment policy, load with a progress bar, ask
before expensive work, and stop a page with a clear error instead of a traceback."""

from __future__ import annotations

import math
import time
from typing import Any

import streamlit as st

from analysis.corpora import (
    Corpus,
    RetrievalTask,
    labelled_task,
    load_builtin_task,
    plural,
    require_texts_for_statistics,
)
from analysis.encoding import calibration, preload
from analysis.encoding.backends import missing_runtimes_note
from analysis.encoding.queue import QueueStatus, format_seconds
from analysis.errors import DimScopeError, ModelNotDownloadedError, OptionError
from analysis.models import catalog_info, download_sizes, format_bytes
from analysis.pipeline import (
    EmbeddingResult,
    EncodeOptions,
    ModelSource,
    StatsResult,
    get_embeddings,
    get_stats,
)
from analysis.pipeline.ahead import ahead_of_time
from analysis.pipeline.cache import EmbeddingStore, default_store
from analysis.pipeline.encode_options import cached_options
from analysis.pipeline.memory_cache import SessionStore
from analysis.settings import step
from analysis.vectors import is_vectors
from analysis.wording import plain
from dashboard.kit import stop_on_error
from dashboard.policy import Policy, current_policy
from dashboard.selection import Selection
from dashboard.sidebar import Context
from dashboard.state import pair_uploads, vector_uploads

MEMO = "ds_embeddings_memo"
APPROVED = "ds_compute_approved"
SESSION_STORE = "ds_session_store"
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


def limit_uploads() -> None:
    """Public mode: Streamlit's ``server.maxUploadSize`` is what its upload endpoint accepts from
    anyone, whatever a widget says; above the policy's largest cap, lower it to that cap (once per
    process, said in the server's log), so a file the policy refuses is never even received."""
    from streamlit import config

    rules = deployment_policy()
    server_mb = config.get_option("server.maxUploadSize")
    if rules.public and server_mb > rules.upload_cap_mb:
        config.set_option("server.maxUploadSize", rules.upload_cap_mb, "DimScope public mode (policy.py)")
        rules.for_visitor(
            f"server.maxUploadSize was {server_mb} MB; public mode takes at most {rules.upload_cap_mb} MB, "
            "so DimScope lowered it.",
            "",
        )


def upload_limit_mb(limit_bytes: int) -> int:
    """What an upload widget advertises (and its browser side enforces): the policy's limit for
    that kind of file, never more than the server receives."""
    from streamlit import config

    return max(1, min(math.ceil(limit_bytes / 2**20), int(config.get_option("server.maxUploadSize"))))


def resolve(model: str, *, trust: bool = False) -> ModelSource:
    """resolve_model under the deployment policy (public mode: allow-listed models only), or this
    session's uploaded embeddings when ``model`` is a vectors :class:`Selection` (they stand where a
    model stands).

    A model that needs a download gets a progress bar while it downloads; then the page runs again,
    so that what was drawn before (the sidebar's picker and caption) shows the model as here."""
    chosen = Selection.parse(model)
    if chosen.is_vectors:
        found = vector_uploads().get(chosen.name)
        if found is None:
            raise OptionError(f"No embeddings named {chosen.name!r} in this session; upload them again.")
        return found
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
        resolved = policy.resolve(model, allow_trust_remote_code=trust, progress=progress)
    finally:
        bar.empty()
    # What was approved for the download holds for the model itself.
    approved = st.session_state.setdefault(APPROVED, set())
    approved |= {(resolved.fingerprint, text_hash) for key, text_hash in list(approved) if key == _download_key(model)}
    try:
        policy.resolve(model, allow_trust_remote_code=trust, download=False)
    except ModelNotDownloadedError:  # never expected; the page goes on rather than download again
        return resolved
    # The sidebar's picker, drawn before the download, still says the model needs one: run the page
    # again, which finds the model here and says so.
    st.rerun()


def preload_model(ctx: Context) -> None:
    """Start loading the sidebar's model in the background, for a page after which encoding is
    likely (the Corpus page: an upload is on its way). Only a model already on this machine and
    allowed here; nothing is shown, and a model that cannot load says so when it is used."""
    try:
        resolved = deployment_policy().resolve(ctx.model, allow_trust_remote_code=ctx.trust_remote_code, download=False)
    except DimScopeError:
        return
    # "auto" as this machine chose for the model; before a first calibration, torch fp32 (the
    # reference, which the calibration loads too).
    backend = calibration.resolve_backend(resolved, EncodeOptions().backend, calibrate=False)
    preload(resolved, backend or calibration.REFERENCE)


def _download_key(model: str) -> str:
    """The approval key of a model that is not on this machine yet (no fingerprint before the download)."""
    return f"download:{model}"


def store_for(subject: Corpus | RetrievalTask) -> EmbeddingStore:
    """Where results about ``subject`` (a corpus, or both sides of a retrieval task) are cached: the
    one place the dashboard decides it. The library takes the store from its caller and never
    falls back to the disk cache, so every page computes through here.

    Private mode: the shared disk cache for everything, uploads included, so a later visit or a
    CLI run reuses them. Public mode: the shared cache for built-in corpora only; anything else
    (an upload, or a sample of one) goes to this session's memory, which reads the shared cache
    but never writes to it and is dropped with the session.
    """
    corpora = [subject] if isinstance(subject, Corpus) else [subject.queries, subject.documents]
    if not deployment_policy().public or all(c.source.startswith("builtin:") for c in corpora):
        return default_store()
    store = st.session_state.get(SESSION_STORE)
    if store is None:
        store = st.session_state[SESSION_STORE] = SessionStore(default_store())
    return store


class Progress:
    """A progress callback that draws nothing until real work starts (a cache hit stays silent).

    While the encode waits in the server's encode line, :meth:`waiting` shows the place in line
    and the estimate. Each update goes to the browser, so when the session is gone or rerun,
    Streamlit raises here and the encode leaves the line. For uploaded embeddings (``reading``)
    it counts vectors read from the file: no model, no line. :meth:`note` shows the library's
    word on how this request encodes (auto preparing its faster path while torch encodes) above
    the bar, until the result replaces both. Work that is not an encode names what it counts in
    ``unit``: "<label>: 3 of 40 configurations".
    """

    def __init__(self, label: str, *, reading: bool = False, unit: str | None = None) -> None:
        self.label = plain(label)  # names a user gave, in Markdown progress text
        self.bar: Any = None
        self.notice: Any = None
        self.waited_s = 0.0
        self.reading = reading
        self.unit = unit

    def note(self, text: str) -> None:
        if self.notice is None:
            self.notice = st.empty()
        self.notice.info(sentence(text), icon=":material/bolt:")

    def waiting(self, status: QueueStatus) -> None:
        self.waited_s = status.waited_s
        text = f"{self.label}: {status.describe()}."
        if self.bar is None:
            self.bar = st.progress(0.0, text=text)
        else:
            self.bar.progress(0.0, text=text)

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or (self.bar is None and done >= total):
            return
        if self.unit is not None:
            self.bar = self.bar or st.progress(0.0)
            self.bar.progress(min(1.0, done / total), text=f"{self.label}: {done:,} of {total:,} {self.unit}")
            return
        if self.reading:
            self.bar = self.bar or st.progress(0.0)
            self.bar.progress(min(1.0, done / total), text=f"{self.label}: read {done:,} of {total:,} vectors")
            return
        waited = f" (after {format_seconds(self.waited_s)} in line)" if self.waited_s >= 1 else ""
        if self.bar is None:
            self.bar = st.progress(0.0, text=f"{self.label}: loading the model…")
        if done == 0:
            self.bar.progress(0.0, text=f"{self.label}: loading the model…{waited}")
            return
        self.bar.progress(min(1.0, done / total), text=f"{self.label}: encoded {done:,} of {total:,} texts{waited}")

    def close(self) -> None:
        for element in (self.bar, self.notice):
            if element is not None:
                element.empty()
        self.bar = self.notice = None


def _ahead_key(store: EmbeddingStore, resolved: ModelSource, corpus: Corpus) -> str:
    # The store object is part of the key: a public session's uploads live in its own store.
    return f"stats|{id(store)}|{resolved.fingerprint}|{corpus.content_hash}"


def start_stats_ahead(model: str, corpus: Corpus, *, trust: bool = False) -> None:
    """Start the statistics (and embeddings) of ``corpus`` in the background, so that the next page
    finds them computed or under way: for a new upload, the encode overlaps the page switch.

    Only work a page would start without asking (see :func:`pending_reason`), with a model already
    on this machine; it waits in the same encode line as a page's own work. Nothing is shown here."""
    if Selection.parse(model).is_vectors:
        return
    try:
        if pending_reason(model, corpus, trust=trust) is not None:
            return
        resolved = deployment_policy().resolve(model, allow_trust_remote_code=trust, download=False)
    except DimScopeError:
        return
    store = store_for(corpus)
    if cached_options(resolved, corpus, store=store) is not None:
        return  # computed already: every rerun of the Corpus page passes here
    budget = deployment_policy().encode_time_limit_s
    ahead_of_time().start(
        _ahead_key(store, resolved, corpus),
        lambda job: get_stats(resolved, corpus, store=store, progress=job, time_limit_s=budget),
    )


def _wait_for_work_ahead(store: EmbeddingStore, resolved: ModelSource, corpus: Corpus, label: str) -> None:
    """When this result is being computed ahead (:func:`start_stats_ahead`), wait for that job and
    show its progress; the cache's lock on the key would otherwise hold the page, blank, until the
    job ends (it never lets a second encode of the same texts start)."""
    job = ahead_of_time().running(_ahead_key(store, resolved, corpus))
    if job is None:
        return
    bar, notice, shown, sent_at = None, None, "", 0.0
    try:
        while not job.wait(timeout=0.1):
            if job.notice and notice is None:
                notice = st.info(sentence(job.notice), icon=":material/bolt:")
            text = f"{label}: {job.describe()}…"
            # Every update is a message to the browser: send news, and once a second at least,
            # which is where Streamlit tells a script that its visitor has gone.
            if text == shown and time.monotonic() - sent_at < 1.0:
                continue
            if bar is None:
                bar = st.progress(job.fraction, text=text)
            else:
                bar.progress(job.fraction, text=text)
            shown, sent_at = text, time.monotonic()
    except BaseException:  # the visitor left or reran (Streamlit stops the script): leave the line
        job.cancel()
        raise
    for element in (bar, notice):
        if element is not None:
            element.empty()


def load_stats(model: str, corpus: Corpus, *, trust: bool = False) -> StatsResult:
    """Statistics from the disk cache, or computed with a progress bar. Raises DimScopeError."""
    resolved = resolve(model, trust=trust)
    _wait_for_work_ahead(store_for(corpus), resolved, corpus, f"{resolved.name} on {corpus.name}")
    progress = Progress(f"{resolved.name} on {corpus.name}", reading=is_vectors(resolved))
    try:
        return get_stats(
            resolved,
            corpus,
            store=store_for(corpus),
            progress=progress,
            time_limit_s=deployment_policy().encode_time_limit_s,
        )
    finally:
        progress.close()


def load_embeddings(model: str, corpus: Corpus, *, trust: bool = False) -> EmbeddingResult:
    """Raw embeddings, remembered for this session only (keyed by model fingerprint and corpus hash)."""
    resolved = resolve(model, trust=trust)
    memo: dict[tuple[str, str], EmbeddingResult] = st.session_state.setdefault(MEMO, {})
    key = (resolved.fingerprint, corpus.content_hash)
    if key in memo:
        return memo[key]
    _wait_for_work_ahead(store_for(corpus), resolved, corpus, f"{resolved.name} on {corpus.name}")
    progress = Progress(f"{resolved.name} on {corpus.name}", reading=is_vectors(resolved))
    try:
        result = get_embeddings(
            resolved,
            corpus,
            store=store_for(corpus),
            progress=progress,
            time_limit_s=deployment_policy().encode_time_limit_s,
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
    if Selection.parse(model).is_vectors:  # read from the file, a streamed pass: never worth asking
        resolve(model)  # still raises when the upload is gone
        return None
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
    store = store_for(corpus)
    # statistics or embeddings under any backend auto accepts; never calibrates or loads
    if cached_options(resolved, corpus, store=store) is not None:
        return None
    if (resolved.fingerprint, corpus.content_hash) in approved:
        return None
    millions = resolved.info.parameters_millions if resolved.info else 110.0
    if len(corpus) * millions <= AUTO_COMPUTE_BUDGET:
        return None
    kept = "kept for this session" if store is not default_store() else "cached for every later visit"
    return (
        f"{plural(len(corpus), 'text')} through a {millions:.0f}M-parameter model, which can take minutes on a CPU; "
        f"the result is {kept}"
    )


def approve(model: str, corpus: Corpus, trust: bool = False) -> None:
    """Callback: allow computing ``model`` on ``corpus`` in this session (downloading it first if needed)."""
    try:
        key = deployment_policy().resolve(model, allow_trust_remote_code=trust, download=False).fingerprint
    except DimScopeError:  # not downloaded yet (or unloadable: the page then shows why)
        key = _download_key(model)
    st.session_state.setdefault(APPROVED, set()).add((key, corpus.content_hash))


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
    with stop_on_error():
        result = load_stats(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    for warning in result.warnings:
        st.caption(f":material/warning: {plain(warning)}")
    if ctx.vectors is not None:
        st.caption(
            f":material/info: Your vectors from {plain(ctx.vectors.name)}: **raw** = {result.views['raw']}, "
            f"**normalized** = {result.views['normalized']}."
        )
    else:  # given vectors were not encoded here
        backend_caption(result.backend_summary, result.backend_note)
    return result


def backend_caption(summary: str, note: str | None = None) -> None:
    """The encoding line under a result: "Encoded with openvino bf16, 2.3x faster than torch, ...",
    auto's preparation in the background when this result was encoded with torch meanwhile
    (``note``), and, on an install without onnxruntime or openvino, what auto could not try."""
    missing = missing_runtimes_note()
    # What auto could not try is the owner's to install: a visitor of a public demo is not told.
    lines = [summary, note or "", deployment_policy().for_visitor(missing, "") if missing else ""]
    st.caption(":material/speed: " + " ".join(sentence(line) for line in lines if line))


def sentence(line: str) -> str:
    """A line from the library ("encoded with torch fp32, ...") as a sentence on a page.

    >>> sentence("auto is preparing a faster path")
    'Auto is preparing a faster path.'
    """
    return f"{line[0].upper()}{line[1:]}."


def enough_texts_or_stop(corpus: Corpus) -> None:
    """The guard for pages that compare several results: too few texts for statistics is said
    once, not once per model."""
    with stop_on_error():
        require_texts_for_statistics(corpus)


def embeddings_or_stop(ctx: Context) -> EmbeddingResult:
    """The page guard for raw embeddings: them, or an error with the fix and a stopped page."""
    with stop_on_error():
        return load_embeddings(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)


def subject(ctx: Context, model: str, corpus: str) -> str:
    """What a page shows, in words: "<model> on <corpus>", or "Your vectors in <file>" for uploaded
    embeddings (they are the model and the corpus at once)."""
    text = f"Your vectors in {ctx.vectors.name}" if ctx.vectors is not None else f"{model} on {corpus}"
    return plain(text)  # names a user gave: shown in Markdown


def plot(fig: Any, **kwargs: Any) -> Any:
    """Every chart goes through here: Streamlit's theme (light or dark), full width."""
    with step("figures", sent=kwargs.get("key")):
        return st.plotly_chart(fig, theme="streamlit", width="stretch", **kwargs)


def retrieval_task_or_stop(ctx: Context, choice: str) -> RetrievalTask:
    """The task a page scores: a built-in pairs task, or the sidebar corpus (the query and document
    columns mapped on the Corpus page, else its labels). Stops the page with a note when there is none."""
    with stop_on_error():
        if choice != "corpus":
            return load_builtin_task(choice)
        chosen = Selection.parse(ctx.state.corpus)
        if chosen.is_upload and chosen.name in pair_uploads():
            return pair_uploads()[chosen.name]
        if ctx.corpus.labels is not None:
            return labelled_task(ctx.corpus)
    if ctx.vectors is not None:
        st.info(
            f"**{plain(ctx.vectors.name)}** has no label column, so nothing says which rows should find which. "
            "Upload the "
            "embeddings with a label column on the Corpus page, or choose a model and a built-in task.",
            icon=":material/search_off:",
        )
        st.stop()
    st.info(
        f"**{plain(ctx.corpus.name)}** has no labels and no query and document columns, so nothing says which texts "
        "should find which. Upload a file on the Corpus page and map a query column and a document column "
        "(or a label column), or pick one of the built-in tasks above.",
        icon=":material/search_off:",
    )
    st.stop()
