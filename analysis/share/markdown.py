"""The "Dimension health" section of a Hugging Face model card: plain Markdown, one table, no images.

It is written to be pasted into a model card and read out of context, so it names what it measured
(the model's fingerprint, the corpus and its hash, DimScope's version) and states the dead rule.
Every name a user supplied is shown as a code span (:func:`code_span`): verbatim, so a name reads
as written in the raw file too (``all-MiniLM-L6-v2``, not ``all\-MiniLM\-L6\-v2``), and nothing
in it can act as Markdown or HTML.
"""

from __future__ import annotations

import re

import numpy as np

from analysis.measures import stats as stats_module
from analysis.share.contents import ShareReport, dimscope_version

#: The storage variants a model card lists, in this order, when a task was given.
CARD_VARIANTS = ("float32", "int8", "binary", "drop-dead")


def code_span(text: str) -> str:
    """``text`` as a Markdown code span, shown verbatim: fenced by one more backtick than its
    longest run, on one line. Nothing in it needs escaping: ``<``, ``&``, ``*``, ``[``, ``|`` (in a
    paragraph) and ``\\`` are all literal in a code span. Not for table cells, where GFM splits on
    ``|`` before it reads code spans.

    >>> code_span("sentence-transformers/all-MiniLM-L6-v2")
    '`sentence-transformers/all-MiniLM-L6-v2`'
    >>> code_span("a `b` c")
    '`` a `b` c ``'
    """
    text = " ".join(text.splitlines()) or " "  # a blank line would end the span (and the paragraph)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A code span drops one space at each end when both are there: pad whatever starts or ends in a
    # backtick or a space, so the padding is what is dropped.
    pad = " " if longest or text[0] == " " or text[-1] == " " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _dims(dims: list[int]) -> str:
    return ", ".join(str(int(d)) for d in dims) or "none"


def model_card(report: ShareReport, *, date: str) -> str:
    """The section as Markdown text, ending in a newline; ``date`` is its one varying line."""
    r = report.result
    b = r.budget
    threshold = stats_module.DEAD_RELATIVE_THRESHOLD
    medians = {view: float(np.median(r.columns(view)["std"])) for view in ("raw", "normalized")}
    rows = [
        ("Dimensions", f"{r.dimension:,}"),
        (
            "Dead dimensions",
            f"{len(r.dead_dims)}: {_dims(r.dead_dims)}" if r.dead_dims else "none",
        ),
        ("Dead rule", f"normalized std below {threshold:.0%} of the median std"),
        ("Median std (normalized)", f"{medians['normalized']:.4g}"),
        ("Median std (raw, before Normalize)", f"{medians['raw']:.4g}"),
        ("‖μ‖² (squared norm of the mean normalized vector)", f"{b.mean_norm_sq:.4f}"),
        ("Mean cosine between two texts", f"{b.mean_cosine:.4f}"),
        ("Effective dimensions (participation ratio)", f"{b.effective_dims:.1f} of {b.dimension:,}"),
    ]
    if r.constant_dims:
        rows.insert(2, ("Constant in the raw view", _dims(r.constant_dims)))
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    lines = [
        "## Dimension health",
        "",
        f"Measured by DimScope {dimscope_version()}: model {code_span(r.model_name)} (fingerprint "
        f"`{r.fingerprint}`) on the corpus {code_span(r.corpus_name)} ({r.n_texts:,} texts, hash `{r.corpus_hash}`), "
        f"encoded with {code_span(r.backend)}.",
        "",
        f"Date: {date}.",
        "",
        "| Measure | Value |",
        "| --- | --- |",
        table,
    ]
    if report.compress is not None:
        c = report.compress
        present = {v.name: v for v in c.variants}
        variants = [present[name] for name in CARD_VARIANTS if name in present]
        lines += [
            "",
            f"Retrieval on {code_span(c.task)} ({c.n_queries:,} queries, {c.n_documents:,} documents): "
            "retention = nDCG@10 of the stored variant / nDCG@10 of float32.",
            "",
            "| Storage | Bytes per vector | nDCG@10 | Retention |",
            "| --- | ---: | ---: | ---: |",
            *(
                f"| {v.name} | {v.bytes_per_vector:,} | {v.ndcg_at_10:.3f} | "
                f"{'n/a' if v.retention is None else f'{v.retention:.1%}'} |"
                for v in variants
            ),
        ]
    lines += [
        "",
        f"Rebuild it: {code_span(report.command)}",
    ]
    return "\n".join(lines) + "\n"
