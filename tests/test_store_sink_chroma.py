"""Issue 22, Chroma as a sink: ``compress --write chroma:FOLDER#COLLECTION`` through the real chromadb, on tmp folders.

all-MiniLM-L6-v2 (packaged, offline) on the same 150 chatterbot pairs as tests/test_store_sinks.py
(its ``task`` fixture and brute-force ranking are reused). Chroma searches an HNSW graph, so the
measured figures are held to a stated tolerance of the exact prediction (on 150 documents the graph
finds the exact top 10, and they come out equal); the vectors it keeps are compared with the
variant's computed in numpy, the write is refused for int8/binary, and a write that fails midway
(a real NaN refused by Chroma in a later batch, an interrupt, a failed rename) leaves every
collection's contents as they were.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.errors import OptionError
from analysis.export.chroma_sink import write_chroma
from analysis.export.store_check import check_in_store
from analysis.export.store_sinks import parse_sink
from analysis.pipeline.cache import default_store
from tests.helpers import assert_bad_input, run_cli
from tests.test_store_sinks import brute_force_recall_at_10, labelled_task
from tests.test_store_sinks import task as task  # noqa: F401 - the 150-pair fixture, shared

# HNSW (M 16, search_ef 100) against the exact ranking: at most 2 of the 150 queries may lose a relevant
# document from the top 10 (or see it move within it). On these 150 documents it loses none.
HNSW_TOLERANCE = 2 / 150


def client(folder):
    import chromadb
    from chromadb.config import Settings

    # The settings the sink uses: Chroma keeps one client per folder per process and refuses other settings.
    return chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False, allow_reset=False))


def contents(folder) -> dict:
    """Every collection of the folder: its ids, vectors, documents and metadata, in id order."""
    out = {}
    db = client(folder)
    for collection in db.list_collections():
        got = db.get_collection(collection.name, embedding_function=None).get(
            include=["embeddings", "documents", "metadatas"]
        )
        order = np.argsort(got["ids"])
        out[collection.name] = {
            "ids": [got["ids"][i] for i in order],
            "vectors": np.asarray(got["embeddings"])[order].tolist(),
            "documents": [got["documents"][i] for i in order],
            "metadatas": [got["metadatas"][i] for i in order],
        }
    return out


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.slow
def test_float32_in_chroma_measures_the_prediction_within_hnsw_tolerance(minilm, task, tmp_path):  # noqa: F811
    expected = brute_force_recall_at_10(minilm, task)
    result = check_in_store(
        minilm,
        task,
        parse_sink(f"chroma:{tmp_path / 'chroma'}#chat"),
        variant=None,
        precision="float32",
        replace=False,
        store=default_store(),
    )
    recall, mrr = result["recall_at_10"], result["mrr_at_10"]
    assert recall["predicted"] == pytest.approx(expected)  # the prediction is the exact ranking
    assert abs(recall["measured"] - recall["predicted"]) <= HNSW_TOLERANCE, result
    assert abs(mrr["measured"] - mrr["predicted"]) <= HNSW_TOLERANCE, result
    assert result["store"] == "chroma" and result["n_queries"] == len(task.relevant) == 150
    assert result["latency"]["predicted"] is None and result["latency"]["measured"]["median_ms"] > 0
    settings = result["settings"]
    assert (settings["space"], settings["M"], settings["construction_ef"], settings["search_ef"]) == (
        "ip",
        16,
        100,
        100,
    )
    assert settings["configuration"]["hnsw"]["space"] == "ip" and settings["exact"] is False
    assert any("HNSW" in note for note in result["notes"])
    differs = recall["measured"] != recall["predicted"] or mrr["measured"] != mrr["predicted"]
    assert differs == any("Measured differs" in note for note in result["notes"])
    # The collection Chroma holds: every document, in row order, under the name asked for, and nothing else.
    stored = contents(tmp_path / "chroma")
    assert list(stored) == ["chat"]
    by_row = sorted(range(len(task.documents)), key=str)  # Chroma's ids are strings, sorted as strings here
    assert stored["chat"]["ids"] == [str(i) for i in by_row]
    assert stored["chat"]["documents"] == [task.documents.texts[i] for i in by_row]


@pytest.mark.slow
def test_stored_vectors_are_the_variants_and_labels_are_metadata(minilm, tmp_path):
    """A labelled corpus (every text queries the others, its own document left out), at prefix-64."""
    from analysis.reports.compress import task_embeddings

    labelled = labelled_task(tmp_path)
    result = check_in_store(
        minilm,
        labelled,
        parse_sink(f"chroma:{tmp_path / 'chroma'}#labels"),
        variant="prefix-64",
        precision="float32",
        replace=False,
        store=default_store(),
    )
    assert result["dimensions"] == 64
    assert abs(result["recall_at_10"]["measured"] - result["recall_at_10"]["predicted"]) <= HNSW_TOLERANCE
    assert abs(result["mrr_at_10"]["measured"] - result["mrr_at_10"]["predicted"]) <= HNSW_TOLERANCE
    _, documents = task_embeddings(minilm, labelled, store=default_store())
    expected = unit(documents.astype(np.float64)[:, :64])  # prefix-64: the first 64 dimensions, rows to unit length
    got = (
        client(tmp_path / "chroma")
        .get_collection("labels", embedding_function=None)
        .get(include=["embeddings", "metadatas"])
    )
    rows = np.array([int(i) for i in got["ids"]])
    assert sorted(rows.tolist()) == list(range(120))
    np.testing.assert_allclose(np.asarray(got["embeddings"]), expected[rows], atol=1e-6, rtol=0)
    assert [m["label"] for m in got["metadatas"]] == [str(labelled.labels[i]) for i in rows]


def test_int8_and_binary_are_refused_with_one_line_before_any_work(tmp_path):
    base = ("compress", "--model", "all-MiniLM-L6-v2", "--quiet", "--write", f"chroma:{tmp_path / 'c'}#docs")
    for precision in ("int8", "binary", "binary-rescore"):
        assert_bad_input(
            run_cli(*base, "--precision", precision),
            "Chroma stores float32",
            "lancedb:FOLDER#TABLE",
            "faiss:FILE",
            "qdrant:FOLDER#COLLECTION",
        )
    assert not (tmp_path / "c").exists()  # nothing was created, not even the folder


def test_bad_chroma_targets_exit_2_with_one_line(tmp_path):
    x = unit(np.random.default_rng(0).normal(size=(5, 4))).astype(np.float32)
    write_chroma(parse_sink(f"chroma:{tmp_path / 'c'}#taken"), x, list("abcde"), None, "float32", False)
    before = contents(tmp_path / "c")
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "not-chroma").mkdir()
    (tmp_path / "not-chroma" / "notes.txt").write_text("mine")
    base = ("compress", "--model", "all-MiniLM-L6-v2", "--quiet", "--write")
    assert_bad_input(run_cli(*base, f"chroma:{tmp_path / 'c'}#taken"), "collection exists", "--replace")
    for name in ("ab", "-abc", "a..b", "10.0.0.1", "with space", "ünï"):
        assert_bad_input(run_cli(*base, f"chroma:{tmp_path / 'c'}#{name}"), "Chroma collection name has 3 to 512")
    assert_bad_input(run_cli(*base, f"chroma:{tmp_path / 'c'}"), "chroma:FOLDER#COLLECTION")
    assert_bad_input(run_cli(*base, f"chroma:{tmp_path / 'no' / 'c'}#docs"), "does not exist")
    assert_bad_input(run_cli(*base, f"chroma:{tmp_path / 'a-file'}#docs"), "names a folder")
    assert_bad_input(run_cli(*base, f"chroma:{tmp_path / 'not-chroma'}#docs"), "not a Chroma folder")
    assert contents(tmp_path / "c") == before
    assert sorted(p.name for p in (tmp_path / "not-chroma").iterdir()) == ["notes.txt"]


def test_an_existing_collection_is_kept_without_replace_and_replaced_whole_with_it(tmp_path):
    rng = np.random.default_rng(1)
    old, new = (unit(rng.normal(size=(n, 8))).astype(np.float32) for n in (20, 30))
    target = parse_sink(f"chroma:{tmp_path / 'c'}#docs")
    write_chroma(target, old, [f"old{i}" for i in range(20)], ["a"] * 20, "float32", False)
    before = contents(tmp_path / "c")
    with pytest.raises(OptionError, match="collection exists; add --replace"):
        write_chroma(target, new, [f"new{i}" for i in range(30)], None, "float32", False)
    assert contents(tmp_path / "c") == before
    settings = write_chroma(target, new, [f"new{i}" for i in range(30)], None, "float32", True, batch_rows=7)
    after = contents(tmp_path / "c")
    assert list(after) == ["docs"] and settings["add_batch_rows"] == 7  # no temporary or set-aside collection left
    by_row = sorted(range(30), key=str)
    assert after["docs"]["ids"] == [str(i) for i in by_row]
    np.testing.assert_array_equal(np.asarray(after["docs"]["vectors"], dtype=np.float32), new[by_row])
    assert after["docs"]["documents"] == [f"new{i}" for i in by_row]


def test_a_write_that_fails_midway_leaves_every_collection_as_it_was(tmp_path, monkeypatch):
    from chromadb.api.models.Collection import Collection

    rng = np.random.default_rng(2)
    old = unit(rng.normal(size=(20, 8))).astype(np.float32)
    write_chroma(parse_sink(f"chroma:{tmp_path / 'c'}#t01"), old, [f"o{i}" for i in range(20)], None, "float32", False)
    before = contents(tmp_path / "c")
    bad = unit(rng.normal(size=(30, 8))).astype(np.float32)
    bad[25, 3] = np.nan  # Chroma refuses NaN: the third batch of 10 fails after two were added
    texts = [f"n{i}" for i in range(30)]
    for name, replace in (("t01", True), ("new", False)):
        with pytest.raises(OptionError, match="Chroma refused the write.*NaN.*as they were"):
            write_chroma(
                parse_sink(f"chroma:{tmp_path / 'c'}#{name}"), bad, texts, None, "float32", replace, batch_rows=10
            )
        assert contents(tmp_path / "c") == before, name

    good = np.nan_to_num(bad)
    real_add, real_modify = Collection.add, Collection.modify
    calls = []

    def interrupted_add(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # not Chroma's error: passed on as it is, after the cleanup
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "add", interrupted_add)
    with pytest.raises(KeyboardInterrupt):
        write_chroma(parse_sink(f"chroma:{tmp_path / 'c'}#t01"), good, texts, None, "float32", True, batch_rows=10)
    assert len(calls) == 2 and contents(tmp_path / "c") == before
    monkeypatch.setattr(Collection, "add", real_add)

    def failing_rename(self, name=None, **kwargs):
        if name == "t01" and self.name.startswith("dimscope-writing-"):
            raise OSError("disk full")  # the complete new collection cannot take the name
        return real_modify(self, name=name, **kwargs)

    monkeypatch.setattr(Collection, "modify", failing_rename)
    with pytest.raises(OptionError, match="disk full"):
        write_chroma(parse_sink(f"chroma:{tmp_path / 'c'}#t01"), good, texts, None, "float32", True)
    assert contents(tmp_path / "c") == before  # the old collection set aside got its name back


@pytest.mark.slow
def test_cli_json_has_the_other_sinks_shape(task, tmp_path):  # noqa: F811
    corpus = str(tmp_path / "pairs.csv")
    out = {}
    for where in (f"chroma:{tmp_path / 'c'}#chat", f"faiss:{tmp_path / 'x.faiss'}"):
        run = run_cli("compress", "--model", "all-MiniLM-L6-v2", "--corpus", corpus, "--quiet", "--write", where)
        assert run.returncode == 0, run.stderr
        out[where.partition(":")[0]] = json.loads(run.stdout)
    chroma, faiss = out["chroma"], out["faiss"]
    assert set(chroma) == set(faiss) and set(chroma["recall_at_10"]) == {"predicted", "measured"}
    assert chroma["recall_at_10"]["predicted"] == faiss["recall_at_10"]["predicted"]  # the same point
    assert abs(chroma["recall_at_10"]["measured"] - faiss["recall_at_10"]["measured"]) <= HNSW_TOLERANCE
    assert chroma["settings"]["search_ef"] == 100 and chroma["compress_report_row"]["name"] == "float32"
    again = run_cli(
        "compress", "--model", "all-MiniLM-L6-v2", "--corpus", corpus, "--quiet",
        "--write", f"chroma:{tmp_path / 'c'}#chat", "--variant", "pca-32", "--replace",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["dimensions"] == 32 and list(contents(tmp_path / "c")) == ["chat"]
