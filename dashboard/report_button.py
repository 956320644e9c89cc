"""The "Download report" button: the page's selection as one self-contained HTML file.

One function, called with one line from Overview, Explore, Compare and What can I drop?. The
report is built in memory when the button is clicked (Streamlit runs ``data`` then, on its own
thread) from results the page already holds; they were computed through ``store_for``, so in public
mode the report of an upload reads this session's memory and is never written to the shared disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import streamlit as st

from analysis.pipeline.encode_options import GIVEN
from analysis.share.contents import ShareReport, report_date, reproduce_command
from analysis.share.html import html_bytes
from dashboard import kit
from dashboard.compute import load_stats, pending_reason

if TYPE_CHECKING:
    from analysis.pipeline import StatsResult
    from analysis.reports.compress import CompressReport
    from dashboard.sidebar import Context


def _command(
    ctx: Context, result: StatsResult, compared: Mapping[str, StatsResult], task: str | None, output: str
) -> str:
    """The CLI line that rebuilds this report (an upload is named by its file name: the user has the file)."""
    if ctx.vectors is not None:
        return (
            f"# Built in the DimScope dashboard from the uploaded embeddings {ctx.vectors.name}; the report "
            "command takes a model and a corpus: python -m analysis report --help"
        )
    source = ctx.corpus.source
    corpus = source.removeprefix("builtin:") if source.startswith("builtin:") else ctx.corpus.name
    model = next((name for name, r in compared.items() if r is result), ctx.model)
    return reproduce_command(
        model=model,
        corpus=corpus,
        # Uploaded embeddings compared beside models have no model to name: the line leaves them out.
        compare=[name for name, r in compared.items() if r is not result and r.backend != GIVEN],
        task=corpus if task == "corpus" else task,  # the sidebar corpus's own pairs or labels
        trust_remote_code=ctx.trust_remote_code,
        output=output,
    )


def report_button(
    ctx: Context,
    result: StatsResult | None = None,
    *,
    compared: Mapping[str, StatsResult] | None = None,
    compress: CompressReport | None = None,
    task: str | None = None,
    key: str,
) -> None:
    """A "Download report" button for ``result`` (default: the sidebar model on the sidebar corpus,
    when that needs no long work), beside the ``compared`` models (which may include ``result``) and
    with the ``compress`` storage test of ``task`` (a built-in task's name, or "corpus")."""
    if result is None:
        if pending_reason(ctx.model, ctx.corpus, trust=ctx.trust_remote_code) is not None:
            st.caption("The report needs this model's statistics on the sidebar corpus: open Overview to compute them.")
            return
        result = load_stats(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    others = dict(compared or {})
    file_name = kit.file_name(result.model_name, result.corpus_name, "report", "html")
    report = ShareReport(
        result=result,
        command=_command(ctx, result, others, task, file_name),
        compared={name: r for name, r in others.items() if r is not result},
        compress=compress,
    )
    kit.download(
        "Download report",
        lambda: html_bytes(report, date=report_date()),
        model=result.model_name,
        subject=result.corpus_name,
        what="report",
        ext="html",
        mime="text/html",
        icon=":material/description:",
        key=key,
        help="One HTML file (about 3 MB) that opens in any browser with no network and no server: the charts "
        "(interactive), the dead dimensions, the statistics table and the command that rebuilds it.",
    )
