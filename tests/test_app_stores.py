"""A vector store on the Corpus page (AppTest): "Vector store on this server", private mode only.

The store is a real LanceDB table written by lancedb from all-MiniLM-L6-v2's raw vectors of the
default corpus (read from the shared warm cache) with their texts and topics, so every number the
pages show can be checked against the model's own statistics; it must read byte for byte the same
after every test. On a public demo the field is absent and no link, session value or call opens a
store.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus
from analysis.pipeline import get_stats
from analysis.pipeline.cache import build_key, default_store
from analysis.vectors import open_vectors
from analysis.vectors.sampling import sample_positions
from analysis.vectors.stores import STORE_FORMS
from tests.helpers import metrics, ok, open_page, texts
from tests.test_app_vectors import minilm_raw as minilm_raw  # noqa: F401 - a fixture: the warm cache's MiniLM rows
from tests.test_vector_stores import folder_digest, small_stores, write_lance  # noqa: F401 (a fixture)

TABLE = "minilm"


@pytest.fixture(autouse=True)
def use_warm_cache(fresh_cache_dir, warm_cache_dir, monkeypatch):
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    return warm_cache_dir


@pytest.fixture(scope="module")
def lance(tmp_path_factory, minilm_raw):
    """A LanceDB folder: the MiniLM table, a ragged one, one with a NaN row; with its digest before any test."""
    import lancedb

    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    folder = write_lance(
        tmp_path_factory.mktemp("stores") / "lance",
        TABLE,
        minilm_raw,
        text=list(corpus.texts),
        topic=list(corpus.labels),
    )
    db = lancedb.connect(str(folder))
    ragged = pa.array([[0.1, 0.2, 0.3], [0.1, 0.2], [0.3, 0.2, 0.1]], pa.list_(pa.float32()))
    db.create_table("ragged", data=pa.table({"emb": ragged, "text": ["a", "b", "c"]}))
    bad = minilm_raw[:50].copy()
    bad[[3, 7], 10] = np.nan
    write_lance(folder, "nan", bad)
    return folder, folder_digest(folder)


def form(lance) -> str:
    return f"lancedb:{lance[0]}#{TABLE}"


def type_store(at, value: str):
    return at.text_input(key="store_form").set_value(value).run()


@pytest.fixture()
def unchanged(lance):
    yield
    assert folder_digest(lance[0]) == lance[1]  # reading never changed a byte


def test_a_store_becomes_what_every_page_analyses(lance, minilm, minilm_raw, unchanged):
    at = open_page("pages/corpus.py")
    type_store(at, form(lance))
    ok(at)
    name = f"lancedb:lance#{TABLE}"
    assert at.query_params == {"corpus": f"vectors:{name}"}
    assert at.sidebar.selectbox(key="w_corpus").value == f"vectors:{name}"
    assert at.selectbox(key="store_vtext").value == "text" and at.selectbox(key="store_vlabel").value == "topic"
    assert metrics(at)["Vectors"] == "1,629" and metrics(at)["Dimensions"] == "384"
    source = at.session_state["ds_vector_uploads"][name]
    # The fingerprint is the CLI's (--embeddings with the same form): one cache for both.
    assert source.fingerprint == open_vectors(form(lance)).fingerprint

    at.switch_page("pages/overview.py").run()
    ok(at)
    shown = metrics(at)
    assert shown["Dead dimensions"] == "3" and shown["Texts"] == "1,629"
    assert any("Dead here: **127**, **223**, **319**" in m for m in texts(at.markdown))
    model_stats = get_stats(minilm, load_builtin_corpus(DEFAULT_CORPUS), store=default_store())
    assert shown["Median std (normalized)"] == f"{np.median(model_stats.normalized_columns['std']):.4g}"
    for view in ("raw", "normalized"):  # computed once, on disk, under the store's fingerprint
        assert default_store().get_json(
            build_key("stats", model=source.fingerprint, corpus=source.corpus_hash, view=view)
        )

    at.switch_page("pages/dimension.py").run()
    ok(at)
    assert {b.label for b in at.button if b.label in {"127", "223", "319"}} == {"127", "223", "319"}

    at.switch_page("pages/explore.py").run()
    ok(at)
    # The crowding of the store's vectors is the model's: ‖μ‖² of the normalized rows, by numpy.
    raw = minilm_raw.astype(np.float64)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert metrics(at)["‖μ‖² of the whole corpus"] == f"{float(np.sum(unit.mean(axis=0) ** 2)):.4f}"

    at.switch_page("pages/geometry.py").run()
    ok(at)
    assert not at.error and f"vectors:{name}" == at.sidebar.selectbox(key="w_corpus").value


@pytest.mark.parametrize("kind", [*sorted(STORE_FORMS), "qdrant-edge"])
def test_every_store_form_the_library_reads_opens_on_the_page(small_stores, kind):  # noqa: F811 (the fixture)
    forms = {
        "lancedb": "lancedb:{lancedb}#docs",
        "chroma": "chroma:{chroma}#docs",
        "faiss": "faiss:{faiss}/flat.faiss",
        "qdrant": "qdrant:{qdrant}#docs",  # a qdrant-client local folder
        "qdrant-edge": "qdrant:{edge}#docs",  # a Qdrant Edge shard: the same form
    }
    if kind not in forms:
        pytest.fail(f"{kind}: add a small store of it here (the page takes whatever STORE_FORMS lists)")
    typed = forms[kind].format(**small_stores)
    folder = Path(typed.split(":", 1)[1].split("#")[0])
    before = folder_digest(folder)
    at = open_page("pages/corpus.py")
    scheme = kind.split("-")[0]
    assert STORE_FORMS[scheme] in " ".join(m.value for m in at.markdown)  # the page names every form
    type_store(at, typed)
    ok(at)
    assert metrics(at)["Vectors"] == "300" and metrics(at)["Dimensions"] == "12"
    (source,) = at.session_state["ds_vector_uploads"].values()
    vectors = small_stores["vectors"].astype(np.float64)
    np.testing.assert_allclose(source.moments()["raw"].columns()["std"], vectors.std(axis=0), rtol=1e-6)
    assert at.query_params == {"corpus": f"vectors:{source.name}"}
    assert folder_digest(folder) == before


def test_columns_and_rows_open_the_store_once_per_change(lance, minilm_raw, monkeypatch, unchanged):
    import dashboard.stores

    opened: list[dict] = []
    real = dashboard.stores.open_vectors

    def counting(spec, **kwargs):
        opened.append({k: v for k, v in kwargs.items() if v is not None and k != "max_chars"})
        return real(spec, **kwargs)

    monkeypatch.setattr(dashboard.stores, "open_vectors", counting)
    at = open_page("pages/corpus.py")
    type_store(at, form(lance))
    ok(at)
    assert opened == [{"seed": 0}]  # the callback's opening, which the page body reuses
    kept = at.session_state["ds_vector_uploads"][f"lancedb:lance#{TABLE}"]
    chunks = 0
    real_chunks = type(kept.reader).chunks

    def counting_chunks(self, *args, **kwargs):
        nonlocal chunks
        chunks += 1
        return real_chunks(self, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(type(kept.reader), "chunks", counting_chunks)
        at.run()
    ok(at)
    assert len(opened) == 1 and chunks == 0  # a rerun opens nothing and reads no vector again
    at.selectbox(key="store_vlabel").set_value("(none)").run()
    ok(at)
    assert opened[1:] == [{"vector_column": "vector", "text_column": "text", "label_column": "", "seed": 0}]
    assert at.session_state["ds_vector_uploads"][f"lancedb:lance#{TABLE}"].corpus.labels is None

    at.selectbox(key="store_rows").set_value("sample").run()
    at.number_input(key="store_n").set_value(200).run()
    at.number_input(key="store_seed").set_value(3).run()
    ok(at)
    name = f"lancedb:lance#{TABLE}, a uniform sample of 200 of 1,629 rows (seed 3)"
    sampled = at.session_state["ds_vector_uploads"][name]
    rows = sample_positions(len(minilm_raw), 200, seed=3)
    np.testing.assert_allclose(
        sampled.moments()["raw"].columns()["std"], minilm_raw[rows].astype(np.float64).std(axis=0), rtol=1e-5
    )
    at.button(key="use_store").click().run()
    ok(at)
    assert at.sidebar.selectbox(key="w_corpus").value == f"vectors:{name}"
    at.selectbox(key="store_rows").set_value("first").run()
    ok(at)
    assert at.session_state["ds_vector_uploads"][f"lancedb:lance#{TABLE}"].n_rows == 200


@pytest.mark.parametrize(
    ("typed", "fragments"),
    [
        ("pinecone:/srv/index#docs", ("is not a store form; use one of", "lancedb:PATH#TABLE", "faiss:FILE")),
        ("lancedb:{folder}/missing#docs", ("no such folder",)),
        ("lancedb:{folder}", ("write it as lancedb:PATH#TABLE",)),
        ("lancedb:{folder}#nope", ("no table 'nope'", "its tables: 'minilm', 'nan', 'ragged'")),
        ("lancedb:{folder}#ragged", ("row 1 of the column 'emb' has 2 values where the rows before have 3",)),
        ("lancedb:{folder}#nan", ("2 of 50 rows have NaN",)),
        ("faiss:{folder}", ("is not a file",)),
    ],
)
def test_a_bad_store_is_one_clear_message(lance, typed, fragments, unchanged):
    at = open_page("pages/corpus.py")
    type_store(at, typed.format(folder=lance[0]))
    ok(at)  # no exception, no traceback
    (error,) = texts(at.error)
    for fragment in fragments:
        assert fragment in error, error
    assert at.query_params == {} and not at.session_state["ds_vector_uploads"]


def test_a_missing_store_library_names_the_extra(lance, monkeypatch, unchanged):
    monkeypatch.setitem(sys.modules, "lancedb", None)  # import lancedb raises ImportError, as when not installed
    at = open_page("pages/corpus.py")
    type_store(at, form(lance))
    ok(at)
    (error,) = texts(at.error)
    assert "stores need the optional extra 'stores'" in error and "pip install" in error


@pytest.fixture()
def public(monkeypatch):
    from dashboard import policy

    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    yield
    monkeypatch.delenv("DIMSCOPE_PUBLIC")
    policy.reset_policy()


def test_public_mode_has_no_store_field_and_ignores_a_planted_value(lance, public, unchanged):
    # A value planted under the field's key (a widget the page never draws there) opens nothing.
    at = open_page("pages/corpus.py", session={"store_form": form(lance)})
    ok(at)
    assert not [t for t in at.text_input if t.label == "Vector store on this server"]
    assert not [h for h in at.subheader if h.value == "Your vector store"]
    assert not at.session_state["ds_vector_uploads"] and at.query_params == {}


def test_public_mode_refuses_to_open_a_store_whoever_asks(lance, public, unchanged):
    from analysis.errors import OptionError
    from dashboard.stores import PUBLIC_REFUSAL, StoreRequest, open_store

    with pytest.raises(OptionError, match="never reads a vector store on its server"):
        open_store(StoreRequest(form(lance)))
    assert "Upload an embeddings file instead" in PUBLIC_REFUSAL


@pytest.mark.parametrize("link", ["vectors:{form}", "{form}", "vectors:lancedb:lance#minilm"])
def test_a_public_visitor_cannot_name_a_server_path_in_the_url(lance, public, link, unchanged):
    value = link.format(form=form(lance))
    at = open_page("pages/overview.py", {"corpus": value})
    ok(at)
    (note,) = [w for w in texts(at.warning) if value[:20] in w or "vector store" in w]
    assert "this public demo never reads a vector store on its server" in note
    assert at.sidebar.selectbox(key="w_corpus").value == DEFAULT_CORPUS
    assert not at.session_state["ds_vector_uploads"]


def test_a_store_planted_in_a_public_session_is_still_no_choice(lance, public, unchanged):
    # Even a session that somehow holds a store's source (none can open one there) may not choose it by link.
    planted = open_vectors(form(lance), max_rows=20)
    at = open_page(
        "pages/overview.py",
        {"corpus": f"vectors:{planted.name}"},
        session={"ds_vector_uploads": {planted.name: planted}},
    )
    ok(at)
    assert any("this public demo never reads a vector store" in w for w in texts(at.warning))
    assert at.sidebar.selectbox(key="w_corpus").value == DEFAULT_CORPUS


def test_a_private_link_to_a_store_says_where_to_open_it(lance, unchanged):
    at = open_page("pages/overview.py", {"corpus": f"vectors:{form(lance)}"})
    ok(at)
    assert any("a link never opens a vector store on this machine" in w for w in texts(at.warning))
    assert at.sidebar.selectbox(key="w_corpus").value == DEFAULT_CORPUS
