"""The compress report: what every storage choice keeps of retrieval quality, and what it costs.

Both sides of a :class:`~analysis.corpora.RetrievalTask` are embedded through the cached
pipeline (queries and documents are two corpora, each cached and reused), taken in the
normalized view, and every variant of :func:`analysis.measures.retrieval.evaluate_variants` is
scored against full float32, beside the per-dimension readiness figures. ``to_dict()`` is the
JSON of ``python -m analysis compress --format json``.

A vectors file (:class:`~analysis.vectors.VectorSource`) stands where a model stands for a task
built on its own labelled rows (every row against the others): its vectors are read, not encoded.
Any other task has texts only a model can embed, and is refused with that reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.corpora import Corpus, RetrievalTask
from analysis.encoding import ProgressCallback, calibration, view_of
from analysis.encoding.backends import AUTO
from analysis.errors import OptionError
from analysis.models import ResolvedModel
from analysis.pipeline import ModelSource, as_source, get_embeddings
from analysis.pipeline.cache import EmbeddingStore, build_key
from analysis.pipeline.encode_options import EncodeOptions, concrete_options, describe_backend, known_options
from analysis.vectors import VectorSource

if TYPE_CHECKING:  # pandas costs ~0.5 s to import
    import pandas as pd

    from analysis.measures.retrieval import Relevance, VariantScore

REPORT_VERSION = 2  # 2: the key names the concrete backend, the report records it
DEFAULT_DRAWS = 5
DRAW_SEED = 0
MAX_DRAWS = 50


@dataclass(frozen=True)
class Readiness:
    """Per-dimension figures over the documents (normalized view), index = dimension."""

    std: list[float]
    bit_balance: list[float]  # P(x > 0): 0.5 is a full bit, 0 or 1 carries nothing
    int8_range_over_std: list[float]  # (max - min) / std: how far int8 stretches the bulk
    cosine_share_raw: list[float | None]  # share of the mean pairwise cosine (None: shares meaningless)
    cosine_share_standardized: list[float | None]
    mean_cosine_raw: float
    mean_cosine_standardized: float
    top1_share_raw: float | None
    top3_share_raw: float | None
    top_dims_raw: list[int]
    harmful_mode: str  # "leave-one-out" or "groups"
    harmful_grouping: str | None
    harmful_units: list[list[int]]  # dimensions removed together
    harmful_gains: list[float]  # nDCG@10 change when each unit is removed
    harmful_standard_errors: list[float]  # of each gain, over queries
    harmful_z: float  # a gain counts when it exceeds this many standard errors
    harmful_dims: list[int]  # dimensions in units whose removal clearly raises nDCG@10
    harmful_baseline_ndcg: float


@dataclass(frozen=True)
class CompressReport:
    """Every storage variant's retrieval quality and bytes on one task, the verdicts and the readiness.

    Returned by :func:`compress_report`; ``to_dict()`` is the JSON of ``python -m analysis compress``.

    Attributes
    ----------
    model, task, mode : str
        What was scored; ``mode`` is "pairs" or "labels".
    n_queries, n_documents, dimension : int
        The task's size and the embedding's length.
    dead_dims : list of int
        Dead dimensions over the documents (``dead_rule`` says the rule).
    variants : list of VariantScore
        One per variant (float32, drop-dead, top-variance-k, prefix-k, pca-k, random-k, int8,
        binary...): ``bytes_per_vector``, ``recall_at_1``, ``ndcg_at_10``, ``retention`` (of
        float32's nDCG@10). ``variant(name)`` picks one; ``frame()`` is the table.
    verdict, matryoshka : str
        The findings in plain words: what storage keeps quality, and whether prefixes do.
    readiness : Readiness
        Per-dimension figures over the documents: ``std``, ``bit_balance``, cosine shares.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis import compress_report, default_store, load_retrieval_task
    >>> faq = (
    ...     "query,document\\n"
    ...     "how do I reset my password,Open Settings and choose Reset password.\\n"
    ...     "when is the shop open,From 9 to 5 on weekdays.\\n"
    ...     "can I pay by card,Yes: every major card is accepted.\\n"
    ...     "where do you ship,To the EU and the UK.\\n"
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "faq.csv"
    ...     _ = path.write_text(faq)
    ...     task = load_retrieval_task(str(path))
    >>> report = compress_report("all-MiniLM-L6-v2", task, ks=[64], n_draws=1, store=default_store())
    >>> report.variant("float32").bytes_per_vector, report.variant("int8").bytes_per_vector
    (1536, 384)
    >>> report.frame().set_index("name").loc[["drop-dead", "binary"], "dims"].tolist()
    [381, 384]
    """

    model: str
    fingerprint: str
    task: str
    mode: str  # "pairs" (one relevant document per query) or "labels" (same label = relevant)
    n_queries: int  # queries scored (each has a relevant document)
    n_documents: int
    n_queries_without_relevant: int
    dimension: int
    dead_dims: list[int]
    dead_rule: str
    ks: list[int]
    n_draws: int
    variants: list[VariantScore]
    verdict: str
    matryoshka: str
    matryoshka_rule: str
    int8_ranges: list[list[float]]  # [per-dim min, per-dim max] of the documents: the int8 calibration
    readiness: Readiness
    seconds: float  # scoring time (embeddings excluded)
    backend: str = "torch"  # what encoded both sides ("auto" resolved once per task)
    backend_drift: float | None = None  # its measured normalized-std drift from torch fp32
    backend_speedup: float | None = None

    @property
    def backend_summary(self) -> str:
        """One line for a page: "encoded with openvino bf16, 2.3x faster than torch, ..."."""
        return describe_backend(self.backend, self.backend_drift, self.backend_speedup)

    def variant(self, name: str) -> VariantScore:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def frame(self) -> pd.DataFrame:
        """The variant table: one row per variant, the metrics and bytes."""
        import pandas as pd

        return pd.DataFrame([v.to_dict() for v in self.variants])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["variants"] = [v.to_dict() for v in self.variants]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompressReport:
        from analysis.measures.retrieval import VariantScore

        values = {f.name: data[f.name] for f in fields(cls)}
        values["variants"] = [VariantScore(**v) for v in data["variants"]]
        values["readiness"] = Readiness(**data["readiness"])
        return cls(**values)


def side_options(model: ModelSource, task: RetrievalTask, options: EncodeOptions) -> tuple[EncodeOptions, ...]:
    """Encoding options of the queries and of the documents: the model card's query and document
    prompts for pairs (none for models without them), the analysis prompt for a labelled corpus,
    or the prompt given for both."""
    if options.prompt is not None or task.mode == "labels" or model.info is None:
        return options, options
    prompts = model.info.prompts
    query = EncodeOptions(prompts.get("query", model.analysis_prompt), options.batch_size, options.backend)
    document = EncodeOptions(prompts.get("document", model.analysis_prompt), options.batch_size, options.backend)
    return query, document


def task_options(
    model: ModelSource,
    task: RetrievalTask,
    options: EncodeOptions,
    *,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
    calibrate: bool = True,
) -> EncodeOptions | None:
    """``options`` with "auto" resolved once for the whole task, from its documents (the side the
    dead dimensions and int8 ranges come from), so both sides encode with one backend and the key
    names it. Without ``calibrate``: None when only a calibration could tell."""
    if options.backend != AUTO:
        return options
    _, documents = side_options(model, task, options)
    if calibrate:
        chosen = concrete_options(model, task.documents, documents, store=store, progress=progress)
    else:
        known = known_options(model, task.documents, documents, store=store)
        if known is None:
            return None
        chosen = known
    return replace(options, backend=chosen.backend)


def check_draws(n_draws: int) -> int:
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or not 1 <= n_draws <= MAX_DRAWS:
        raise OptionError(f"The number of random draws must be a whole number from 1 to {MAX_DRAWS}; got {n_draws!r}.")
    return n_draws


def compress_key(
    model: ModelSource, task: RetrievalTask, *, ks: list[int] | None, n_draws: int, options: EncodeOptions
) -> str:
    """The cache key: model fingerprint, both corpus hashes, relevance, both prompts, the backend
    (concrete: resolve "auto" with :func:`task_options` first), ks, draws, version."""
    if options.backend == AUTO:
        raise ValueError("compress_key needs a concrete backend: resolve 'auto' with task_options first")
    query_options, document_options = side_options(model, task, options)
    return build_key(
        "compress",
        model=model.fingerprint,
        queries=task.queries.content_hash,
        documents=task.documents.content_hash,
        relevance=task.relevance_hash,
        query_prompt=query_options.effective_prompt(model),
        document_prompt=document_options.effective_prompt(model),
        backend=options.backend,
        ks=list(ks) if ks else "default",
        draws=n_draws,
        seed=DRAW_SEED,
        version=REPORT_VERSION,
    )


def _task_source(model: str | ResolvedModel | VectorSource, task: RetrievalTask) -> ModelSource:
    """The model, or a vectors file when ``task`` is its own rows by label (nothing else can be scored on it)."""
    source = as_source(model)
    if isinstance(source, VectorSource):
        rows = source.corpus
        own = (
            task.queries is task.documents
            and task.relevant is None
            and task.documents.content_hash == rows.content_hash
        )
        if not own:
            raise OptionError(
                f"{source.name} holds vectors of its own rows only, and {task.name} has texts that need a model to "
                f"embed them. Score {source.name} on its labels (every row against the others), or choose a model."
            )
    return source


def cached_compress_report(
    model: str | ResolvedModel | VectorSource,
    task: RetrievalTask,
    *,
    ks: list[int] | None = None,
    n_draws: int = DEFAULT_DRAWS,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
) -> CompressReport | None:
    """The report if it is cached (a damaged or older record is deleted), else None. Encodes nothing."""
    resolved = _task_source(model, task)
    n_draws = check_draws(n_draws)
    concrete = task_options(resolved, task, options or EncodeOptions(), store=store, calibrate=False)
    if concrete is None:  # auto would calibrate first: nothing can be cached under its choice yet
        return None
    key = compress_key(resolved, task, ks=ks, n_draws=n_draws, options=concrete)
    cached = store.get_json(key)
    if isinstance(cached, dict):
        try:
            return CompressReport.from_dict(cached)
        except (KeyError, TypeError):
            store.delete(key)
    return None


def task_embeddings(
    model: ModelSource,
    task: RetrievalTask,
    *,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
    time_limit_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized query and document embeddings (float32), each side from the cache or encoded."""
    options = task_options(model, task, options or EncodeOptions(), store=store, progress=progress)
    assert options is not None
    query_options, document_options = side_options(model, task, options)
    same = task.queries is task.documents and query_options == document_options
    total = len(task.documents) + (0 if same else len(task.queries))
    worked = False

    # Progress counts both sides in the order they run. A side read from the cache reports itself
    # complete at its first call: passed on, it would draw a bar for work nobody does.
    def side(corpus: Corpus, side_options: EncodeOptions, offset: int) -> np.ndarray:
        def shifted(done: int, side_total: int) -> None:
            nonlocal worked
            if progress and (worked or done < side_total):
                worked = True
                progress(offset + done, total)

        result = get_embeddings(
            model, corpus, options=side_options, store=store, progress=shifted, time_limit_s=time_limit_s
        )
        return view_of(result.raw, "normalized")

    documents = side(task.documents, document_options, 0)
    queries = documents if same else side(task.queries, query_options, len(task.documents))
    if progress and worked:
        progress(total, total)  # the bar ends even when the side that ran last was read from the cache
    return queries, documents


def task_relevance(task: RetrievalTask) -> Relevance:
    """Which documents are relevant to each query of ``task``, as the retrieval measures take it."""
    from analysis.measures.retrieval import Relevance

    if task.relevant is not None:
        return Relevance.pairs(list(task.relevant), query_doc_index=list(task.query_doc_index))
    labels = list(task.labels or ())
    return Relevance.labels(labels, labels, query_doc_index=list(task.query_doc_index))


def compress_report(
    model: str | ResolvedModel | VectorSource,
    task: RetrievalTask,
    *,
    ks: list[int] | None = None,
    n_draws: int = DEFAULT_DRAWS,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
    time_limit_s: float | None = None,
) -> CompressReport:
    """Score every storage variant of ``model`` on ``task``: what fewer dimensions, int8 and binary keep.

    Both sides of the task are embedded through the cached pipeline and taken in the normalized
    view; each variant's retrieval is scored against full float32. The report is cached.

    Parameters
    ----------
    model : str, ResolvedModel or VectorSource
        A model spec or a resolved model; a vectors file only for a task built on its own labelled
        rows (its vectors are read, not encoded).
    task : RetrievalTask
        Queries, documents and relevance, from :func:`load_retrieval_task`.
    ks : list of int, optional
        The numbers of dimensions the reduced variants keep (default: 8 to 256 by powers of two, and
        the full dimension).
    n_draws : int, default 5
        Random-k draws per k (1 to 50).
    options : EncodeOptions, optional
        What changes the embeddings; ``EncodeOptions()`` by default.
    store : EmbeddingStore
        Where embeddings and the report are looked up and kept: ``default_store()`` for the disk cache.
    progress : callable, optional
        ``progress(done, total)`` receives the texts encoded so far.
    time_limit_s : float, optional
        Public demos: stop with ``TimeLimitError`` when encoding would take longer.

    Returns
    -------
    CompressReport
        Every variant's quality and bytes, the verdicts and the per-dimension readiness.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from analysis import compress_report, default_store, load_retrieval_task
    >>> faq = (
    ...     "query,document\\n"
    ...     "how do I reset my password,Open Settings and choose Reset password.\\n"
    ...     "when is the shop open,From 9 to 5 on weekdays.\\n"
    ...     "can I pay by card,Yes: every major card is accepted.\\n"
    ...     "where do you ship,To the EU and the UK.\\n"
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "faq.csv"
    ...     _ = path.write_text(faq)
    ...     task = load_retrieval_task(str(path))
    >>> report = compress_report("all-MiniLM-L6-v2", task, ks=[64], n_draws=1, store=default_store())
    >>> report.n_queries, report.dead_dims
    (4, [127, 223, 319])
    >>> report.verdict[:38]
    'int8 keeps 100.0% at 1/4 of the bytes;'
    """
    from analysis.measures import retrieval
    from analysis.measures.stats import DEAD_RELATIVE_THRESHOLD, dead_dimensions

    options = options or EncodeOptions()
    options.validate()
    n_draws = check_draws(n_draws)
    resolved = _task_source(model, task)
    options = task_options(resolved, task, options, store=store, progress=progress)
    assert options is not None
    hit = cached_compress_report(resolved, task, ks=ks, n_draws=n_draws, options=options, store=store)
    if hit is not None:
        if progress:
            progress(1, 1)
        return hit
    queries, documents = task_embeddings(
        resolved, task, options=options, store=store, progress=progress, time_limit_s=time_limit_s
    )
    started = time.perf_counter()
    relevance = task_relevance(task)
    drift, speedup = (
        (None, None) if isinstance(resolved, VectorSource) else calibration.backend_facts(resolved, options.backend)
    )
    std = documents.astype(np.float64).std(axis=0)
    dead = dead_dimensions(std)
    variants = retrieval.evaluate_variants(
        queries, documents, relevance, dead_dims=dead, ks=ks, n_draws=n_draws, seed=DRAW_SEED
    )
    readiness = _readiness(queries, documents, relevance, std)
    full = variants[0]
    report = CompressReport(
        model=resolved.name,
        fingerprint=resolved.fingerprint,
        task=task.name,
        mode=task.mode,
        n_queries=full.n_queries,
        n_documents=len(task.documents),
        n_queries_without_relevant=full.n_queries_without_relevant,
        dimension=int(documents.shape[1]),
        dead_dims=dead,
        dead_rule=f"normalized std < {DEAD_RELATIVE_THRESHOLD} x the median std, over the documents",
        ks=sorted({v.k for v in variants if v.k is not None}),
        n_draws=n_draws,
        variants=variants,
        verdict=retrieval.storage_verdict(variants, dead),
        matryoshka=retrieval.matryoshka_verdict(variants, variants),
        matryoshka_rule=retrieval.MATRYOSHKA_RULE,
        int8_ranges=retrieval.int8_ranges(documents).astype(np.float64).tolist(),
        readiness=readiness,
        seconds=round(time.perf_counter() - started, 3),
        backend=options.backend,
        backend_drift=drift,
        backend_speedup=speedup,
    )
    store.put_json(compress_key(resolved, task, ks=ks, n_draws=n_draws, options=options), _json_ready(report.to_dict()))
    return report


def _readiness(queries: np.ndarray, documents: np.ndarray, relevance: Any, std: np.ndarray) -> Readiness:
    from analysis.measures import retrieval

    share = retrieval.cosine_share(documents)
    harmful = retrieval.harmful_dimensions(queries, documents, relevance)

    def shares(values: np.ndarray) -> list[float | None]:
        return [None if math.isnan(x) else float(x) for x in values]

    def number(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    return Readiness(
        std=std.tolist(),
        bit_balance=retrieval.bit_balance(documents).tolist(),
        int8_range_over_std=retrieval.int8_range_over_std(documents).tolist(),
        cosine_share_raw=shares(share.raw.share),
        cosine_share_standardized=shares(share.standardized.share),
        mean_cosine_raw=share.raw.mean_cosine,
        mean_cosine_standardized=share.standardized.mean_cosine,
        top1_share_raw=number(share.raw.top1_share),
        top3_share_raw=number(share.raw.top3_share),
        top_dims_raw=share.raw.top_dims.tolist(),
        harmful_mode=harmful.mode,
        harmful_grouping=harmful.grouping,
        harmful_units=[u.tolist() for u in harmful.units],
        harmful_gains=harmful.gains.tolist(),
        harmful_standard_errors=harmful.standard_errors.tolist(),
        harmful_z=harmful.z,
        harmful_dims=harmful.harmful_dims.tolist(),
        harmful_baseline_ndcg=harmful.baseline_ndcg,
    )


def _json_ready(value: Any) -> Any:
    """NaN and infinities as None: the cache stores strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


def storage_recipe(
    report: CompressReport,
    model: str | ResolvedModel | VectorSource,
    task: RetrievalTask,
    keep: str,
    *,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
) -> dict[str, Any]:
    """A JSON recipe for a vector store: the kept dimensions and the int8 calibration ranges over them.

    ``keep``: ``all``, ``drop-dead``, ``prefix-K`` or ``top-variance-K``. The ranges are the
    per-dimension (min, max) of the task's documents in the normalized view, restricted to the
    kept dimensions and re-normalized (as the scored variants are), so ``quantize_embeddings(x,
    precision="int8", ranges=np.array(recipe["int8"]["ranges"]))`` reproduces the codes. Reads
    the cached document embeddings.
    """
    from analysis.measures.retrieval import int8_ranges
    from analysis.measures.retrieval.checks import unit_rows
    from analysis.measures.retrieval.variants import kept_dimensions

    resolved = _task_source(model, task)
    _, documents = task_embeddings(resolved, task, options=options, store=store)
    kept = kept_dimensions(documents, keep, report.dead_dims)
    stored = documents if keep == "all" else unit_rows(documents[:, kept])
    names = {"all": "float32", "drop-dead": "drop-dead"}
    scored = {v.name: v for v in report.variants}
    measured = [scored[n] for n in (names.get(keep, keep), "int8", "binary", "binary-rescore") if n in scored]
    return {
        "model": report.model,
        "fingerprint": report.fingerprint,
        "task": report.task,
        "dimension": report.dimension,
        "keep": keep,
        "kept_dims": kept.tolist(),
        "n_kept": int(kept.size),
        "renormalize": keep != "all",
        "steps": [
            "take the model's normalized embedding (unit length)",
            "keep the dimensions in kept_dims, in that order"
            + (", and divide by the new length" if keep != "all" else ""),
            "int8: code = clip(floor((x - min) / ((max - min) / 255)), 0, 255) - 128, per kept dimension "
            "(sentence_transformers.quantization.quantize_embeddings(x, precision='int8', ranges=np.array(ranges)))",
            "binary: numpy.packbits(x > 0), compared by Hamming distance",
        ],
        "int8": {
            "ranges": int8_ranges(stored).astype(np.float64).tolist(),
            "calibrated_on": f"{len(task.documents):,} documents of {task.name}",
            "bytes_per_vector": int(kept.size),
        },
        "binary": {"bytes_per_vector": int(-(-kept.size // 8))},
        "float32": {"bytes_per_vector": int(4 * kept.size)},
        "measured": [
            {k: v.to_dict()[k] for k in ("name", "bytes_per_vector", "recall_at_10", "mrr", "ndcg_at_10", "retention")}
            for v in measured
        ],
        "stores": _store_settings(int(kept.size), scored, names.get(keep, keep)),
    }


def _store_settings(k: int, scored: dict[str, VariantScore], variant: str) -> dict[str, Any]:
    """pgvector, Qdrant, LanceDB and FAISS settings at each precision, with the retention measured there
    (int8 and binary-rescore were scored at the model's full width: the nearest measured point)."""
    from analysis.reports.store_settings import store_settings

    def retention(name: str) -> float | None:
        return scored[name].retention if name in scored else None

    return {
        "float32": store_settings(k, "float32", retention(variant)),
        "int8": store_settings(k, "int8", retention("int8")),
        "binary": store_settings(k, "binary", retention("binary-rescore")),
        "note": "int8 and binary retention are measured at the model's full width; fewer kept dimensions can only "
        "be checked by scoring that point (python -m analysis export --variant ... --precision ...).",
    }
