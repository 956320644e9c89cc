"""What a shared report holds, gathered from cached results, and the command that rebuilds it."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analysis.errors import OptionError

if TYPE_CHECKING:
    from analysis.corpora import Corpus, RetrievalTask
    from analysis.encoding import ProgressCallback
    from analysis.models import ResolvedModel
    from analysis.pipeline import EncodeOptions, StatsResult
    from analysis.pipeline.cache import EmbeddingStore
    from analysis.reports.compress import CompressReport

#: Models a report may compare with its own (the dashboard's Compare page allows as many).
MAX_COMPARED = 7


@dataclass(frozen=True)
class ShareReport:
    """The results one report shows: ``result`` (the subject), ``compared`` (other models on the
    same corpus, by display name), ``compress`` (the storage test, when a task was given) and
    ``command``, the CLI line that rebuilds the report."""

    result: StatsResult
    command: str
    compared: Mapping[str, StatsResult] = field(default_factory=dict)
    compress: CompressReport | None = None

    @property
    def models(self) -> dict[str, StatsResult]:
        """Every model shown, the subject first (names made unique: a model compared with itself is listed once)."""
        out = {self.result.model_name: self.result}
        for name, result in self.compared.items():
            out.setdefault(name, result)
        return out


def dimscope_version() -> str:
    """The version a report names (``analysis.__version__``, defined in the base's settings)."""
    from analysis.settings import VERSION

    return VERSION


def report_date(now: dt.datetime | None = None) -> str:
    """The report's one varying line: ``2026-12-07 05:41 UTC``."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def reproduce_command(
    *,
    model: str,
    corpus: str,
    compare: Sequence[str] = (),
    text_column: str | None = None,
    label_column: str | None = None,
    max_texts: int | None = None,
    task: str | None = None,
    query_column: str | None = None,
    document_column: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    prompt: str | None = None,
    backend: str | None = None,
    output_format: str = "html",
    output: str = "report.html",
) -> str:
    """The ``python -m analysis report ...`` line that rebuilds a report, quoted for a POSIX shell.

    Only what differs from the defaults is written, in one fixed order, so that the same request
    always gives the same line (the report's bytes depend on it)."""
    words = ["python", "-m", "analysis", "report", "--model", model]
    optional: list[tuple[str, str | int | None]] = [
        ("--revision", revision),
        ("--corpus", corpus),
        ("--text-column", text_column),
        ("--label-column", label_column),
        ("--max-texts", max_texts),
        *[("--compare", name) for name in compare],
        ("--task", task),
        ("--query-column", query_column),
        ("--document-column", document_column),
        ("--prompt", prompt),
        ("--backend", backend),
    ]
    for flag, value in optional:
        if value is not None:
            words += [flag, str(value)]
    if trust_remote_code:
        words.append("--trust-remote-code")
    if output_format != "html":
        words += ["--format", output_format]
    words += ["-o", output]
    return shlex.join(words)


def gather(
    model: str | ResolvedModel,
    corpus: Corpus,
    *,
    command: str,
    compare: Sequence[str | ResolvedModel] = (),
    task: RetrievalTask | None = None,
    options: EncodeOptions,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> ShareReport:
    """The statistics of ``model`` (and of each ``compare`` model) on ``corpus``, and with ``task``
    the storage test, each read from ``store`` when it is cached there and computed (and cached) otherwise."""
    from analysis.pipeline import get_stats
    from analysis.reports.compress import compress_report

    if len(compare) > MAX_COMPARED:
        raise OptionError(f"A report compares at most {MAX_COMPARED} models with its own; got {len(compare)}.")
    result = get_stats(model, corpus, options=options, store=store, progress=progress)
    compared: dict[str, StatsResult] = {}
    for other in compare:
        stats = get_stats(other, corpus, options=options, store=store, progress=progress)
        compared.setdefault(stats.model_name, stats)
    scored = None
    if task is not None:
        scored = compress_report(model, task, options=options, store=store, progress=progress)
    return ShareReport(result=result, command=command, compared=compared, compress=scored)
