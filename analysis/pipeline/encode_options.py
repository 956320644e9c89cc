"""What changes the embeddings (:class:`EncodeOptions`), the cache keys built from it, and
``backend="auto"`` resolved for one request.

A key names the backend that really encodes, never "auto", so equal vectors share one entry
whichever way they were asked for. Resolving "auto" for a request (:func:`concrete_options`)
prefers what is cached under any backend auto accepts, then this machine's recorded choice,
then torch fp32 for requests smaller than a calibration. A larger request for a model auto has
not prepared here yet also encodes with torch fp32, the reference, while the faster path is
prepared in the background (:mod:`analysis.encoding.preparation`: export, conversion and
calibration, once per machine and model, behind that encode in the encode line). Reports call it
before building their own keys; :func:`known_options` does the same without starting anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from analysis import settings
from analysis.corpora import Corpus
from analysis.encoding import ProgressCallback, calibration, preparation
from analysis.encoding.backends import AUTO, check_backend
from analysis.errors import OptionError
from analysis.models import ResolvedModel, as_resolved
from analysis.pipeline.cache import EmbeddingStore, build_key
from analysis.vectors import VectorSource

#: What gives embeddings: a model (encodes texts) or a vectors file (holds them).
ModelSource = ResolvedModel | VectorSource
#: The backend a vectors file's keys name: its vectors were given, not encoded here.
GIVEN = "given"


def describe_backend(backend: str, drift: float | None, speedup: float | None) -> str:
    """One line for a page or the CLI on what encoded a result (:func:`calibration.describe`).

    >>> describe_backend(GIVEN, None, None)
    'vectors as given in the file, not encoded here'
    """
    if backend == GIVEN:
        return "vectors as given in the file, not encoded here"
    return calibration.describe(backend, drift, speedup)


@dataclass(frozen=True)
class EncodeOptions:
    """Options that change the embeddings, and therefore the cache key (batch size does not).

    Parameters
    ----------
    prompt : str, optional
        Text put before every input; None uses the catalog's analysis prompt for the model
        (nomic: ``"clustering: "``), else none.
    batch_size : int, default 32
        Texts per forward pass, 1 to 1024.
    backend : str, default "auto"
        ``"auto"``: the fastest path that keeps torch fp32's statistics on this machine (calibrated
        once per model); ``"torch"``: the reference; or ``onnx``, ``onnx-int8``, ``openvino``,
        ``openvino-bf16``, ``torch-bf16``. ``$DIMSCOPE_BACKEND`` changes the default.

    Attributes
    ----------
    prompt, batch_size, backend
        As given.

    Examples
    --------
    >>> from analysis import EncodeOptions, corpus_from_texts, default_store, get_stats
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> options = EncodeOptions(backend="torch")
    >>> result = get_stats("all-MiniLM-L6-v2", corpus_from_texts(texts), options=options, store=default_store())
    >>> result.backend, result.backend_summary
    ('torch', 'encoded with torch fp32, the reference')
    >>> EncodeOptions(batch_size=0).validate()
    Traceback (most recent call last):
    analysis.errors.OptionError: batch size must be between 1 and 1024, got 0.
    """

    prompt: str | None = None  # None: the catalog's analysis prompt for the model (nomic: "clustering: ")
    batch_size: int = 32
    # "auto": the fastest path that keeps torch fp32's statistics on this machine (encoding.calibration);
    # $DIMSCOPE_BACKEND changes the default (settings.default_backend).
    backend: str = field(default_factory=settings.default_backend)

    def effective_prompt(self, model: ModelSource) -> str:
        return model.analysis_prompt if self.prompt is None else self.prompt

    def resolved_for(self, model: ModelSource, *, calibrate: bool = True) -> EncodeOptions | None:
        """These options with "auto" replaced by this machine's choice for ``model`` (calibrating
        once if needed); without ``calibrate``, None while that choice is unknown."""
        if self.backend != AUTO:
            return self
        if isinstance(model, VectorSource):  # given vectors were not encoded: see known_options
            return replace(self, backend=GIVEN)
        backend = calibration.resolve_backend(model, self.backend, calibrate=calibrate)
        return None if backend is None else replace(self, backend=backend)

    def key_parts(self, model: ModelSource) -> dict[str, str]:
        """The key names the backend that really encodes ("auto" resolved), so equal vectors share it."""
        resolved = self.resolved_for(model)
        assert resolved is not None
        return {"prompt": self.effective_prompt(model), "backend": resolved.backend}

    def validate(self) -> None:
        if not 1 <= int(self.batch_size) <= 1024:
            raise OptionError(f"batch size must be between 1 and 1024, got {self.batch_size}.")
        check_backend(self.backend)


def embeddings_key(model: ModelSource, corpus: Corpus, options: EncodeOptions) -> str:
    return build_key("emb", model=model.fingerprint, corpus=corpus.content_hash, view="raw", **options.key_parts(model))


def stats_key(model: ModelSource, corpus: Corpus, options: EncodeOptions, view: str) -> str:
    return build_key(
        "stats", model=model.fingerprint, corpus=corpus.content_hash, view=view, **options.key_parts(model)
    )


def cached_options(
    model: str | ResolvedModel,
    corpus: Corpus,
    options: EncodeOptions | None = None,
    *,
    store: EmbeddingStore,
    embeddings_only: bool = False,
) -> EncodeOptions | None:
    """The concrete options (``auto`` resolved) under which this model and corpus are cached:
    both views' statistics or the embeddings (only the embeddings with ``embeddings_only``).
    Never calibrates or loads anything; None when nothing is cached.

    For ``auto`` any accurate backend will do: this machine's choice, then the choices recorded on
    other machines (a Docker image built elsewhere: their drift was measured there and holds
    here), then torch fp32 (what ``auto`` uses before a first calibration, see :func:`concrete_options`).
    """
    resolved = as_resolved(model)
    options = options or EncodeOptions()
    known = options.resolved_for(resolved, calibrate=False)
    tries = [known.backend] if known is not None else []
    if options.backend == AUTO:
        tries += [record.chosen for record in calibration.recorded_elsewhere(resolved)] + [calibration.REFERENCE]
    for candidate in (replace(options, backend=backend) for backend in dict.fromkeys(tries)):
        if embeddings_key(resolved, corpus, candidate) in store:
            return candidate
        views = ("raw", "normalized")
        if not embeddings_only and all(stats_key(resolved, corpus, candidate, view) in store for view in views):
            return candidate
    return None


def known_options(
    model: ModelSource,
    corpus: Corpus,
    options: EncodeOptions | None = None,
    *,
    store: EmbeddingStore,
    embeddings_only: bool = False,
) -> EncodeOptions | None:
    """``options`` with "auto" resolved without calibrating: what is cached (:func:`cached_options`),
    else this machine's choice, else torch fp32 for fewer texts than a calibration encodes
    (calibrating would cost more than it saves). None when only a calibration can tell."""
    options = options or EncodeOptions()
    if isinstance(model, VectorSource):  # a file's vectors were given, not encoded: there is no backend to choose
        return replace(options, backend=GIVEN)
    if options.backend != AUTO:
        return options
    cached = cached_options(model, corpus, options, store=store, embeddings_only=embeddings_only)
    if cached is not None:
        return cached
    known = options.resolved_for(model, calibrate=False)
    if known is not None:
        return known
    if len(corpus) < calibration.MIN_TEXTS_TO_CALIBRATE:
        return replace(options, backend=calibration.REFERENCE)
    return None


def concrete_options(
    model: ModelSource,
    corpus: Corpus,
    options: EncodeOptions | None = None,
    *,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
    embeddings_only: bool = False,
) -> EncodeOptions:
    """``options`` with "auto" resolved for this request (:func:`known_options`). When only a
    calibration could tell (a model auto has not prepared on this machine), this request encodes
    with torch fp32, the reference, and auto's faster path is prepared in the background for the
    next ones (:func:`analysis.encoding.preparation.request`; the encode starts it). A ``progress``
    callback with a ``note(text)`` method is told so, in one line. Never waits for a calibration;
    reports call it before building their keys."""
    options = options or EncodeOptions()
    known = known_options(model, corpus, options, store=store, embeddings_only=embeddings_only)
    if known is not None:
        return known
    assert isinstance(model, ResolvedModel)  # known_options answers for a vectors file
    prep = preparation.request(model)
    note = getattr(progress, "note", None)
    if note is not None:
        note(prep.describe())
    return replace(options, backend=calibration.REFERENCE)
