"""The cached path from (model, corpus) to embeddings and statistics.

Every result is looked up in the disk cache first; only a miss loads the model. Keys are
``v<schema>/<kind>/...`` strings built from the model fingerprint, the corpus content hash,
the view and the encoding options. A miss is computed under a cross-process lock, so two
processes asking for the same key compute it once.

Incremental corpora: for each (model, options) the cache keeps an index of recent corpora
and the 64-bit hashes of their texts. A new corpus reuses every row already computed for an
identical text and encodes only the rest.

A vectors file (:class:`~analysis.vectors.VectorSource`) goes through the same functions in place of
a model: its fingerprint is its content hash, its corpus its own rows, and its raw embeddings are
read (statistics: streamed in row chunks, bounded memory) from the file instead of encoded.

Every function that can encode or store takes its ``store`` from the caller, with no default: the disk
cache (``default_store()``: the CLI, ``analysis.stats``) or a public session's memory (``store_for``).

Usage (``analysis.stats`` is the same with a corpus given by name, path or list)::

    result = get_stats("all-MiniLM-L6-v2", load_corpus("chatterbot-english"), store=default_store())
    result.dead_dims  # [127, 223, 319]
    result = get_stats(open_vectors("embeddings.parquet"), None, store=default_store())  # the file's own rows
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.corpora import Corpus, require_texts_for_statistics
from analysis.encoding import ProgressCallback, calibration, count_truncated, encode_raw, preparation, view_of
from analysis.encoding.queue import encode_queue, format_seconds
from analysis.encoding.views import MODEL_VIEWS
from analysis.errors import BudgetExceededError, OptionError
from analysis.measures import budget as budget_module
from analysis.measures import stats as stats_module
from analysis.models import ResolvedModel, as_resolved
from analysis.options import HEATMAP_VIEWS, VIEWS, check_choice
from analysis.pipeline.cache import EmbeddingStore, build_key
from analysis.pipeline.encode_options import (  # EncodeOptions and its keys live there; re-exported for callers
    GIVEN,
    EncodeOptions,
    ModelSource,
    cached_options,
    concrete_options,
    describe_backend,
    embeddings_key,
    stats_key,
)
from analysis.pipeline.stats_records import (
    STREAM_CHUNK_ROWS,
    StatColumns,
    cached_stat_columns,
    request_warnings,
    stream_stat_columns,
    write_stat_columns,
)
from analysis.timings import step
from analysis.vectors import VECTOR_VIEWS, VectorSource, is_vectors

if TYPE_CHECKING:  # pandas and plotly cost ~0.5 s each to import; a cached page may not need them
    import pandas as pd
    import plotly.graph_objects as go

    from analysis.measures.crowding import LabelCrowding

_INDEX_LENGTH = 16  # recent corpora remembered per (model, options) for row reuse


def as_source(model: str | ResolvedModel | VectorSource) -> ModelSource:
    """A vectors source as it is; anything else resolved as a model (:func:`~analysis.models.as_resolved`)."""
    return model if isinstance(model, VectorSource) else as_resolved(model)


@dataclass
class EmbeddingResult:
    model: ModelSource
    corpus: Corpus
    raw: np.ndarray
    key: str
    from_cache: bool
    n_encoded: int
    n_reused: int
    # Texts longer than the model's max sequence length (cut by the tokenizer); None if unknown.
    n_truncated_tokens: int | None = None
    backend: str = "torch"  # the backend that encoded (never "auto")

    def view(self, name: str) -> np.ndarray:
        return view_of(self.raw, name)


@dataclass(frozen=True)
class EmbeddingSource:
    """The (model, corpus, options, store) a result was computed from (a vectors file's corpus: its rows)."""

    model: ModelSource
    corpus: Corpus | None
    options: EncodeOptions
    store: EmbeddingStore


@dataclass
class StatsResult:
    """Per-dimension statistics of both views of one (model, corpus, options).

    The statistics are kept as numpy columns (:meth:`columns`); :meth:`view`, ``raw`` and
    ``normalized`` build pandas DataFrames on first use, so that callers which only need the
    numbers never import pandas.
    """

    model_name: str
    fingerprint: str
    corpus_name: str
    corpus_hash: str
    n_texts: int
    dimension: int
    raw_columns: StatColumns
    normalized_columns: StatColumns
    dead_dims: list[int]
    from_cache: bool
    # Raw-view std near zero but not dead: the dimension never varies, at a non-zero value.
    constant_dims: list[int] = field(default_factory=list)
    n_truncated_tokens: int | None = None
    warnings: list[str] = field(default_factory=list)
    # What raw and normalized mean here (a model's pooled vector, or a file's vectors as given).
    views: dict[str, str] = field(default_factory=lambda: dict(MODEL_VIEWS))
    engine: str = "local"  # where the statistics were computed: "local" or "ray"
    # The backend that encoded ("auto" resolved), its normalized-std drift from torch fp32 and its
    # speedup over torch on this machine's calibration (None when it was not measured here).
    backend: str = "torch"
    backend_drift: float | None = None
    backend_speedup: float | None = None
    backend_note: str | None = None  # "auto" encoded with torch: its preparation's line (preparation.status_line)
    # Where the statistics came from, so that the embeddings can be read back for a heatmap.
    source: EmbeddingSource | None = field(default=None, repr=False, compare=False)
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False, compare=False)

    def columns(self, name: str) -> StatColumns:
        """One view's statistics as numpy arrays (``dim``, ``mean``, ``std``, ...)."""
        return self.raw_columns if check_choice(name, VIEWS, "view") == "raw" else self.normalized_columns

    def view(self, name: str) -> pd.DataFrame:
        """One view's statistics as a DataFrame with columns ``stats.STAT_COLUMNS``."""
        columns = self.columns(name)
        if name not in self._frames:
            self._frames[name] = stats_module.frame_from_columns(columns)
        return self._frames[name]

    @property
    def raw(self) -> pd.DataFrame:
        return self.view("raw")

    @property
    def backend_summary(self) -> str:
        """One line for a page: "encoded with openvino bf16, 2.3x faster than torch, std within 6e-5 ..."."""
        return describe_backend(self.backend, self.backend_drift, self.backend_speedup)

    @property
    def normalized(self) -> pd.DataFrame:
        return self.view("normalized")

    @property
    def budget(self) -> budget_module.VarianceBudget:
        """The normalized view's variance budget (``‖μ‖²``, total variance, mean cosine, ...), from
        the statistics alone; see :mod:`analysis.measures.budget`."""
        columns = self.normalized_columns
        return budget_module.variance_budget(columns["mean"], columns["variance"], self.n_texts)

    def label_crowding(self) -> LabelCrowding:
        """Per-label ``‖μ_c‖²`` and the exact between/within split of the total variance; reads the
        cached embeddings and needs a labelled corpus (see :mod:`analysis.measures.crowding`)."""
        from analysis.measures.crowding import label_crowding

        if self.source is None:
            raise OptionError("These statistics were built by hand: no embeddings to split by label.")
        source = self.source
        rows = source.corpus
        if rows is None and isinstance(source.model, VectorSource):
            rows = source.model.corpus  # a vectors file's own rows, built only now that labels are wanted
        if rows is None:
            raise OptionError("These statistics have no corpus to split by label.")
        if rows.labels is None:
            raise OptionError(f"The corpus '{self.corpus_name}' has no labels; give one with --label-column.")
        embeddings = get_embeddings(source.model, rows, options=source.options, store=source.store)
        return label_crowding(embeddings.raw, rows.labels)

    def plot_std(self, view: str = "normalized", *, sort: bool = False, log_y: bool = True) -> go.Figure:
        """Each dimension's std in ``view`` (a plotly figure), dead dimensions marked.

        The dashboard's Overview chart: log scale, with the dead rule's threshold drawn.
        """
        from analysis.figures.spread import std_bar_chart

        median = float(np.median(self.columns(view)["std"])) if self.dimension else 0.0
        threshold = stats_module.DEAD_RELATIVE_THRESHOLD
        return std_bar_chart(
            self.columns(view),
            dead_dims=self.dead_dims,
            sort=sort,
            log_y=log_y,
            view_name=view,
            threshold=threshold * median,
            threshold_label=f"{threshold:.0%} of the median std",
        )

    def plot_heatmap(
        self, view: str = "normalized", *, every_text: bool = False, group_by_label: bool = True
    ) -> go.Figure:
        """Texts x dimensions heatmap of ``view`` (a plotly figure); reads the cached embeddings.
        Texts are grouped by label when the corpus has labels (``group_by_label=False``: corpus order)."""
        from analysis.figures.heatmap import HeatmapBudget, dimension_heatmap
        from analysis.figures.tables import ViewMatrix

        if self.source is None:
            raise OptionError("These statistics were built by hand: no embeddings to draw a heatmap from.")
        embeddings = get_embeddings(
            self.source.model, self.source.corpus, options=self.source.options, store=self.source.store
        )
        corpus, raw = embeddings.corpus, embeddings.raw
        normalized = self.normalized_columns
        matrix = ViewMatrix(
            raw, check_choice(view, HEATMAP_VIEWS, "view"), mean=normalized["mean"], std=normalized["std"]
        )
        return dimension_heatmap(
            matrix,
            texts=corpus.texts,
            labels=corpus.labels,
            view_name=view,
            dead_dims=self.dead_dims,
            budget=HeatmapBudget.every_text() if every_text else HeatmapBudget(),
            group_by_label=group_by_label,
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "fingerprint": self.fingerprint,
            "corpus": self.corpus_name,
            "corpus_hash": self.corpus_hash,
            "dimension": self.dimension,
            "n_texts": self.n_texts,
            "dead_dims": self.dead_dims,
            "constant_dims": self.constant_dims,
            "n_truncated_tokens": self.n_truncated_tokens,
            "backend": self.backend,
            "backend_drift": self.backend_drift,
            "backend_speedup": self.backend_speedup,
            "dead_rule": f"normalized std < {stats_module.DEAD_RELATIVE_THRESHOLD} x median std",
            "views": dict(self.views),
            "engine": self.engine,
            **self.budget.to_dict(),
            "raw": stats_module.stats_records(self.raw_columns),
            "normalized": stats_module.stats_records(self.normalized_columns),
        }


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """64-bit BLAKE2b of each text, as uint64: the identity used to reuse rows across corpora."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
            for t in texts
        ],
        dtype=np.uint64,
    )


def _index_key(model: ResolvedModel, options: EncodeOptions) -> str:
    return build_key("emb-index", model=model.fingerprint, **options.key_parts(model))


def cached_embeddings(
    model: str | ResolvedModel,
    corpus: Corpus,
    *,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
) -> np.ndarray | None:
    """The raw matrix if it is cached, else None. Never loads the model."""
    resolved = as_resolved(model)
    concrete = cached_options(resolved, corpus, options, store=store, embeddings_only=True)
    return None if concrete is None else store.get_array(embeddings_key(resolved, corpus, concrete))


def get_embeddings(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus | None,
    *,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
    time_budget_s: float | None = None,
) -> EmbeddingResult:
    """Raw (pre-Normalize) embeddings of every text, from the cache or computed and stored.

    ``time_budget_s`` (public demos) stops encoding with ``BudgetExceededError`` as soon as the
    projected or elapsed time passes the budget; nothing partial is stored.

    Encoding waits for a slot in the process's encode line (:mod:`analysis.encoding.queue`); the
    wait does not count against the budget. A ``progress`` callback that also has a
    ``waiting(status)`` method is told its place in line while it waits, and may raise to leave.

    A vectors file gives its own rows (``corpus`` None, or its own corpus), read from the file.
    """
    resolved = as_source(model)
    if isinstance(resolved, VectorSource):
        rows = own_rows(resolved, corpus)
        raw = resolved.matrix(progress)
        key = build_key("emb", model=resolved.fingerprint, corpus=resolved.corpus_hash, view="raw")
        return EmbeddingResult(resolved, rows, raw, key, False, 0, 0, None)
    if corpus is None:
        raise OptionError(f"{resolved.name} is a model: give it a corpus to encode.")
    options = options or EncodeOptions()
    options.validate()
    options = concrete_options(resolved, corpus, options, store=store, progress=progress, embeddings_only=True)
    key = embeddings_key(resolved, corpus, options)
    meta_key = build_key(
        "emb-meta", model=resolved.fingerprint, corpus=corpus.content_hash, **options.key_parts(resolved)
    )
    hit = _cached_result(store, resolved, corpus, key, meta_key, progress, options.backend)
    if hit is not None:
        return hit
    with store.lock(key):  # another process may have finished it meanwhile
        hit = _cached_result(store, resolved, corpus, key, meta_key, progress, options.backend)
        if hit is not None:
            return hit
        raw, n_encoded, n_reused = _compute_with_reuse(resolved, corpus, options, store, progress, time_budget_s)
        truncated = count_truncated(resolved, corpus.texts, options.effective_prompt(resolved)) if n_encoded else None
        with step("store", rows=len(raw)):
            store.put_array(key, raw)
            if truncated is not None:
                store.put_json(meta_key, {"n_truncated_tokens": truncated})
            _remember_in_index(store, resolved, corpus, options, raw)
    return EmbeddingResult(resolved, corpus, raw, key, False, n_encoded, n_reused, truncated, options.backend)


def _cached_result(
    store: EmbeddingStore,
    model: ResolvedModel,
    corpus: Corpus,
    key: str,
    meta_key: str,
    progress: ProgressCallback | None,
    backend: str,
) -> EmbeddingResult | None:
    cached = store.get_array(key)
    if cached is None or cached.shape[0] != len(corpus):
        return None
    if progress:
        progress(len(corpus), len(corpus))
    meta = store.get_json(meta_key) or {}
    return EmbeddingResult(model, corpus, cached, key, True, 0, 0, meta.get("n_truncated_tokens"), backend)


def _compute_with_reuse(
    model: ResolvedModel,
    corpus: Corpus,
    options: EncodeOptions,
    store: EmbeddingStore,
    progress: ProgressCallback | None,
    time_budget_s: float | None = None,
) -> tuple[np.ndarray, int, int]:
    texts = list(corpus.texts)
    prompt = options.effective_prompt(model)
    hashes = text_hashes(texts)
    reused_rows: dict[int, np.ndarray] = {}
    wanted = {int(h): i for i, h in enumerate(hashes)}
    for entry in store.get_json(_index_key(model, options)) or []:
        if len(reused_rows) == len(texts):
            break
        other_hashes = store.get_array(entry["hashes_key"])
        if other_hashes is None:
            continue
        matches = [
            (wanted[int(h)], j)
            for j, h in enumerate(other_hashes)
            if int(h) in wanted and wanted[int(h)] not in reused_rows
        ]
        if not matches:
            continue
        other = store.get_array(entry["emb_key"])
        if other is None or other.shape[0] != other_hashes.shape[0]:
            continue
        for i, j in matches:
            reused_rows[i] = other[j]
    missing = [i for i in range(len(texts)) if i not in reused_rows]
    n_reused = len(reused_rows)
    # The budget counts encoding only: it starts when the slot in the encode line is granted.
    started, waited = time.monotonic(), 0.0

    def shifted_progress(done: int, total: int) -> None:
        if time_budget_s is not None and 0 < done < total:
            elapsed = time.monotonic() - started
            projected = elapsed * total / done
            if elapsed > time_budget_s or (done >= 256 and projected > 1.5 * time_budget_s):
                line = f" (after {format_seconds(waited)} in line, which does not count)" if waited >= 1 else ""
                raise BudgetExceededError(
                    f"Encoding {total} texts would take about {projected:.0f} s, over this server's limit of "
                    f"{time_budget_s:.0f} s of encoding per request{line}. Use fewer or shorter texts, or run "
                    "DimScope locally."
                )
        if progress:
            progress(n_reused + done, len(texts))

    if missing or not texts:
        kind = f"{model.fingerprint}/{options.backend}"
        with encode_queue().slot(len(missing), kind=kind, on_wait=getattr(progress, "waiting", None)) as slot:
            preparation.start_pending(model)  # auto's preparation asked for here queues behind this encode
            started, waited = time.monotonic(), slot.waited_s
            with step("encode", backend=options.backend, texts=len(missing)):
                fresh = encode_raw(
                    model,
                    [texts[i] for i in missing],
                    prompt=prompt,
                    batch_size=options.batch_size,
                    progress=shifted_progress,
                    backend=options.backend,
                )
        dimension = fresh.shape[1]
    else:  # every row reused: no model load at all
        preparation.start_pending(model)
        fresh, dimension = None, next(iter(reused_rows.values())).shape[0]
        shifted_progress(0, 0)
    raw = np.empty((len(texts), dimension), dtype=np.float32)
    if fresh is not None and missing:
        raw[missing] = fresh
    for i, row in reused_rows.items():
        raw[i] = row
    return raw, len(missing), n_reused


def _remember_in_index(
    store: EmbeddingStore, model: ResolvedModel, corpus: Corpus, options: EncodeOptions, raw: np.ndarray
) -> None:
    hashes_key = build_key("text-hashes", corpus=corpus.content_hash)
    if hashes_key not in store:
        store.put_array(hashes_key, text_hashes(corpus.texts))
    index_key = _index_key(model, options)
    entries = [e for e in (store.get_json(index_key) or []) if e.get("corpus") != corpus.content_hash]
    entries.insert(
        0, {"corpus": corpus.content_hash, "emb_key": embeddings_key(model, corpus, options), "hashes_key": hashes_key}
    )
    store.put_json(index_key, entries[:_INDEX_LENGTH])


def own_rows(source: VectorSource, corpus: Corpus | None) -> Corpus:
    """A vectors file's corpus; ``corpus`` must be that one (a file holds vectors of its own rows only)."""
    rows = source.corpus
    if corpus is None or corpus is rows:
        return rows
    if len(corpus) != source.n_rows or corpus.content_hash != rows.content_hash:
        raise OptionError(
            f"{source.name} holds vectors of its own {source.n_rows:,} rows; it cannot give embeddings of the "
            f"corpus {corpus.name}. Analyse the file on its own rows, or a model on {corpus.name}."
        )
    return corpus


def get_stats(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus | None,
    *,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
    time_budget_s: float | None = None,
) -> StatsResult:
    """Per-dimension statistics of both views plus dead dimensions.

    Served from the cache when possible (no embeddings read, no model loaded); otherwise
    streamed from cached embeddings in row chunks, or computed after encoding. A vectors file
    (``corpus`` None or its own rows) is streamed from the file in row chunks.
    """
    resolved = as_source(model)
    if isinstance(resolved, VectorSource):
        return _vector_stats(resolved, corpus, store, progress)
    if corpus is None:
        raise OptionError(f"{resolved.name} is a model: give it a corpus to encode.")
    options = options or EncodeOptions()
    options.validate()
    require_texts_for_statistics(corpus)
    requested = options.backend
    options = concrete_options(resolved, corpus, options, store=store, progress=progress)
    keys = {view: stats_key(resolved, corpus, options, view) for view in ("raw", "normalized")}
    warnings_before = store.warnings_total  # the store is shared: report only this request's warnings
    columns = cached_stat_columns(store, keys)
    from_cache = columns is not None
    if columns is None:
        columns = stream_stat_columns(store, embeddings_key(resolved, corpus, options), len(corpus))
        if columns is None:
            result = get_embeddings(
                resolved, corpus, options=options, store=store, progress=progress, time_budget_s=time_budget_s
            )
            with step("stats"):
                columns = stats_module.stats_columns(
                    stats_module.iter_row_chunks(result.raw, STREAM_CHUNK_ROWS), result.raw.shape[1]
                )
        with step("stats", stored=True):
            write_stat_columns(store, keys, columns)
    elif progress:
        progress(len(corpus), len(corpus))
    meta = (
        store.get_json(
            build_key("emb-meta", model=resolved.fingerprint, corpus=corpus.content_hash, **options.key_parts(resolved))
        )
        or {}
    )
    out = stats_result(
        resolved,
        columns,
        corpus_name=corpus.name,
        corpus_hash=corpus.content_hash,
        n_texts=len(corpus),
        from_cache=from_cache,
        warnings=request_warnings(store, warnings_before),
        source=EmbeddingSource(resolved, corpus, options, store),
    )
    out.n_truncated_tokens = meta.get("n_truncated_tokens")
    out.backend = options.backend
    out.backend_drift, out.backend_speedup = calibration.backend_facts(resolved, options.backend)
    out.backend_note = preparation.status_line(resolved, requested, options.backend)
    return out


def _vector_stats(
    source: VectorSource, corpus: Corpus | None, store: EmbeddingStore, progress: ProgressCallback | None
) -> StatsResult:
    """A vectors file's statistics: cached, or streamed from the file in row chunks (bounded memory)."""
    if corpus is not None:
        own_rows(source, corpus)
    # The fingerprint says everything about the vectors: no encoding options in the keys.
    keys = {v: build_key("stats", model=source.fingerprint, corpus=source.corpus_hash, view=v) for v in VIEWS}
    warnings_before = store.warnings_total
    columns = cached_stat_columns(store, keys)
    from_cache = columns is not None
    if columns is None:
        with store.lock(keys["raw"]):
            columns = cached_stat_columns(store, keys)
            if columns is None:
                columns = {view: m.columns() for view, m in source.moments(progress=progress).items()}
                write_stat_columns(store, keys, columns)
    if progress and from_cache:
        progress(source.n_rows, source.n_rows)
    return stats_result(
        source,
        columns,
        corpus_name=source.name,
        corpus_hash=source.corpus_hash,
        n_texts=source.n_rows,
        from_cache=from_cache,
        warnings=request_warnings(store, warnings_before),
        source=EmbeddingSource(source, corpus, EncodeOptions(), store),
    )


def stats_result(
    model: ModelSource,
    columns: dict[str, StatColumns],
    *,
    corpus_name: str,
    corpus_hash: str,
    n_texts: int,
    from_cache: bool = False,
    warnings: list[str] | None = None,
    engine: str = "local",
    backend: str | None = None,
    source: EmbeddingSource | None = None,
) -> StatsResult:
    """A :class:`StatsResult` from both views' columns: the dead rule applied, the views named.

    The one place statistics become a result, whether computed here, read from the cache, or
    merged from a distributed run (``analysis.engines.ray_data``).
    """
    dead = stats_module.dead_dimensions(columns["normalized"]["std"])
    constant = [d for d in stats_module.dead_dimensions(columns["raw"]["std"]) if d not in set(dead)]
    return StatsResult(
        model_name=model.name,
        fingerprint=model.fingerprint,
        corpus_name=corpus_name,
        corpus_hash=corpus_hash,
        n_texts=n_texts,
        dimension=len(columns["raw"]["dim"]),
        raw_columns=columns["raw"],
        normalized_columns=columns["normalized"],
        dead_dims=dead,
        from_cache=from_cache,
        constant_dims=constant,
        warnings=list(warnings or []),
        views=dict(VECTOR_VIEWS if is_vectors(model) else MODEL_VIEWS),
        engine=engine,
        backend=backend or (GIVEN if is_vectors(model) else calibration.REFERENCE),
        source=source,
    )
