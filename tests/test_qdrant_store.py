"""``--embeddings qdrant:PATH#COLLECTION``: a qdrant-client local folder read without unpickling.

The folders are written by the real ``QdrantClient(path=...)``; the rows a client would refuse to
write (a wrong dimension, NaN, a hostile blob, an old key) are put into its SQLite file by hand.
"""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import CorpusError
from analysis.vectors import open_vectors
from analysis.vectors.sampling import sample_positions
from tests.helpers import assert_bad_input, run_cli
from tests.test_pickle_data import Payload
from tests.test_vector_stores import folder_digest, normalized_std, small


def write_qdrant(folder: Path, collection: str, vectors, texts=None, labels=None, *, named=None) -> Path:
    """A local-mode collection written by qdrant-client: unnamed vectors, or ``named`` {name: matrix}."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(folder))
    try:
        if named is None:
            config: object = models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE)
            rows = [v.tolist() for v in vectors]
        else:
            config = {k: models.VectorParams(size=m.shape[1], distance=models.Distance.DOT) for k, m in named.items()}
            rows = [{k: m[i].tolist() for k, m in named.items()} for i in range(len(vectors))]
        client.create_collection(collection, vectors_config=config)
        points = []
        for i, vector in enumerate(rows):
            payload = {}
            if texts is not None:
                payload["text"] = texts[i]
            if labels is not None:
                payload["label"] = labels[i]
            points.append(models.PointStruct(id=i, vector=vector, payload=payload))
        client.upsert(collection, points=points)
    finally:
        client.close()
    return folder


def storage(folder: Path, collection: str) -> Path:
    return folder / "collection" / collection / "storage.sqlite"


def put_row(folder: Path, collection: str, point_id: int, blob: bytes, key: str | None = None) -> None:
    """Replace point ``point_id``'s blob (by hand, as no client would)."""
    from qdrant_client.local.persistence import CollectionPersistence

    old = CollectionPersistence.encode_key(point_id)
    with contextlib.closing(sqlite3.connect(storage(folder, collection))) as db, db:
        changed = db.execute("UPDATE points SET point = ?, id = ? WHERE id = ?", (blob, key or old, old)).rowcount
    assert changed == 1


def point_blob(point_id: int, vector, payload=None) -> bytes:
    from qdrant_client import models

    return pickle.dumps(models.PointStruct.model_construct(id=point_id, vector=vector, payload=payload))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("qdrant")
    vectors = small()
    texts = [f"text {i}" for i in range(len(vectors))]
    labels = ["odd" if i % 2 else "even" for i in range(len(vectors))]
    folder = write_qdrant(base / "local", "docs", vectors, texts, labels)
    write_qdrant(folder, "other", small(5, 3))
    image, words = small(40, 6, seed=1), small(40, 10, seed=2)
    write_qdrant(folder, "named", image, named={"image": image, "words": words})
    return {"folder": folder, "vectors": vectors, "texts": texts, "labels": labels, "image": image, "words": words}


def test_a_local_collection_gives_numpys_std_its_texts_and_stays_unchanged(store):
    folder = store["folder"]
    before = folder_digest(folder)
    source = open_vectors(f"qdrant:{folder}#docs")
    assert (source.n_rows, source.dimension) == store["vectors"].shape
    moments = source.moments()
    vectors = store["vectors"].astype(np.float64)
    np.testing.assert_allclose(moments["raw"].columns()["std"], vectors.std(axis=0), rtol=1e-9)
    np.testing.assert_allclose(moments["normalized"].columns()["std"], normalized_std(vectors), rtol=1e-9)
    assert source.corpus.texts == tuple(store["texts"])
    assert source.corpus.labels == tuple(store["labels"])
    assert folder_digest(folder) == before  # every file, the lock and meta.json too, the same bytes


def test_named_vectors_are_chosen_with_the_vector_column(store):
    spec = f"qdrant:{store['folder']}#named"
    for name in ("image", "words"):
        source = open_vectors(spec, vector_column=name)
        assert (source.n_rows, source.dimension) == store[name].shape
        np.testing.assert_allclose(
            source.moments()["raw"].columns()["std"], store[name].astype(np.float64).std(axis=0), rtol=1e-9
        )
    with pytest.raises(CorpusError, match=r"several named vectors \('image', 'words'\); choose one"):
        open_vectors(spec)
    with pytest.raises(CorpusError, match="no named vector 'nope'; it has: image, words"):
        open_vectors(spec, vector_column="nope")


def test_limit_and_a_seeded_sample_read_those_rows(store):
    spec = f"qdrant:{store['folder']}#docs"
    source = open_vectors(spec, sample=40, seed=5)
    rows = sample_positions(300, 40, seed=5)
    assert source.n_rows == 40 and "a uniform sample of 40 of 300 rows (seed 5)" in source.name
    np.testing.assert_allclose(
        source.moments()["raw"].columns()["std"], store["vectors"][rows].astype(np.float64).std(axis=0), rtol=1e-9
    )
    assert source.corpus.texts == tuple(store["texts"][i] for i in rows)
    limited = open_vectors(spec, max_rows=10)
    assert limited.n_rows == 10
    np.testing.assert_allclose(
        limited.moments()["raw"].columns()["std"], store["vectors"][:10].astype(np.float64).std(axis=0), rtol=1e-9
    )


@pytest.mark.parametrize(
    ("form", "fragments"),
    [
        ("qdrant:{folder}#nope", ("no collection 'nope'", "its collections: 'docs', 'named', 'other'")),
        ("qdrant:{folder}", ("write it as qdrant:PATH#COLLECTION",)),
        ("qdrant:{folder}/missing#docs", ("no such folder",)),
        ("qdrant:{folder}/collection#docs", ("not a qdrant-client local folder", "meta.json")),
    ],
)
def test_a_bad_form_is_one_clear_error(store, form, fragments):
    with pytest.raises(CorpusError) as caught:
        open_vectors(form.format(folder=store["folder"]))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_a_hostile_row_is_refused_by_row_and_runs_nothing(tmp_path):
    folder = write_qdrant(tmp_path / "q", "docs", small(30, 4))
    marker = tmp_path / "marker"
    for blob in (
        pickle.dumps(Payload(marker)),
        point_blob(17, [0.1, 0.2, 0.3, 0.4], {"text": Payload(marker)}),  # a point carrying it in its payload
    ):
        put_row(folder, "docs", 17, blob)
        before = folder_digest(folder)
        with pytest.raises(CorpusError, match=r"qdrant:q#docs: row 17 is not a qdrant-client point .*names .*open"):
            open_vectors(f"qdrant:{folder}#docs").moments()
        assert folder_digest(folder) == before
    assert not marker.exists()


def test_wrong_dimension_nan_and_stale_keys_are_refused(tmp_path):
    folder = write_qdrant(tmp_path / "q", "docs", small(30, 4))
    spec = f"qdrant:{folder}#docs"
    put_row(folder, "docs", 4, point_blob(4, [0.1, 0.2, 0.3]))
    with pytest.raises(CorpusError, match="row 4 has 3 values where the collection's vectors have 4"):
        open_vectors(spec).moments()
    put_row(folder, "docs", 4, point_blob(4, [0.1, float("nan"), 0.3, 0.4]))
    put_row(folder, "docs", 9, point_blob(9, [0.1, 0.2, float("inf"), 0.4]))
    with pytest.raises(CorpusError, match="2 of 30 rows have NaN, infinite or missing values"):
        open_vectors(spec).moments()
    # A key spelled as an older client (Python 3.14's protocol 5) spelled it: maybe a stale copy of a point.
    import base64

    old_key = base64.b64encode(pickle.dumps(9, protocol=5)).decode()
    put_row(folder, "docs", 9, point_blob(9, [0.1, 0.2, 0.3, 0.4]), key=old_key)
    with pytest.raises(CorpusError, match="row 9 .*stored under a key an older qdrant-client wrote"):
        open_vectors(spec).moments()


def test_a_damaged_sqlite_file_is_one_clear_error(tmp_path):
    folder = write_qdrant(tmp_path / "q", "docs", small(30, 4))
    storage(folder, "docs").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(CorpusError, match="qdrant:q#docs is not a qdrant-client collection"):
        open_vectors(f"qdrant:{folder}#docs")


def test_the_cli_names_the_collections_there_are(store):
    result = run_cli("stats", "--embeddings", f"qdrant:{store['folder']}#unknown", "-q")
    assert_bad_input(result, "no collection 'unknown'", "its collections: 'docs', 'named', 'other'")
