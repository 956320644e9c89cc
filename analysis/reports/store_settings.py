"""Settings for the vector store a user runs, at the point DimScope measured.

For k stored dimensions (unit vectors, compared by cosine) and each precision, the exact syntax of
four stores, each checked against the project's own documentation or source at the version named:

* pgvector 0.8.6 (README and sql/vector.sql): ``vector(k)`` with ``vector_cosine_ops`` up to 2,000
  indexed dimensions, ``halfvec`` expression indexes up to 4,000, ``binary_quantize(...)::bit(k)``
  with ``bit_hamming_ops`` up to 64,000, and the README's re-rank query for binary;
* Qdrant 1.19.0 (docs/redoc/master/openapi.json): ``vectors`` with ``distance: "Cosine"``,
  ``quantization_config`` ``{"scalar": {"type": "int8"}}`` (no ``quantile``: the whole range, as
  DimScope calibrates) or ``{"binary": {}}``, and search ``params.quantization`` with ``rescore``
  and ``oversampling``;
* LanceDB Python 0.38 (python/python/lancedb/table.py, types.py): ``create_index(metric=...,
  index_type=...)`` with ``IVF_FLAT``, ``IVF_SQ``, and the ``"hamming"`` metric for binary vectors;
* FAISS 1.15.0 (faiss/index_factory.cpp): ``index_factory(k, "Flat" | "SQ8",
  faiss.METRIC_INNER_PRODUCT)`` and ``index_binary_factory(k, "BFlat")``.

The FAISS, LanceDB and Qdrant settings were also run once as written (faiss-cpu 1.15.1, lancedb 0.40.0,
qdrant-client 1.20.0's models; none is a DimScope dependency). pgvector has no int8 type: int8 maps to
its nearest, ``halfvec`` (2 bytes per dimension), and says so.
"""

from __future__ import annotations

from typing import Any

from analysis.measures.retrieval import RESCORE_CANDIDATES

VERSIONS = {"pgvector": "0.8.6", "qdrant": "1.19.0", "lancedb": "0.38 (Python)", "faiss": "1.15.0"}
PGVECTOR_VECTOR_INDEX_MAX, PGVECTOR_HALFVEC_INDEX_MAX, PGVECTOR_BIT_INDEX_MAX = 2000, 4000, 64000
TOP_K = 10  # the rank the rescoring point was measured at (recall@10, nDCG@10)


def _pgvector(k: int, precision: str) -> dict[str, Any]:
    if precision == "binary":
        bits = f"binary_quantize(embedding)::bit({k})"
        return {
            "column": f"embedding vector({k})",
            "create_index": f"CREATE INDEX ON items USING hnsw (({bits}) bit_hamming_ops);",
            "query": f"SELECT * FROM (SELECT * FROM items ORDER BY {bits} <~> binary_quantize($1) "
            f"LIMIT {RESCORE_CANDIDATES}) ORDER BY embedding <=> $1 LIMIT {TOP_K};",
            "why": f"bit({k}) indexes sign bits (up to {PGVECTOR_BIT_INDEX_MAX:,} dimensions); the full vectors stay "
            f"in the table so the top {RESCORE_CANDIDATES} by Hamming distance are re-ranked by cosine, the "
            "rescoring DimScope measured. Without the re-rank you get the plain binary figure.",
        }
    if precision == "int8" or k > PGVECTOR_VECTOR_INDEX_MAX:
        reason = (
            "pgvector has no int8 type; halfvec (2 bytes per dimension) is its nearest smaller one"
            if precision == "int8"
            else f"vector indexes stop at {PGVECTOR_VECTOR_INDEX_MAX:,} dimensions, halfvec at "
            f"{PGVECTOR_HALFVEC_INDEX_MAX:,}"
        )
        if k > PGVECTOR_HALFVEC_INDEX_MAX:
            return {
                "column": f"embedding vector({k})",
                "create_index": None,
                "why": reason + "; above that only binary quantization (up to 64,000) or fewer dimensions index.",
            }
        return {
            "column": f"embedding halfvec({k})",
            "create_index": "CREATE INDEX ON items USING hnsw (embedding halfvec_cosine_ops);",
            "query": f"SELECT * FROM items ORDER BY embedding <=> $1::halfvec({k}) LIMIT {TOP_K};",
            "why": reason + ".",
        }
    return {
        "column": f"embedding vector({k})",
        "create_index": "CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops);",
        "query": f"SELECT * FROM items ORDER BY embedding <=> $1 LIMIT {TOP_K};",
        "why": f"{k} dimensions index as vector (up to {PGVECTOR_VECTOR_INDEX_MAX:,}); cosine on the unit vectors.",
    }


def _qdrant(k: int, precision: str) -> dict[str, Any]:
    collection: dict[str, Any] = {"vectors": {"size": k, "distance": "Cosine"}}
    search: dict[str, Any] = {}
    if precision == "int8":
        collection["quantization_config"] = {"scalar": {"type": "int8"}}
        search = {"params": {"quantization": {"rescore": False}}}
        why = (
            "int8 over each dimension's whole range (no quantile), as DimScope calibrated it; rescore off "
            "reproduces the measured int8 figure (on can only help)."
        )
    elif precision == "binary":
        collection["quantization_config"] = {"binary": {}}
        search = {"params": {"quantization": {"rescore": True, "oversampling": RESCORE_CANDIDATES / TOP_K}}}
        why = (
            f"sign bits, then the top {RESCORE_CANDIDATES} for a top {TOP_K} ({RESCORE_CANDIDATES / TOP_K:g}x "
            "oversampling) re-scored with the original vectors: the rescoring point DimScope measured."
        )
    else:
        why = "float32 unit vectors, cosine: the float32 figure."
    return {"create_collection": collection, "search": search, "why": why}


def _lancedb(k: int, precision: str) -> dict[str, Any]:
    if precision == "binary":
        return {
            "create_index": 'table.create_index(metric="hamming", index_type="IVF_FLAT")',
            "why": f"the packed sign bits as a fixed-size list of {-(-k // 8)} uint8, searched by Hamming distance; "
            f"re-rank the top {RESCORE_CANDIDATES} by cosine on the float vectors for the rescoring figure.",
        }
    index_type = "IVF_SQ" if precision == "int8" else "IVF_FLAT"
    return {
        "create_index": f'table.create_index(metric="cosine", index_type="{index_type}")',
        "why": "IVF_SQ: 8-bit scalar quantization with one range for all dimensions (DimScope's int8 has one per "
        "dimension; compress --write measures the difference)."
        if precision == "int8"
        else "IVF_FLAT keeps the float32 vectors (no quantization) in IVF partitions.",
    }


def _faiss(k: int, precision: str) -> dict[str, Any]:
    if precision == "binary":
        ok = k % 8 == 0
        return {
            "index": f'faiss.index_binary_factory({k}, "BFlat")' if ok else None,
            "why": f"exact Hamming search over {k} packed sign bits; re-rank the top {RESCORE_CANDIDATES} by cosine on "
            "the float vectors for the rescoring figure."
            if ok
            else f"FAISS binary indexes need a multiple of 8 bits; {k} is not. Keep {k - k % 8} or {k + 8 - k % 8}.",
        }
    key = "SQ8" if precision == "int8" else "Flat"
    return {
        "index": f'faiss.index_factory({k}, "{key}", faiss.METRIC_INNER_PRODUCT)',
        "why": "inner product of unit vectors is their cosine; "
        + (
            "SQ8 trains each dimension's min and max (RS_minmax), the int8 rule DimScope measured."
            if key == "SQ8"
            else "Flat is exact float32 search."
        ),
    }


def store_settings(k: int, precision: str, retention: float | None) -> dict[str, Any]:
    """The four stores' settings for ``k`` kept dimensions at ``precision`` (float32, int8, binary),
    with the ``retention`` DimScope measured at that point."""
    return {
        "dimensions": k,
        "precision": precision,
        "measured_retention": retention,
        "versions": dict(VERSIONS),
        "pgvector": _pgvector(k, precision),
        "qdrant": _qdrant(k, precision),
        "lancedb": _lancedb(k, precision),
        "faiss": _faiss(k, precision),
    }
