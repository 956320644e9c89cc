"""Scale-out on Ray Data: encode a corpus on many workers, or compute statistics over Parquet shards.

Ray is an optional extra (``pip install "dimscope[ray]"``, i.e. ``ray[data]==2.60.0``) and is
imported inside the functions here only: ``import analysis`` never imports it.

The statistics are the same code as the single-process path: every Ray task reads its block of
vectors into :func:`analysis.measures.stats.stats_moments` (both views), ships the resulting
:class:`~analysis.measures.moments.DimensionMoments` in their wire form, and Ray merges them with
:meth:`~analysis.measures.moments.DimensionMoments.merge` (an ``AggregateFnV2``); the driver turns
the merged moments into the same :class:`~analysis.pipeline.StatsResult` as a local run.

* :func:`stats_of_texts`: read texts (a .txt or .parquet file, or a folder of shards) with
  ``ray.data``, encode with ``map_batches`` and a callable class (each actor resolves and loads the
  model once, with its trailing Normalize removed: the raw view), aggregate, and optionally write
  the embeddings as Parquet shards (``text`` plus a plain ``fixed_size_list<float>`` column
  ``embedding``) for later ``--embeddings`` runs.
* :func:`stats_of_shards`: statistics over existing Parquet shards of vectors, on the cluster.

Local by default: :func:`ray_session` starts a private cluster on this machine
(``ray.init(address="local")``, never another session's cluster) with its files in a fresh temporary
folder that is removed afterwards; with an address it joins that cluster. An already initialized Ray
(a notebook, the tests) is used as it is and left running.

CPU reservations: Ray Data's read and aggregate tasks each need one logical CPU, and a pipeline whose
actors reserve the rest hangs silently. So the encoder actors share ``CPUs - 1`` logical CPUs, and each
sets its torch threads explicitly (Ray would set ``OMP_NUM_THREADS`` to its whole-CPU reservation).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.corpora.decoding import printable, shorten
from analysis.errors import CorpusError, ModelUnavailableError, OptionError
from analysis.measures.moments import DimensionMoments
from analysis.models import ResolvedModel
from analysis.models.fingerprint import files_sha256
from analysis.vectors import VectorSource

RAY_EXTRA = 'pip install "dimscope[ray]" (that is, "ray[data]==2.60.0")'
BATCH_ROWS = 256  # texts per map_batches call (each actor encodes them longest-first)
# Ray's Unix sockets live in <temp folder>/session_<date>_<time>_<pid>/sockets/plasma_store (65 more
# characters), and a socket path has at most 107 bytes.
_MAX_TEMP_PATH = 42
_TEXT_FORMATS = ("txt", "parquet")


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or an OptionError naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray without its data library is not enough
    except ImportError:
        raise OptionError(f"The Ray engine needs Ray Data, an optional extra: {RAY_EXTRA}.") from None
    return ray


@dataclass(frozen=True)
class RaySession:
    """The cluster a run uses: its CPUs and nodes, and whether this process started it."""

    address: str
    cpus: float
    nodes: int
    node_cpus: float  # CPUs of the largest node
    started_here: bool


def _quiet_data_context(ray: Any) -> None:
    """Ray Data settings every dataset of this driver captures when it is created."""
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # The default hash shuffle costs seconds per global aggregate and, on small data, never calls
    # combine(); the sort-based one aggregates each block and merges the results.
    context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    data_logger = logging.getLogger("ray.data")  # its own handlers; records come from child loggers
    data_logger.setLevel(logging.WARNING)
    for handler in data_logger.handlers:
        if not any(isinstance(f, _DropProgressNote) for f in handler.filters):
            handler.addFilter(_DropProgressNote())


class _DropProgressNote(logging.Filter):
    """Ray Data warns that progress bars are off, which is what we asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Progress bars disabled" not in record.getMessage()


def _session_info(ray: Any, started_here: bool) -> RaySession:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    node_cpus = max((float(n.get("Resources", {}).get("CPU", 0)) for n in nodes), default=0.0)
    cpus = float(ray.cluster_resources().get("CPU", 0))
    return RaySession(ray.get_runtime_context().gcs_address, cpus, max(1, len(nodes)), node_cpus, started_here)


@contextlib.contextmanager
def ray_session(address: str | None = None, *, temp_dir: str | os.PathLike[str] | None = None) -> Iterator[RaySession]:
    """Ray for one run: the initialized one, a cluster by ``address``, or a private local cluster.

    A local cluster gets ``max(2, cores)`` logical CPUs and its files in a new folder under
    ``temp_dir`` (default ``$DIMSCOPE_RAY_TEMP_DIR`` or the system's temporary folder), shut down and
    removed on exit.
    """
    ray = import_ray()
    if ray.is_initialized():
        _quiet_data_context(ray)
        yield _session_info(ray, started_here=False)
        return
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    folder: Path | None = None
    if address in (None, "", "local"):
        base = Path(temp_dir or os.environ.get("DIMSCOPE_RAY_TEMP_DIR") or tempfile.gettempdir()).expanduser()
        try:
            base.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="", dir=base)).resolve()
        except OSError as exc:
            raise OptionError(f"Cannot create Ray's temporary folder in {base}: {exc.strerror or exc}.") from None
        if len(str(folder)) > _MAX_TEMP_PATH:
            shutil.rmtree(folder, ignore_errors=True)
            raise OptionError(
                f"Ray's temporary folder {folder} is too long for its sockets; set DIMSCOPE_RAY_TEMP_DIR to a short "
                "path such as /tmp."
            )
        try:
            ray.init(
                address="local",
                num_cpus=max(2, os.cpu_count() or 1),
                include_dashboard=False,
                _temp_dir=str(folder),
                **quiet,
            )
        except Exception as exc:  # noqa: BLE001 - Ray raises many types; say it in one line
            shutil.rmtree(folder, ignore_errors=True)
            raise OptionError(f"Could not start a local Ray cluster: {_one_line(exc)}.") from None
    else:
        try:
            ray.init(address=address, runtime_env={"py_modules": [_package_dir()]}, **quiet)
        except Exception as exc:  # noqa: BLE001
            raise OptionError(
                f"Cannot connect to the Ray cluster at {shorten(printable(str(address)), 100)}: {_one_line(exc)}. "
                "Give the head node's address (host:6379), as `ray status` shows it."
            ) from None
    try:
        _quiet_data_context(ray)
        yield _session_info(ray, started_here=True)
    finally:
        ray.shutdown()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)  # Ray never deletes its session folders


def _package_dir() -> str:
    """This package's folder, shipped to a cluster's workers so that they run the driver's code."""
    return str(Path(__file__).resolve().parent.parent)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return shorten(printable(text[-1] if text else type(exc).__name__), 300)


# --- actors and aggregation (ray imported by the functions that build them) ----------------------------


def actor_resources(session: RaySession, workers: int) -> tuple[float, int]:
    """(logical CPUs per encoder actor, torch threads per actor) that leave one CPU to Ray Data's tasks.

    >>> actor_resources(RaySession("", 2.0, 1, 2.0, True), 2)
    (0.5, 1)
    >>> actor_resources(RaySession("", 2.0, 1, 2.0, True), 1)
    (1.0, 2)
    """
    if workers < 1:
        raise OptionError(f"--workers must be at least 1, got {workers}.")
    free = session.cpus - 1
    if free <= 0:
        raise OptionError(
            f"The Ray cluster has {session.cpus:g} CPU; the encoder needs at least one more than the reading tasks."
        )
    per_actor = free / workers
    if per_actor < 0.05:
        raise OptionError(f"{workers} workers on {session.cpus:g} CPUs is too many; use at most {int(free / 0.05)}.")
    per_node = math.ceil(workers / session.nodes)
    threads = max(1, int(session.node_cpus // per_node))
    return round(per_actor, 6), threads


class TextEncoder:
    """``map_batches`` callable: each actor resolves and loads the model once, then encodes batches.

    Returns an Arrow table with ``text`` and ``embedding`` (a plain ``fixed_size_list<float32>[d]``,
    which any Parquet reader understands). Blank texts are dropped, as a corpus file's blank rows are.
    """

    def __init__(
        self, spec: str, fingerprint: str, trust: bool, prompt: str, batch_size: int, threads: int, backend: str
    ) -> None:
        from analysis.encoding import encode_raw, prefer_passive_openmp
        from analysis.models import resolve_model

        prefer_passive_openmp()
        import torch

        torch.set_num_threads(threads)
        self.model = resolve_model(spec, allow_trust_remote_code=trust)
        if self.model.fingerprint != fingerprint:
            raise ModelUnavailableError(
                f"The model {spec} on this worker ({self.model.fingerprint}) differs from the driver's "
                f"({fingerprint}); give every node the same model files."
            )
        self.prompt, self.batch_size, self.backend = prompt, batch_size, backend
        encode_raw(self.model, [], prompt=prompt, backend=backend)  # loads the model now, once per actor

    def __call__(self, batch: dict[str, Any]) -> Any:
        import pyarrow as pa

        from analysis.encoding import encode_raw

        texts = [t for t in (str(v) for v in batch["text"]) if t.strip()]
        vectors = encode_raw(self.model, texts, prompt=self.prompt, batch_size=self.batch_size, backend=self.backend)
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), type=pa.float32())
        return pa.table(
            {
                "text": pa.array(texts, type=pa.string()),
                "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )


def block_moments(block: Any, column: str) -> dict[str, Any] | None:
    """One block's statistics of both views, in wire form; None for an empty block.

    The same function a local run uses (``stats_moments``), one thread (the task holds one CPU).
    Rows with NaN, inf or no vector are counted in ``bad_rows``; a dimension that differs from
    another block's is reported by :func:`merge_wire`.
    """
    import pyarrow as pa

    from analysis.measures.stats import iter_row_chunks, stats_moments
    from analysis.vectors.arrow_files import ColumnDecoder
    from analysis.vectors.layout import usable_rows

    table = block if isinstance(block, pa.Table) else pa.Table.from_pandas(block, preserve_index=False)
    if table.num_rows == 0:
        return None
    try:
        matrix = ColumnDecoder("a block", column, None).decode(table.column(column))
    except CorpusError as exc:
        return {"problem": str(exc), "rows": table.num_rows, "bad_rows": 0, "raw": None, "normalized": None}
    finite = usable_rows(matrix)
    moments = stats_moments(iter_row_chunks(matrix, 8192), matrix.shape[1], workers=1)
    return {
        "problem": "",
        "rows": int(matrix.shape[0]),
        "bad_rows": int(finite.size - np.count_nonzero(finite)),
        "raw": moments["raw"].to_wire(),
        "normalized": moments["normalized"].to_wire(),
    }


def merge_wire(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two blocks' (or partial merges') wire records merged with Chan's formula; problems carried on."""
    problem = a.get("problem") or b.get("problem") or ""
    rows, bad = int(a["rows"]) + int(b["rows"]), int(a["bad_rows"]) + int(b["bad_rows"])
    if problem:
        return {"problem": problem, "rows": rows, "bad_rows": bad, "raw": None, "normalized": None}
    merged: dict[str, Any] = {"problem": "", "rows": rows, "bad_rows": bad}
    for view in ("raw", "normalized"):
        left, right = DimensionMoments.from_wire(a[view]), DimensionMoments.from_wire(b[view])
        if left.dimension != right.dimension:
            merged.update(
                problem=f"vectors of {left.dimension:,} and of {right.dimension:,} values; every row needs the "
                "same dimension",
                raw=None,
                normalized=None,
            )
            return merged
        merged[view] = left.merge(right).to_wire()
    return merged


@functools.lru_cache(maxsize=1)
def _aggregate_class() -> type:
    """``DimensionMomentsAggregate``: built on first use, because its base class comes from Ray."""
    from ray.data.aggregate import AggregateFnV2

    class DimensionMomentsAggregate(AggregateFnV2):
        """Both views' statistics of a vector column: :func:`block_moments` per block, :func:`merge_wire`."""

        def __init__(self, on: str) -> None:
            # ignore_nulls: None is the empty accumulator, and Ray skips combine() with it.
            super().__init__(f"moments({on})", zero_factory=lambda: None, on=on, ignore_nulls=True)
            self.column = on

        def aggregate_block(self, block: Any) -> dict[str, Any] | None:
            return block_moments(block, self.column)

        def combine(self, current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
            return merge_wire(current, new)

    return DimensionMomentsAggregate


def aggregate_moments(dataset: Any, column: str, name: str) -> dict[str, DimensionMoments]:
    """Both views' merged statistics of ``column`` over a dataset; CorpusError for bad rows or dimensions."""
    aggregate = _aggregate_class()(column)
    record = dataset.aggregate(aggregate)[aggregate.name]
    if record is None:
        raise CorpusError(f"{name} holds no vectors.")
    if record["problem"]:
        raise CorpusError(f"{name}: {record['problem']}.")
    if record["bad_rows"]:
        bad, total = int(record["bad_rows"]), int(record["rows"])
        raise CorpusError(
            f"{name}: {bad:,} of {total:,} rows {'has' if bad == 1 else 'have'} NaN, infinite or missing values, "
            "or values beyond ±1e+15; DimScope refuses them rather than dropping them. Fix or remove those rows."
        )
    return {view: DimensionMoments.from_wire(record[view]) for view in ("raw", "normalized")}


# --- the two runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RayRun:
    """What a Ray run measured: both views' moments, the rows, and where it ran."""

    moments: dict[str, DimensionMoments]
    n_rows: int
    workers: int
    session: RaySession
    written: Path | None = None


def read_texts(path: Path, text_column: str | None) -> Any:
    """A dataset with one ``text`` column from a .txt or .parquet file, or a folder of such shards."""
    import ray.data

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    formats = {p.suffix.lower().lstrip(".") for p in files}
    shown = shorten(printable(str(path)), 200)
    if not files or not formats <= set(_TEXT_FORMATS) or len(formats) != 1:
        raise CorpusError(
            f"{shown}: the Ray engine reads texts from a .txt or .parquet file, or a folder holding only one of "
            f"them (found: {', '.join(sorted(formats)) or 'no files'})."
        )
    if formats == {"txt"}:
        if text_column is not None:
            raise OptionError("--text-column applies to Parquet texts; a .txt file holds one text per line.")
        return ray.data.read_text(str(path), file_extensions=["txt"])
    import pyarrow.parquet as pq

    names = pq.read_schema(files[0]).names
    column = text_column or ("text" if "text" in names else None)
    if column is None or column not in names:
        raise CorpusError(f"{shown} has no text column {column or 'text'!r}; its columns: {', '.join(names[:20])}.")
    dataset = ray.data.read_parquet(str(path)).select_columns([column])
    return dataset.rename_columns({column: "text"}) if column != "text" else dataset


def stats_of_texts(
    model: ResolvedModel,
    corpus_path: Path,
    *,
    text_column: str | None = None,
    prompt: str = "",
    batch_size: int = 32,
    backend: str = "torch",
    workers: int = 1,
    address: str | None = None,
    write_embeddings: Path | None = None,
) -> RayRun:
    """Encode the texts of ``corpus_path`` on Ray workers and aggregate both views' statistics."""
    if write_embeddings is not None:
        _check_empty_folder(write_embeddings)
    with ray_session(address) as session:
        import ray.data

        per_actor, threads = actor_resources(session, workers)
        texts = read_texts(corpus_path, text_column)
        # max_restarts has no named parameter in Ray 2.60 and reaches the actors through the
        # deprecated **ray_remote_args: silence that notice, which would print on every run.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*ray_remote_args.*deprecated")
            encoded = texts.map_batches(
                TextEncoder,
                fn_constructor_kwargs={
                    # Each worker resolves the model itself: a shared folder by path, else by hub id (its
                    # PyPI copy or hub cache), and checks it has the driver's exact files.
                    "spec": str(model.path) if model.source == "folder" else model.name,
                    "fingerprint": model.fingerprint,
                    "trust": model.trust_remote_code,
                    "prompt": prompt,
                    "batch_size": batch_size,
                    "threads": threads,
                    "backend": backend,
                },
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=per_actor,
                max_restarts=0,  # a failed actor is an error to report, not to retry (and Ray warns otherwise)
                batch_size=BATCH_ROWS,
                batch_format="numpy",
            )
        name = corpus_path.name
        if write_embeddings is not None:
            # Encode once, write the shards, then aggregate from them (they are the durable result).
            encoded.write_parquet(str(write_embeddings))
            encoded = ray.data.read_parquet(str(write_embeddings)).select_columns(["embedding"])
        moments = _wrap_task_errors(lambda: aggregate_moments(encoded, "embedding", name))
    return RayRun(moments, moments["raw"].count, workers, session, write_embeddings)


def stats_of_shards(source: VectorSource, *, address: str | None = None) -> RayRun:
    """Statistics of an embeddings file or folder of Parquet shards, aggregated on Ray."""
    if source.path is None:
        raise OptionError("The Ray engine reads embeddings from a path, not from an upload's bytes.")
    if source.layout.format != "parquet":
        raise OptionError(
            "The Ray engine reads embeddings from a .parquet file or a folder of .parquet shards; "
            "use --engine local for other formats."
        )
    column = source.layout.vector_column
    with ray_session(address) as session:
        import ray.data

        dataset = ray.data.read_parquet(str(source.path)).select_columns([column])
        if source.max_rows is not None:
            dataset = dataset.limit(source.max_rows)
        moments = _wrap_task_errors(lambda: aggregate_moments(dataset, column, source.name))
    return RayRun(moments, moments["raw"].count, 0, session)


def _wrap_task_errors(run: Any) -> Any:
    """Ray wraps an error raised in a task; a DimScopeError inside comes back as itself."""
    from analysis.errors import DimScopeError

    try:
        return run()
    except DimScopeError:
        raise
    except Exception as exc:  # noqa: BLE001 - RayTaskError, ActorDiedError, ...
        cause = getattr(exc, "cause", None)
        if isinstance(cause, DimScopeError):
            raise type(cause)(str(cause)) from None
        raise


def _check_empty_folder(folder: Path) -> None:
    """Ray appends to a folder: a second run would mix shards. Refuse one that holds files."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OptionError(
            f"--write-embeddings {shorten(printable(str(folder)), 200)} is not an empty folder; give a new or "
            "empty one (Ray adds its shards to what is there)."
        )
    if not folder.parent.exists():
        raise OptionError(f"The folder of --write-embeddings {shorten(printable(str(folder)), 200)} does not exist.")


def corpus_fingerprint(path: Path) -> str:
    """sha256 of the corpus files' bytes (remembered under their sizes and times), for the JSON."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return files_sha256(files, path)
