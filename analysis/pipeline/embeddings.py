"""Embeddings of a corpus: from the cache, or encoded and stored, reusing rows already encoded.

For each (model, options) the cache keeps an index of recent corpora and the 64-bit hashes of their
texts. A new corpus reuses every row already computed for an identical text and encodes only the rest,
under a cross-process lock, so two processes asking for the same key compute it once.

A vectors file (:class:`~analysis.vectors.VectorSource`) stands where a model stands: its corpus is its
own rows, and its raw embeddings are read from the file instead of encoded.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.corpora import Corpus
from analysis.encoding import ProgressCallback, count_truncated, encode_raw, preparation, view_of
from analysis.encoding.queue import encode_queue, format_seconds
from analysis.errors import OptionError, TimeLimitError
from analysis.models import ResolvedModel, as_resolved
from analysis.pipeline.cache import EmbeddingStore, build_key
from analysis.pipeline.encode_options import (
    EncodeOptions,
    ModelSource,
    cached_options,
    concrete_options,
    embeddings_key,
)
from analysis.settings import step
from analysis.vectors import VectorSource

_INDEX_LENGTH = 16  # recent corpora remembered per (model, options) for row reuse


def as_source(model: str | ResolvedModel | VectorSource) -> ModelSource:
    """A vectors source as it is; anything else resolved as a model (:func:`~analysis.models.as_resolved`)."""
    return model if isinstance(model, VectorSource) else as_resolved(model)


@dataclass
class EmbeddingResult:
    """The raw embeddings of one (model, corpus, options), and how they were obtained.

    Returned by :func:`get_embeddings`.

    Attributes
    ----------
    model : ResolvedModel or VectorSource
        What produced the vectors.
    corpus : Corpus
        The texts, one per row (a vectors file's own rows).
    raw : numpy.ndarray
        float32, texts x dimensions: the pooled output before the model's Normalize module (a
        vectors file's vectors as given). ``view("normalized")`` gives their L2 normalization.
    key : str
        The cache key the array is stored under.
    from_cache : bool
        True when nothing was encoded.
    n_encoded, n_reused : int
        Rows encoded now, and rows reused from other cached corpora with the same texts.
    n_truncated_tokens : int or None
        Texts longer than the model's maximum sequence length (cut by the tokenizer).
    backend : str
        The backend that encoded (never "auto").

    Examples
    --------
    >>> from analysis import corpus_from_texts, default_store, get_embeddings
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> result = get_embeddings("all-MiniLM-L6-v2", corpus_from_texts(texts), store=default_store())
    >>> result.raw.shape, result.raw.dtype.name, result.corpus.texts[1]
    ((4, 384), 'float32', 'stocks fell sharply')
    >>> result.key.startswith("v2/emb/"), result.backend != "auto"
    (True, True)
    """

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
    time_limit_s: float | None = None,
) -> EmbeddingResult:
    """Raw (pre-Normalize) embeddings of every text, from the cache or computed and stored.

    Rows already encoded for an identical text (in a recently cached corpus, same model and options)
    are reused; only the rest is encoded. Encoding waits for a slot in the process's encode line
    (:mod:`analysis.encoding.queue`); the wait does not count against the time limit.

    Parameters
    ----------
    model : str, ResolvedModel or VectorSource
        A model spec or a resolved model, or a vectors file from :func:`open_vectors`.
    corpus : Corpus or None
        The texts to encode; None for a vectors file's own rows (read from the file).
    options : EncodeOptions, optional
        What changes the embeddings (backend, prompt); ``EncodeOptions()`` by default.
    store : EmbeddingStore
        Where embeddings are looked up and kept: ``default_store()`` for the disk cache.
    progress : callable, optional
        ``progress(done, total)`` receives the texts encoded so far. A callback that also has a
        ``waiting(status)`` method is told its place in line while it waits, and may raise to leave.
    time_limit_s : float, optional
        Public demos: stop with ``TimeLimitError`` as soon as the projected or elapsed time passes
        the limit; nothing partial is stored.

    Returns
    -------
    EmbeddingResult
        ``raw`` (float32, texts x dimensions) and how it was obtained.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis import corpus_from_texts, default_store, get_embeddings
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> result = get_embeddings("all-MiniLM-L6-v2", corpus_from_texts(texts), store=default_store())
    >>> result.raw.shape
    (4, 384)
    >>> np.linalg.norm(result.view("normalized"), axis=1).round(3).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> bool(np.abs(result.raw[:, [127, 223, 319]]).max() < 1e-6)  # the three dead dimensions
    True
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
        raw, n_encoded, n_reused = _compute_with_reuse(resolved, corpus, options, store, progress, time_limit_s)
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
    time_limit_s: float | None = None,
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
        if time_limit_s is not None and 0 < done < total:
            elapsed = time.monotonic() - started
            projected = elapsed * total / done
            if elapsed > time_limit_s or (done >= 256 and projected > 1.5 * time_limit_s):
                line = f" (after {format_seconds(waited)} in line, which does not count)" if waited >= 1 else ""
                raise TimeLimitError(
                    f"Encoding {total} texts would take about {projected:.0f} s, over this server's limit of "
                    f"{time_limit_s:.0f} s of encoding per request{line}. Use fewer or shorter texts, or run "
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
