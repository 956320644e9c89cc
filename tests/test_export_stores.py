"""Issue 21: the vector-store settings follow each store's documented limits and the measured rescoring point."""

from __future__ import annotations

from analysis.measures.retrieval import RESCORE_CANDIDATES
from analysis.reports.store_settings import store_settings


def test_pgvector_picks_the_type_its_index_takes_at_each_width():
    assert store_settings(381, "float32", 1.0)["pgvector"]["create_index"] == (
        "CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops);"
    )
    wide = store_settings(3072, "float32", 1.0)["pgvector"]  # above vector's 2,000 indexed dimensions
    assert wide["column"] == "embedding halfvec(3072)" and "halfvec_cosine_ops" in wide["create_index"]
    assert store_settings(5000, "float32", 1.0)["pgvector"]["create_index"] is None  # above halfvec's 4,000
    int8 = store_settings(384, "int8", 0.99)["pgvector"]
    assert int8["column"] == "embedding halfvec(384)" and "no int8 type" in int8["why"]
    binary = store_settings(384, "binary", 0.97)["pgvector"]
    assert "binary_quantize(embedding)::bit(384)) bit_hamming_ops" in binary["create_index"]
    assert f"LIMIT {RESCORE_CANDIDATES}) ORDER BY embedding <=> $1 LIMIT 10" in binary["query"]


def test_qdrant_rescoring_oversamples_to_the_measured_candidates_and_faiss_needs_whole_bytes():
    binary = store_settings(384, "binary", 0.97)
    assert binary["qdrant"]["create_collection"]["quantization_config"] == {"binary": {}}
    assert binary["qdrant"]["search"]["params"]["quantization"] == {
        "rescore": True,
        "oversampling": RESCORE_CANDIDATES / 10,
    }
    assert store_settings(384, "int8", 0.99)["qdrant"]["create_collection"]["quantization_config"] == {
        "scalar": {"type": "int8"}
    }
    assert binary["faiss"]["index"] == 'faiss.index_binary_factory(384, "BFlat")'
    assert store_settings(381, "binary", 0.97)["faiss"]["index"] is None  # 381 bits are not whole bytes
    assert store_settings(381, "int8", 0.99)["faiss"]["index"] == (
        'faiss.index_factory(381, "SQ8", faiss.METRIC_INNER_PRODUCT)'
    )
    assert 'index_type="IVF_SQ"' in store_settings(381, "int8", 0.99)["lancedb"]["create_index"]
    assert binary["measured_retention"] == 0.97 and binary["versions"]["pgvector"] == "0.8.6"
