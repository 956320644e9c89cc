"""``report``: one self-contained HTML report, or a model card's "Dimension health" section."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.cli.common import (
    EXIT_OK,
    Progress,
    add_corpus_args,
    add_model_args,
    check_output_path,
    cli_store,
    encode_options_from_args,
    load_corpus_from_args,
    report_corpus,
    resolve_model_from_args,
    write_text,
)
from analysis.errors import OptionError

if TYPE_CHECKING:
    from analysis.corpora import RetrievalTask

SUFFIXES = {"html": (".html", ".htm"), "markdown": (".md", ".markdown")}


def _register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="a self-contained HTML report (or a model card's Markdown section) of a model on a corpus",
        description="Write what DimScope found about a model on a corpus into one file that needs no server: an "
        "HTML page that opens offline with its charts interactive, or with --format markdown a 'Dimension health' "
        "section for a Hugging Face model card. Results come from the cache when the dashboard or the CLI "
        "computed them before.",
    )
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument(
        "--compare", action="append", default=None, metavar="MODEL", help="also show this model (repeatable)"
    )
    p.add_argument(
        "--task",
        default=None,
        help="a retrieval task for the storage test (What can I drop?): a built-in task such as chatterbot-pairs, "
        "or a file with --query-column and --document-column (default with those columns: the --corpus file)",
    )
    p.add_argument("--query-column", default=None, help="the task file's query column (pairs)")
    p.add_argument(
        "--document-column",
        default=None,
        help="the task file's document column (pairs); also the corpus's text column when none is given",
    )
    p.add_argument("--format", choices=sorted(SUFFIXES), default="html")
    p.add_argument(
        "--output", "-o", default=None, help="file to write (.html, or .md for markdown; markdown prints when omitted)"
    )


def _task(args: argparse.Namespace) -> RetrievalTask | None:
    from analysis.corpora import load_retrieval_task

    columns = args.query_column is not None or args.document_column is not None
    if columns and (args.query_column is None or args.document_column is None):
        raise OptionError("Give both --query-column and --document-column (a query and its document per row).")
    spec = args.task or (args.corpus if columns else None)
    if spec is None:
        return None
    return load_retrieval_task(spec, query_column=args.query_column, document_column=args.document_column)


def _command(args: argparse.Namespace, output: Path | None) -> str:
    from analysis.share.contents import reproduce_command

    return reproduce_command(
        model=args.model or _default_model(),
        corpus=args.corpus or _default_corpus(),
        compare=args.compare or (),
        text_column=args.text_column,
        label_column=args.label_column,
        max_texts=args.max_texts,
        task=args.task,
        query_column=args.query_column,
        document_column=args.document_column,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        prompt=args.prompt,
        backend=args.backend,
        output_format=args.format,
        output=output.name if output is not None else f"report{SUFFIXES[args.format][0]}",
    )


def _default_model() -> str:
    from analysis.models import DEFAULT_MODEL

    return DEFAULT_MODEL


def _default_corpus() -> str:
    from analysis.corpora import DEFAULT_CORPUS

    return DEFAULT_CORPUS


def _run(args: argparse.Namespace) -> int:
    from analysis.models import resolve_model
    from analysis.share.contents import MAX_COMPARED, gather, report_date

    if len(args.compare or ()) > MAX_COMPARED:
        raise OptionError(f"--compare: a report shows at most {MAX_COMPARED} other models; got {len(args.compare)}.")
    output = check_output_path(
        args.output, SUFFIXES[args.format], inputs=(args.corpus, args.task, args.model, *(args.compare or ()))
    )
    if args.format == "html" and output is None and sys.stdout.isatty():
        raise OptionError("An HTML report is one large file: give --output FILE.html (or redirect stdout).")
    command = _command(args, output)  # as the user wrote it, before the defaults below are filled in
    if args.document_column is not None and args.text_column is None and args.task is None:
        args.text_column = args.document_column  # the statistics describe the documents a task retrieves
    options = encode_options_from_args(args)
    task = _task(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    compare = [resolve_model(name, allow_trust_remote_code=args.trust_remote_code) for name in args.compare or ()]
    report_corpus(corpus, args.quiet)
    report = gather(
        model,
        corpus,
        command=command,
        compare=compare,
        task=task,
        options=options,
        store=cli_store(),
        progress=None if args.quiet else Progress("Encoding"),
    )
    date = report_date()
    if args.format == "markdown":
        from analysis.share.markdown import model_card

        write_text(model_card(report, date=date), output)
        return EXIT_OK
    from analysis.share.html import html_report

    write_text(html_report(report, date=date), output)
    return EXIT_OK


def register(sub: Any) -> None:
    """Add report to the subcommand parsers ``sub``."""
    _register(sub)


#: Subcommand name -> handler.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"report": _run}
