"""The core subcommands: models, corpora, embed and stats."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.cli.common import (
    EXIT_OK,
    Progress,
    add_corpus_args,
    add_model_args,
    atomic_output,
    check_output_path,
    cli_store,
    encode_options_from_args,
    json_safe,
    load_corpus_from_args,
    report_corpus,
    resolve_model_from_args,
    write_text,
)
from analysis.errors import OptionError
from analysis.wording import plural

if TYPE_CHECKING:
    from analysis.pipeline import StatsResult


def _cmd_models(args: argparse.Namespace) -> int:
    from analysis import settings
    from analysis.models import list_models

    # Download sizes come from the hub; wait for them a bounded time (offline: not asked at all).
    rows = list_models(sizes=True, wait_s=min(settings.hub_timeout_s(), 10.0))
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "hub_id": a.info.hub_id,
                        "name": a.info.short_name,
                        "dimension": a.info.dimension,
                        "parameters_millions": a.info.parameters_millions,
                        "family": a.info.family,
                        "ends_with_normalize": a.info.ends_with_normalize,
                        "trust_remote_code": a.info.needs_trust_remote_code,
                        "prompts": a.info.prompts,
                        "available": a.available,
                        "status": a.status,
                        "download_bytes": a.download_bytes,
                        "where": a.where,
                    }
                    for a in rows
                ],
                indent=2,
            )
        )
        return EXIT_OK
    print(f"{'model':<62} {'dim':>5} {'params':>7}  {'family':<22} {'here'}")
    for a in rows:
        extra = " (trust_remote_code)" if a.info.needs_trust_remote_code else ""
        print(
            f"{a.info.hub_id:<62} {a.info.dimension:>5} {a.info.parameters_millions:>6.0f}M  "
            f"{a.info.family:<22} {a.label}: {a.where}{extra}"
        )
    return EXIT_OK


def _cmd_corpora(args: argparse.Namespace) -> int:
    from analysis.corpora import builtin_corpora

    rows = builtin_corpora()
    if args.format == "json":
        print(json.dumps([r.__dict__ for r in rows], indent=2))
        return EXIT_OK
    for r in rows:
        status = "available" if r.available else f"unavailable: {r.reason}"
        print(f"{r.name:<28} {r.title} ({status})")
    return EXIT_OK


def _cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from analysis.encoding import view_of
    from analysis.pipeline import get_embeddings

    output = check_output_path(args.output, (".npy", ".parquet"), inputs=(args.corpus, args.model))
    stored = args.variant is not None or args.precision != "float32"
    if stored:
        _check_stored_vectors_args(args, output)
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args, statistics=False)  # one text embeds fine
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    result = get_embeddings(
        model, corpus, options=options, store=cli_store(), progress=None if args.quiet else Progress("Encoding")
    )
    matrix = view_of(result.raw, "normalized" if stored else (args.view or "raw"))
    source = "cache" if result.from_cache else f"encoded {result.n_encoded}, reused {result.n_reused}"
    print(
        f"{model.name}: {plural(matrix.shape[0], 'text')} x {matrix.shape[1]} dims "
        f"({'normalized' if stored else args.view or 'raw'}; {source})",
        file=sys.stderr,
    )
    if stored and output is not None:
        from analysis.export.vectors_file import write_vectors_parquet

        recipe = {"model": model.name, "fingerprint": model.fingerprint, "corpus": corpus.name}
        recipe["corpus_hash"] = corpus.content_hash
        with atomic_output(output) as handle:
            written = write_vectors_parquet(
                handle,
                matrix,
                corpus.texts,
                corpus.labels,
                variant=args.variant,
                precision=args.precision,
                recipe=recipe,
            )
        print(f"wrote {output}: {written['variant']}, {written['dimension']} dims, {args.precision}", file=sys.stderr)
    elif output is not None:
        with atomic_output(output) as handle:
            if output.suffix.lower() == ".npy":
                np.save(handle, matrix)
            else:
                import pandas as pd

                frame = pd.DataFrame(matrix, columns=[f"e{j}" for j in range(matrix.shape[1])])
                frame.insert(0, "text", list(corpus.texts))
                if corpus.labels is not None:
                    frame.insert(1, "label", list(corpus.labels))
                frame.to_parquet(handle, index=False)
        print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


def _check_stored_vectors_args(args: argparse.Namespace, output: Any) -> None:
    """--variant and --precision store the normalized vectors as the compress report's variants do, in Parquet."""
    from analysis.export.variants import parse_variant

    if output is None or output.suffix.lower() != ".parquet":
        raise OptionError("--variant and --precision write a Parquet file: add --output FILE.parquet.")
    if args.view == "raw":
        raise OptionError("--variant and --precision store the normalized view; leave out --view raw.")
    if args.variant is not None:
        parse_variant(args.variant)


def _cmd_stats(args: argparse.Namespace) -> int:
    from analysis.encoding.backends import missing_runtimes_note
    from analysis.settings import default_backend

    allowed = {"json": (".json",), "csv": (".csv",), "parquet": (".parquet",), "text": (".txt",)}[args.format]
    output = check_output_path(args.output, allowed, inputs=(args.corpus, args.embeddings, args.model))
    if args.format == "parquet" and output is None:
        raise OptionError("--format parquet needs --output FILE.parquet.")
    result = _stats_of_embeddings(args) if args.embeddings is not None else _stats_of_model(args)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet and args.embeddings is None:  # given vectors were not encoded here
        print(f"note: {result.backend_summary}", file=sys.stderr)
        if (args.backend or default_backend()) == "auto" and (missing := missing_runtimes_note()):
            print(f"note: {missing}", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(json_safe(result.to_json_dict()), indent=1)
        write_text(text, output)
        return EXIT_OK
    if args.format == "text":
        write_text(_stats_summary(result), output)
        return EXIT_OK
    import pandas as pd

    long = pd.concat([result.raw.assign(view="raw"), result.normalized.assign(view="normalized")], ignore_index=True)
    long["dead"] = long["dim"].isin(result.dead_dims)
    long = long[["view", *[c for c in long.columns if c != "view"]]]
    if args.format == "csv":
        write_text(_budget_comment(result) + long.to_csv(index=False), output)
    else:
        assert output is not None  # --format parquet without --output was refused above
        with atomic_output(output) as handle:
            long.to_parquet(handle, index=False)
    return EXIT_OK


def _check_engine_args(args: argparse.Namespace) -> None:
    if args.engine != "ray":
        given = [flag for flag, value in (("--ray-address", args.ray_address), ("--workers", args.workers)) if value]
        if args.write_embeddings is not None:
            given.append("--write-embeddings")
        if given:
            raise OptionError(f"{', '.join(given)} apply to --engine ray only.")
    if args.workers is not None and args.workers < 1:
        raise OptionError(f"--workers must be at least 1, got {args.workers}.")


def _stats_of_model(args: argparse.Namespace) -> Any:
    """A model on a corpus: the cached pipeline, or Ray (texts from a file or a folder of shards)."""
    from analysis.pipeline import get_stats, stats_result

    _check_engine_args(args)
    given = [
        f
        for f, v in (
            ("--vector-column", args.vector_column),
            ("--limit", args.limit),
            ("--sample", args.sample),
            ("--seed", args.seed),
        )
        if v is not None
    ]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise OptionError(f"{', '.join(given)} {verb} to --embeddings only (--max-texts limits a corpus).")
    options = encode_options_from_args(args)
    if args.engine == "ray":
        from analysis.corpora.decoding import printable, shorten
        from analysis.engines import ray_data
        from analysis.export.folder import check_output_folder, staged_folder
        from analysis.vectors.readers import path_of

        if args.corpus is None:
            raise OptionError("--engine ray needs --corpus: a .txt or .parquet file, or a folder of shards.")
        if args.max_texts is not None or args.language_column is not None or args.label_column is not None:
            raise OptionError("--max-texts, --label-column and --language-column apply to the local engine only.")
        if not Path(args.corpus).expanduser().exists():
            raise OptionError(
                f"--engine ray reads texts from a .txt or .parquet file or a folder of shards, and "
                f"{shorten(printable(args.corpus), 200)!r} is none (built-in corpora run on the local engine)."
            )
        corpus_path = path_of(args.corpus)
        if args.write_embeddings:  # refused before any work: a file, a folder with files, no parent
            check_output_folder(args.write_embeddings, flag="--write-embeddings")
        model = resolve_model_from_args(args)
        # "auto" as this machine chose (calibrating once if needed), so that a local Ray run and a
        # single-process run encode alike; a bf16 choice on a worker without bf16 runs in f32, still
        # within the same tolerance of torch fp32.
        options = options.resolved_for(model) or options
        write = Path(args.write_embeddings).expanduser().resolve() if args.write_embeddings else None
        # Ray writes the shards into a hidden folder beside the target, renamed to it only when the
        # run ends well: a failure or an interrupt midway leaves no half-written folder of shards.
        with staged_folder(write, flag="--write-embeddings") if write else contextlib.nullcontext() as stage:
            run = ray_data.stats_of_texts(
                model,
                corpus_path,
                text_column=args.text_column,
                prompt=options.effective_prompt(model),
                batch_size=options.batch_size,
                backend=options.backend,
                workers=args.workers or 1,
                address=args.ray_address,
                write_embeddings=stage,
            )
        if write is not None and not args.quiet:
            print(f"wrote the embeddings to {write} (column 'embedding', texts in 'text')", file=sys.stderr)
        return stats_result(
            model,
            {view: m.columns() for view, m in run.moments.items()},
            corpus_name=corpus_path.name,
            corpus_hash=ray_data.corpus_fingerprint(corpus_path),
            n_texts=run.n_rows,
            engine="ray",
            backend=options.backend,
        )
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    return get_stats(
        model, corpus, options=options, store=cli_store(), progress=None if args.quiet else Progress("Encoding")
    )


def _stats_of_embeddings(args: argparse.Namespace) -> Any:
    """Vectors given as a file or a folder of Parquet shards: streamed here, or aggregated on Ray."""
    from analysis.pipeline import get_stats, stats_result
    from analysis.vectors import open_vectors

    _check_engine_args(args)
    if args.model is not None or args.corpus is not None:
        raise OptionError("--embeddings gives both the vectors and their rows: drop --model and --corpus.")
    if args.revision is not None:
        raise OptionError("--revision names a hub model's version; --embeddings has no model.")
    if args.write_embeddings is not None:
        raise OptionError("--write-embeddings writes what a model encodes; --embeddings are written already.")
    if args.language_column is not None:
        raise OptionError("--language-column applies to text corpora, not to --embeddings.")
    if args.limit is not None and args.max_texts is not None:
        raise OptionError("--limit and --max-texts both keep the first rows: give one.")
    if args.sample is not None and (args.limit or args.max_texts) is not None:
        raise OptionError("--sample draws rows from the whole source; drop --limit (or --max-texts).")
    if args.seed is not None and args.sample is None:
        raise OptionError("--seed seeds --sample: give --sample N too.")
    for flag, value in (("--limit", args.limit), ("--sample", args.sample)):
        if value is not None and value < 1:
            raise OptionError(f"{flag} must be at least 1, got {value}.")
    source = open_vectors(
        args.embeddings,
        vector_column=args.vector_column,
        text_column=args.text_column,
        label_column=args.label_column,
        max_rows=args.limit if args.limit is not None else args.max_texts,
        sample=args.sample,
        seed=0 if args.seed is None else args.seed,
    )
    if not args.quiet:
        print(f"note: {source.describe()}", file=sys.stderr)
    if args.engine == "ray":
        from analysis.engines import ray_data

        if source.sample is not None:
            raise OptionError("--sample runs on the local engine only; drop --engine ray.")
        run = ray_data.stats_of_shards(source, address=args.ray_address)
        return stats_result(
            source,
            {view: m.columns() for view, m in run.moments.items()},
            corpus_name=source.name,
            corpus_hash=source.corpus_hash,
            n_texts=run.n_rows,
            engine="ray",
        )
    return get_stats(source, None, store=cli_store(), progress=None if args.quiet else Progress("Reading vectors"))


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def _budget_comment(result: StatsResult) -> str:
    """The CSV's summary: ``#`` lines above the header, so ``pandas.read_csv(path, comment="#")``
    (or any reader told to skip ``#`` lines) still gets one row per view and dimension."""
    lines = [
        f"DimScope stats: {_one_line(result.model_name)} on {_one_line(result.corpus_name)}, "
        f"{result.n_texts} texts x {result.dimension} dims; dead_dims={' '.join(map(str, result.dead_dims))}",
        "variance budget of the normalized view, one key=value a line; "
        'read the rows with pandas.read_csv(path, comment="#")',
        *(f"{key}={'' if value != value else value}" for key, value in result.budget.to_dict().items()),
    ]
    return "".join(f"# {line}\n" for line in lines)


def _stats_summary(result: StatsResult) -> str:
    """``stats --format text``: a short human summary, one line of it the variance budget."""
    import numpy as np

    medians = {view: float(np.median(result.columns(view)["std"])) for view in ("raw", "normalized")}
    source = "from the cache" if result.from_cache else "computed"
    dead = ", ".join(map(str, result.dead_dims)) or "none"
    return "\n".join(
        [
            f"{result.model_name} on {result.corpus_name}: {result.n_texts:,} texts x {result.dimension} dims "
            f"({source})",
            f"dead dimensions (normalized std < 1% of the median std): {dead}",
            f"median std: raw {medians['raw']:.4g}, normalized {medians['normalized']:.4g}",
            result.budget.summary_line(),
        ]
    )


def register(sub: Any) -> None:
    """Add models, corpora, embed and stats to the subcommand parsers ``sub``."""
    p = sub.add_parser("models", help="list the model catalog with availability here")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("corpora", help="list the built-in corpora")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("embed", help="compute embeddings into the cache, optionally export them")
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument("--view", choices=["raw", "normalized"], default=None, help="default: raw")
    p.add_argument("--output", "-o", default=None, help="write the matrix to FILE.npy or FILE.parquet")
    p.add_argument(
        "--variant",
        default=None,
        help="store the vectors as a compress variant fitted on this corpus: drop-dead, top-variance-K, prefix-K "
        "or pca-K (Parquet: id, text, label and vector columns, the recipe in the file's metadata)",
    )
    p.add_argument(
        "--precision",
        choices=["float32", "int8", "binary"],
        default="float32",
        help="with --output FILE.parquet: float32 lists, int8 lists (calibrated on this corpus) or packed sign bits",
    )

    p = sub.add_parser("stats", help="per-dimension statistics of both views and dead dimensions")
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument(
        "--format",
        choices=["json", "csv", "parquet", "text"],
        default="json",
        help="json (with the variance budget beside dead_dims), csv (the budget as '#' lines above the rows), "
        "parquet, or text (a short summary)",
    )
    p.add_argument("--output", "-o", default=None, help="file to write (stdout for json/csv/text when omitted)")
    vectors = p.add_argument_group("your own vectors (instead of --model and --corpus)")
    vectors.add_argument(
        "--embeddings",
        default=None,
        metavar="PATH",
        help=".npy, .npz, .parquet or .arrow file, a folder of .parquet shards, or a vector store read without "
        "changing it: lancedb:PATH#TABLE, chroma:PATH#COLLECTION, faiss:FILE, qdrant:PATH#COLLECTION (a "
        "qdrant-client local folder; pip install 'dimscope[stores]'); the vectors as given are the raw view, their "
        "L2 normalization the normalized one (--text-column and --label-column name its other columns; a Chroma "
        "collection's are document, id and its metadata keys, a Qdrant collection's id and its payload keys)",
    )
    vectors.add_argument("--vector-column", default=None, help="the column (or .npz array) holding the vectors")
    vectors.add_argument("--limit", type=int, default=None, metavar="N", help="read only the first N rows")
    vectors.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="read a uniform sample of N rows (seeded; the output names it), for sources too big to read whole",
    )
    vectors.add_argument("--seed", type=int, default=None, metavar="S", help="the seed of --sample (default 0)")
    engine = p.add_argument_group("scale-out")
    engine.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process, cached (default); ray: Ray Data (pip install 'dimscope[ray]'), a local "
        "cluster unless --ray-address is given",
    )
    engine.add_argument("--ray-address", default=None, help="join this Ray cluster (host:6379) instead of a local one")
    engine.add_argument("--workers", type=int, default=None, help="encoder actors on Ray (default 1)")
    engine.add_argument(
        "--write-embeddings",
        default=None,
        metavar="DIR",
        help="with --engine ray: also write the embeddings as Parquet shards into this new or empty folder",
    )


#: Subcommand name -> handler.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "models": _cmd_models,
    "corpora": _cmd_corpora,
    "embed": _cmd_embed,
    "stats": _cmd_stats,
}
