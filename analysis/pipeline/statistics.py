"""Per-dimension statistics of both views, from the cache or computed: the cached path's last step.

Every result is looked up in the store first; only a miss loads the model. Keys are
``v<schema>/<kind>/...`` strings built from the model fingerprint, the corpus content hash,
the view and the encoding options. A miss streams the cached embeddings (``embeddings.py`` computes
them when they are missing too) in row chunks, so memory stays bounded whatever the corpus.

A vectors file (:class:`~analysis.vectors.VectorSource`) goes through the same functions in place of
a model: its fingerprint is its content hash, its corpus its own rows, and its statistics are
streamed in row chunks from the file instead of encoded.

Every function that can encode or store takes its ``store`` from the caller, with no default: the disk
cache (``default_store()``: the CLI, ``analysis.stats``) or a public session's memory (``store_for``).

Usage (``analysis.stats`` is the same with a corpus given by name, path or list)::

    result = get_stats("all-MiniLM-L6-v2", load_corpus("chatterbot-english"), store=default_store())
    result.dead_dims  # [127, 223, 319]
    result = get_stats(open_vectors("embeddings.parquet"), None, store=default_store())  # the file's own rows
"""

from __future__ import annotations

from analysis.corpora import Corpus, require_texts_for_statistics
from analysis.encoding import ProgressCallback, calibration, preparation
from analysis.encoding.views import MODEL_VIEWS
from analysis.errors import OptionError
from analysis.measures import stats as stats_module
from analysis.models import ResolvedModel
from analysis.options import VIEWS
from analysis.pipeline.cache import EmbeddingStore, build_key
from analysis.pipeline.embeddings import as_source, get_embeddings, own_rows
from analysis.pipeline.encode_options import (
    GIVEN,
    EncodeOptions,
    ModelSource,
    concrete_options,
    embeddings_key,
    stats_key,
)
from analysis.pipeline.results import EmbeddingSource, StatsResult
from analysis.pipeline.stats_records import (
    STREAM_CHUNK_ROWS,
    StatColumns,
    cached_stat_columns,
    request_warnings,
    stream_stat_columns,
    write_stat_columns,
)
from analysis.settings import step
from analysis.vectors import VECTOR_VIEWS, VectorSource, is_vectors


def get_stats(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus | None,
    *,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
    time_limit_s: float | None = None,
) -> StatsResult:
    """Per-dimension statistics of both views plus dead dimensions.

    Served from the cache when possible (no embeddings read, no model loaded); otherwise
    streamed from cached embeddings in row chunks, or computed after encoding. A vectors file
    (``corpus`` None or its own rows) is streamed from the file in row chunks.

    Parameters
    ----------
    model : str, ResolvedModel or VectorSource
        A model spec or a resolved model, or a vectors file from :func:`open_vectors`.
    corpus : Corpus or None
        The texts to encode; None for a vectors file's own rows.
    options : EncodeOptions, optional
        What changes the embeddings (backend, prompt); ``EncodeOptions()`` by default.
    store : EmbeddingStore
        Where results are looked up and kept: ``default_store()`` for the disk cache. No default,
        so a server decides where a visitor's data may go.
    progress : callable, optional
        ``progress(done, total)`` receives the texts encoded so far.
    time_limit_s : float, optional
        Public demos: stop with ``TimeLimitError`` when encoding would take longer; nothing partial
        is stored.

    Returns
    -------
    StatsResult
        Both views' statistics, ``dead_dims`` (normalized std below 1% of the median std) and
        ``constant_dims``, with the charts drawn from them.

    Examples
    --------
    >>> from analysis import corpus_from_texts, default_store, get_stats
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> result = get_stats("all-MiniLM-L6-v2", corpus_from_texts(texts), store=default_store())
    >>> result.dead_dims, result.constant_dims
    ([127, 223, 319], [])
    >>> get_stats("all-MiniLM-L6-v2", None, store=default_store())
    Traceback (most recent call last):
    analysis.errors.OptionError: sentence-transformers/all-MiniLM-L6-v2 is a model: give it a corpus to encode.
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
                resolved, corpus, options=options, store=store, progress=progress, time_limit_s=time_limit_s
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
