"""``compress --write qdrant:FOLDER#COLLECTION``: a point written into a Qdrant Edge shard (Qdrant's own engine,
embedded) and searched there, quantized by Qdrant itself.

float32 is exact, so measured equals predicted equals a numpy ranking. int8 and binary are checked to be
what the store did: its scores without rescoring are not the float cosines (int8) or are whole numbers of
matching bits (binary), so no figure is a float search reported as a quantized one.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import OptionError
from analysis.export.qdrant_sink import search_qdrant, shard_path, write_qdrant
from analysis.export.store_check import check_in_store
from analysis.export.store_sinks import check_sink, parse_sink
from analysis.pipeline.cache import default_store
from tests.test_store_sinks import INT8_TOLERANCE, TIE_TOLERANCE, brute_force_recall_at_10, digest, task  # noqa: F401


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def scores(spec, q: np.ndarray, **quantization) -> list[float]:
    import qdrant_edge as edge

    shard = edge.EdgeShard.load(str(shard_path(spec)))
    try:
        params = edge.SearchParams(quantization=edge.QuantizationSearchParams(**quantization))
        found = shard.query(edge.QueryRequest(limit=10, query=edge.Query.Nearest(q.tolist()), params=params))
        return [float(p.score) for p in found]
    finally:
        shard.close()


@pytest.mark.slow  # encodes 300 texts, then four shards
def test_each_precision_is_measured_in_qdrant_as_predicted(minilm, task, tmp_path):  # noqa: F811
    expected = brute_force_recall_at_10(minilm, task)
    exact = check_in_store(
        minilm, task, parse_sink(f"qdrant:{tmp_path}#f32"), variant=None, precision="float32", replace=False,
        store=default_store(),
    )  # fmt: skip
    assert exact["recall_at_10"]["measured"] == exact["recall_at_10"]["predicted"] == pytest.approx(expected)
    assert exact["mrr_at_10"]["measured"] == pytest.approx(exact["mrr_at_10"]["predicted"], abs=1e-12)
    assert exact["settings"]["exact"] is True and "quantization_config=None" in exact["settings"]["config"]
    for precision in ("int8", "binary", "binary-rescore"):
        result = check_in_store(
            minilm, task, parse_sink(f"qdrant:{tmp_path}#{precision}"), variant="top-variance-128",
            precision=precision, replace=False, store=default_store(),
        )  # fmt: skip
        assert result["store"] == "qdrant" and result["dimensions"] == 128
        recall, mrr = result["recall_at_10"], result["mrr_at_10"]
        if precision == "int8":
            assert abs(recall["measured"] - recall["predicted"]) <= INT8_TOLERANCE, result
            assert abs(mrr["measured"] - mrr["predicted"]) <= INT8_TOLERANCE, result
            assert any("ONE range for all dimensions" in note for note in result["notes"])
        elif precision == "binary":
            assert abs(recall["measured"] - recall["predicted"]) <= TIE_TOLERANCE, result
        else:
            assert recall["measured"] >= recall["predicted"] - TIE_TOLERANCE, result
            assert "oversampling=4" in result["settings"]["search"]


def test_the_shard_searches_its_quantized_vectors(tmp_path):
    documents, queries = unit(500, 32), unit(20, 32, seed=1)
    texts = [f"t{i}" for i in range(500)]
    for precision in ("int8", "binary"):
        spec = parse_sink(f"qdrant:{tmp_path}#{precision}")
        write_qdrant(spec, documents, texts, None, precision, replace=False)
        for q in queries[:5]:
            quantized = scores(spec, q, rescore=False)
            floats = np.sort(documents @ q)[::-1][:10]
            if precision == "int8":  # close to the cosines, but not them: the 8-bit codes were scored
                assert np.allclose(quantized, floats, atol=0.05) and not np.allclose(quantized, floats, atol=1e-6)
            else:  # whole numbers of matching bits
                assert all(s == int(s) for s in quantized) and max(quantized) > 1
            assert np.allclose(scores(spec, q, ignore=True), floats, atol=1e-5)  # the float vectors are kept too
        searched = search_qdrant(spec, queries, precision, [-1] * len(queries))
        assert all(len(ids) == 10 for ids in searched.ids)


def test_an_existing_collection_is_never_overwritten_without_replace(tmp_path):
    documents, texts = unit(50, 8), [f"t{i}" for i in range(50)]
    spec = parse_sink(f"qdrant:{tmp_path}#docs")
    write_qdrant(spec, documents, texts, None, "float32", replace=False)
    before = digest(tmp_path)
    with pytest.raises(OptionError, match="the collection exists; add --replace"):
        check_sink(spec, "float32", replace=False)
    with pytest.raises(OptionError, match="the collection exists; add --replace"):
        write_qdrant(spec, unit(50, 8, seed=3), texts, None, "float32", replace=False)
    assert digest(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["docs"]


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path):
    documents, texts = unit(50, 8), [f"t{i}" for i in range(50)]
    spec = parse_sink(f"qdrant:{tmp_path}#docs")
    write_qdrant(spec, documents, texts, None, "float32", replace=False)
    before = digest(tmp_path)
    # Fewer texts than documents: the write fails in its second batch, after 1,024 points went into the shard.
    many = unit(2000, 8, seed=4)
    for target, replace in (("docs", True), ("new", False)):
        with pytest.raises(IndexError):
            write_qdrant(parse_sink(f"qdrant:{tmp_path}#{target}"), many, texts * 30, None, "int8", replace)
        assert digest(tmp_path) == before, target
        assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]  # no temporary shard left behind
    write_qdrant(spec, many, texts * 40, ["a"] * 2000, "int8", replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]  # the old shard set aside is gone
    found = search_qdrant(spec, many[:3], "int8", [-1, -1, -1])
    assert [ids[0] for ids in found.ids] == [0, 1, 2]  # the new documents, each its own nearest


@pytest.mark.parametrize(
    ("form", "fragment"),
    [
        ("qdrant:{tmp}", "write it as qdrant:FOLDER#COLLECTION"),
        ("qdrant:{tmp}#..", "a table or collection name holds letters"),
        ("qdrant:{tmp}#a/b", "a table or collection name holds letters"),
        ("qdrant:{tmp}/missing/deeper#c", "does not exist"),
        ("milvus:{tmp}#c", "qdrant:FOLDER#COLLECTION"),
    ],
)
def test_a_bad_qdrant_target_is_one_clear_error(tmp_path, form, fragment):
    with pytest.raises(OptionError, match=fragment):
        parse_sink(form.format(tmp=tmp_path))
