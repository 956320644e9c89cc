"""Vector stores as embedding sources: ``--embeddings lancedb:PATH#TABLE``, ``chroma:``, ``faiss:``, ``qdrant:``.

The acceptance case is slow: about 400 held-out WordNet glosses embedded by sentence-transformers,
written by the stores' own libraries into a LanceDB table, a persistent Chroma collection, a
qdrant-client local collection and a Qdrant Edge shard (by ``compress --write qdrant:``'s writer);
the CLI must find all-MiniLM-L6-v2's dead dimensions, match numpy, and leave every byte of the
stores as it was. The rest runs in the quick lane on small stores built
here with the real libraries.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analysis.errors import CorpusError, OptionError
from analysis.vectors import open_vectors
from analysis.vectors.sampling import sample_positions
from tests.helpers import ROOT, assert_bad_input, held_out_glosses, run_cli

HELD_OUT_SEED = 20261207  # no other test samples the glosses with it


def folder_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (or of the one file), by relative name."""
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def write_lance(folder: Path, table: str, vectors: np.ndarray, **columns: list) -> Path:
    import lancedb

    d = vectors.shape[1]
    data = pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), d), **columns})
    # LanceDB refuses NaN vectors unless told to store them as nulls: the only way a table holds bad rows.
    lancedb.connect(str(folder)).create_table(table, data=data, on_bad_vectors="null")
    return folder


def write_chroma(folder: Path, collection: str, vectors: np.ndarray, texts: list[str], labels: list[str]) -> Path:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))
    made = client.create_collection(collection)
    made.add(
        ids=[f"doc-{i}" for i in range(len(texts))],
        embeddings=vectors,
        documents=texts,
        metadatas=[{"label": label} for label in labels],
    )
    return folder


def write_qdrant(
    folder: Path, collection: str, vectors: np.ndarray, texts: list[str], labels: list[str], *, distance: str = "Cosine"
) -> Path:
    """A qdrant-client local-mode collection (the pickled points DimScope parses without unpickling).

    Qdrant keeps a cosine collection's vectors unit length; ``distance="Dot"`` keeps them as given."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(folder))
    try:
        client.create_collection(
            collection, vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance(distance))
        )
        client.upsert(
            collection,
            points=[
                models.PointStruct(id=i, vector=v.tolist(), payload={"text": t, "label": label})
                for i, (v, t, label) in enumerate(zip(vectors, texts, labels, strict=True))
            ],
        )
    finally:
        client.close()
    return folder


def stats_json(*args: str, cache: Path) -> dict:
    result = run_cli("stats", *args, "--format", "json", "-q", env={"DIMSCOPE_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def normalized_std(vectors: np.ndarray) -> np.ndarray:
    direct = vectors.astype(np.float64)
    return (direct / np.linalg.norm(direct, axis=1, keepdims=True)).std(axis=0)


@pytest.fixture(scope="module")
def held_out_stores(tmp_path_factory, minilm) -> dict:
    from sentence_transformers import SentenceTransformer

    texts = held_out_glosses(9, seed=HELD_OUT_SEED)  # ~400 texts: enough for the three dead dimensions
    embeddings = SentenceTransformer(str(minilm.path), device="cpu").encode(texts)  # float32
    labels = [f"group {i % 7}" for i in range(len(texts))]
    base = tmp_path_factory.mktemp("held-out-stores")
    return {
        "texts": texts,
        "embeddings": embeddings,
        "lancedb": write_lance(base / "lance", "glosses", embeddings, text=texts),
        "chroma": write_chroma(base / "chroma", "glosses", embeddings, texts, labels),
        "qdrant": write_qdrant(base / "qdrant", "glosses", embeddings, texts, labels),
        "qdrant-edge": write_edge_shard(base / "qdrant-edge", "glosses", embeddings, texts, labels),
    }


@pytest.mark.slow  # encodes 400 held-out texts with sentence-transformers, then two CLI runs
@pytest.mark.parametrize("kind", ["lancedb", "chroma", "qdrant", "qdrant-edge"])
def test_held_out_minilm_store_gives_the_dead_dims_and_numpy_std_and_stays_unchanged(
    held_out_stores, kind, fresh_cache_dir
):
    folder, scheme = held_out_stores[kind], kind.split("-")[0]  # qdrant-edge: the qdrant: form, an Edge shard
    before = folder_digest(folder)
    column = ["--vector-column", "vector"] if scheme == "lancedb" else []
    report = stats_json("--embeddings", f"{scheme}:{folder}#glosses", *column, cache=fresh_cache_dir)
    assert report["dead_dims"] == [127, 223, 319]
    assert report["n_texts"] == len(held_out_stores["texts"]) and report["dimension"] == 384
    assert report["corpus"] == f"{scheme}:{folder.name}#glosses"
    got = np.array([row["std"] for row in report["normalized"]])
    np.testing.assert_allclose(got, normalized_std(held_out_stores["embeddings"]), rtol=0, atol=1e-5)
    assert folder_digest(folder) == before  # read-only: every file the same bytes


def write_edge_shard(folder: Path, name: str, vectors: np.ndarray, texts: list[str], labels: list[str]) -> Path:
    """A Qdrant Edge shard ``folder/name``, written by ``compress --write qdrant:``'s own writer."""
    from analysis.export.qdrant_sink import write_qdrant as write_shard
    from analysis.export.store_sinks import parse_sink

    folder.mkdir(parents=True, exist_ok=True)
    write_shard(parse_sink(f"qdrant:{folder}#{name}"), vectors, texts, labels, "int8", replace=False)
    return folder


def write_raw_shard(path: Path, vectors: dict[str, np.ndarray] | np.ndarray, payloads: list[dict], ids=None) -> None:
    """A shard written by qdrant-edge-py itself, Dot distance (stored as given, not normalized)."""
    import qdrant_edge as edge

    if isinstance(vectors, dict):
        params: object = {
            k: edge.EdgeVectorParams(size=m.shape[1], distance=edge.Distance.Dot) for k, m in vectors.items()
        }
        rows: list = [{k: m[i].tolist() for k, m in vectors.items()} for i in range(len(payloads))]
    else:
        params = edge.EdgeVectorParams(size=vectors.shape[1], distance=edge.Distance.Dot)
        rows = [v.tolist() for v in vectors]
    shard = edge.EdgeShard.create(str(path), edge.EdgeConfig(vectors=params))
    try:
        points = [
            edge.Point(id=i if ids is None else ids[i], vector=row, payload=payload)
            for i, (row, payload) in enumerate(zip(rows, payloads, strict=True))
        ]
        shard.update(edge.UpdateOperation.upsert_points(points))
        shard.flush()
    finally:
        shard.close()


# --- the quick lane: small stores -------------------------------------------------------------------


def small(n: int = 300, d: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.fixture(scope="module")
def small_stores(tmp_path_factory) -> dict:
    import faiss

    base = tmp_path_factory.mktemp("small-stores")
    vectors = small()
    texts = [f"text {i}" for i in range(len(vectors))]
    labels = ["odd" if i % 2 else "even" for i in range(len(vectors))]
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    faiss.write_index(flat, str(base / "flat.faiss"))
    mapped = faiss.IndexIDMap(faiss.IndexHNSWFlat(vectors.shape[1], 8))
    mapped.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64) * 10 + 7)
    faiss.write_index(mapped, str(base / "hnsw-idmap.faiss"))
    ivf = faiss.index_factory(vectors.shape[1], "IVF4,Flat")
    ivf.train(vectors)
    ivf.add(vectors)
    faiss.write_index(ivf, str(base / "ivf.faiss"))
    pq = faiss.index_factory(vectors.shape[1], "PQ2x4")
    pq.train(vectors)
    pq.add(vectors)
    faiss.write_index(pq, str(base / "pq.faiss"))
    (base / "edge").mkdir()
    write_raw_shard(
        base / "edge" / "docs", vectors, [{"text": t, "label": b} for t, b in zip(texts, labels, strict=True)]
    )
    return {
        "vectors": vectors,
        "texts": texts,
        "labels": labels,
        "lancedb": write_lance(base / "lance", "docs", vectors, text=texts, label=labels),
        "chroma": write_chroma(base / "chroma", "docs", vectors, texts, labels),
        "qdrant": write_qdrant(base / "qdrant", "docs", vectors, texts, labels, distance="Dot"),
        "faiss": base,
        "edge": base / "edge",  # a Qdrant Edge shard base/edge/docs, Dot distance (kept as given)
    }


@pytest.mark.parametrize(
    "form",
    [
        "lancedb:{lancedb}#docs",
        "chroma:{chroma}#docs",
        "faiss:{faiss}/flat.faiss",
        "faiss:{faiss}/hnsw-idmap.faiss",
        "qdrant:{qdrant}#docs",
        "qdrant:{edge}#docs",
    ],
)
def test_each_store_gives_numpys_std_and_stays_unchanged(small_stores, form):
    spec = form.format(**small_stores)
    folder = Path(spec.split(":", 1)[1].split("#")[0])
    before = folder_digest(folder)
    source = open_vectors(spec)
    assert (source.n_rows, source.dimension) == small_stores["vectors"].shape
    moments = source.moments()
    vectors = small_stores["vectors"].astype(np.float64)
    np.testing.assert_allclose(moments["raw"].columns()["std"], vectors.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(moments["normalized"].columns()["std"], normalized_std(vectors), rtol=1e-6)
    if not spec.startswith("faiss:"):
        assert source.corpus.texts == tuple(small_stores["texts"])
        assert source.corpus.labels == tuple(small_stores["labels"])
    assert folder_digest(folder) == before


def test_a_seeded_sample_reads_those_rows_and_says_so(small_stores):
    spec = f"lancedb:{small_stores['lancedb']}#docs"
    source = open_vectors(spec, sample=40, seed=5)
    rows = sample_positions(300, 40, seed=5)
    assert source.n_rows == 40 and "a uniform sample of 40 of 300 rows (seed 5)" in source.name
    np.testing.assert_allclose(
        source.moments()["raw"].columns()["std"],
        small_stores["vectors"][rows].astype(np.float64).std(axis=0),
        rtol=1e-6,
    )
    assert source.corpus.texts == tuple(small_stores["texts"][i] for i in rows)
    other = open_vectors(spec, sample=40, seed=6)
    assert other.fingerprint != source.fingerprint != open_vectors(spec).fingerprint
    assert open_vectors(spec, max_rows=10).n_rows == 10


@pytest.mark.parametrize(
    ("form", "fragments"),
    [
        ("lancedb:{lancedb}#nope", ("no table 'nope'", "its tables: 'docs'")),
        ("chroma:{chroma}#nope", ("no collection 'nope'", "'docs'")),
        ("lancedb:{lancedb}", ("write it as lancedb:PATH#TABLE",)),
        ("lancedb:{faiss}/missing#docs", ("no such folder",)),
        ("chroma:{lancedb}#docs", ("not a persistent Chroma folder",)),
        ("faiss:{faiss}/pq.faiss", ("IndexPQ", "approximations")),
        ("faiss:{faiss}/ivf.faiss", ("IndexIVFFlat without a direct map", "make_direct_map")),
        ("qdrant:{lancedb}#docs", ("not a qdrant-client local folder",)),
    ],
)
def test_a_bad_store_is_one_clear_error(small_stores, form, fragments):
    with pytest.raises(CorpusError) as caught:
        open_vectors(form.format(**small_stores))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_a_store_is_never_opened_as_an_upload(small_stores):
    # Uploads are bounded by max_bytes: a store form there would name a path on the server.
    with pytest.raises(OptionError, match="never from an upload"):
        open_vectors(f"lancedb:{small_stores['lancedb']}#docs", max_bytes=1 << 20)


def test_nan_rows_and_ragged_vectors_are_refused(tmp_path):
    import lancedb

    bad = small(20, 4)
    bad[[3, 11], 1] = np.nan
    write_lance(tmp_path, "nan", bad)
    with pytest.raises(CorpusError, match="2 of 20 rows have NaN, infinite or missing values"):
        open_vectors(f"lancedb:{tmp_path}#nan").moments()
    # Not named "vector", so LanceDB lets a list column of any length through.
    ragged = pa.table({"emb": pa.array([[0.1, 0.2], [0.3, 0.4, 0.5]], type=pa.list_(pa.float32()))})
    lancedb.connect(str(tmp_path)).create_table("ragged", data=ragged)
    with pytest.raises(CorpusError, match="row 1 .* has 3 values where the rows before have 2"):
        open_vectors(f"lancedb:{tmp_path}#ragged", vector_column="emb").moments()


@pytest.mark.slow  # two CLI processes
def test_the_cli_exits_2_with_one_line(small_stores):
    assert_bad_input(
        run_cli("stats", "--embeddings", f"lancedb:{small_stores['lancedb']}#unknown", "-q"), "no table 'unknown'"
    )
    # Without the optional extra, the store form says which extra to install.
    blocked = (
        "import sys, runpy; sys.modules['lancedb'] = None; sys.argv = ['analysis', *sys.argv[1:]]; "
        "runpy.run_module('analysis', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked, "stats", "--embeddings", f"lancedb:{small_stores['lancedb']}#docs", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_bad_input(result, "dimscope[stores]")


def test_a_damaged_lance_table_is_one_clear_error(tmp_path):
    write_lance(tmp_path, "docs", small(50, 4))
    manifests = list((tmp_path / "docs.lance" / "_versions").glob("*.manifest"))
    assert manifests
    for manifest in manifests:
        manifest.write_bytes(b"garbage")
    with pytest.raises(CorpusError, match="is not a readable LanceDB table"):
        open_vectors(f"lancedb:{tmp_path}#docs")
