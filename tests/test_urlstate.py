"""Query parameters <-> UrlState: good values round-trip, bad and hostile ones fall back with a note."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import options
from dashboard import urlstate
from dashboard.urlstate import DEFAULTS, UrlState, parse, to_params

CORPORA = ["chatterbot-english", "wordnet-glosses", "chatterbot-french"]


def parse_ok(params, **kwargs):
    return parse(params, corpora=CORPORA, **kwargs)


def test_docstring_examples_run():
    result = doctest.testmod(urlstate)
    assert result.failed == 0 and result.attempted > 0


def test_empty_params_give_defaults_and_no_notes():
    state, notes = parse_ok({})
    assert state == DEFAULTS and notes == []
    assert state.model == "all-MiniLM-L6-v2" and state.corpus == "chatterbot-english"
    assert to_params(state) == {}


def test_good_values_are_read_and_canonicalised():
    state, notes = parse_ok(
        {
            "model": "sentence-transformers/all-mpnet-base-v2",
            "models": "all-MiniLM-L6-v2, BAAI/bge-small-en-v1.5,all-minilm-l6-v2",
            "corpus": "wordnet-glosses",
            "view": "RAW",
            "heat": "standardized",
            "sort": "abs_mean",
            "rows": "corpus",
            "dims": "10-12, 0-3,11",
            "dim": "127",
            "metric": "variance",
            "bars": "sorted",
            "log": "true",
            "threshold": "0.05",
            "full": "yes",
            "scale": "SQRT_D",
        }
    )
    assert notes == []
    assert state == UrlState(
        model="all-mpnet-base-v2",
        models=("all-MiniLM-L6-v2", "bge-small-en-v1.5"),
        corpus="wordnet-glosses",
        view="raw",
        heat="standardized",
        sort="abs_mean",
        rows="corpus",
        dims="0-3,10-12",
        dim=127,
        metric="variance",
        bars="sorted",
        log=True,
        threshold=0.05,
        full=True,
        scale="sqrt_d",
    )
    assert parse_ok(to_params(state)) == (state, [])


def test_hub_ids_and_folders_are_accepted_as_models():
    assert parse_ok({"model": "someone/some-model_v1.5"})[0].model == "someone/some-model_v1.5"
    assert parse_ok({"model": "/models/my model"})[0].model == "/models/my model"
    assert parse_ok({"model": "~/models/mine"})[0].model == "~/models/mine"


def test_list_values_take_the_last_one():
    state, notes = parse_ok({"dim": ["3", "9"], "log": ["0", "1"]})
    assert (state.dim, state.log, notes) == (9, True, [])


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("model", "../../etc/passwd", "not a catalog name"),
        ("model", "/models/../../etc", "not a catalog name"),
        ("model", "<script>alert(1)</script>", "not a catalog name"),
        ("model", "a" * 5000, "longer than"),
        ("model", "", "no model given"),
        ("corpus", "nope", "not a built-in corpus"),
        ("corpus", "upload:notes.csv", "cannot travel in a link"),
        ("corpus", "'; DROP TABLE corpora; --", "not a built-in corpus"),
        ("view", "standardized", "expected one of normalized, raw"),
        ("heat", "rainbow", "expected one of"),
        ("sort", "random()", "expected one of"),
        ("rows", "", "expected one of"),
        ("metric", "mean", "expected one of"),
        ("bars", "1", "expected one of"),
        ("scale", "log", "expected one of as_is, sqrt_d, share"),
        ("scale", "std × √d", "expected one of"),
        ("dims", "0-99999999", "expected dimensions"),
        ("dims", "30-10", "runs backwards"),
        ("dims", "0-9000", "more than 4096"),
        ("dims", "1;2", "expected dimensions"),
        ("dim", "-3", "whole number"),
        ("dim", "1e3", "whole number"),
        ("dim", "1234567890", "whole number"),
        ("dim", "NaN", "whole number"),
        ("log", "maybe", "expected 1 or 0"),
        ("threshold", "NaN", "threshold"),
        ("threshold", "inf", "threshold"),
        ("threshold", "-0.5", "threshold"),
        ("threshold", "0", "threshold"),
        ("threshold", "1e308", "threshold"),
        ("threshold", "0x10", "threshold"),
        ("threshold", "1" * 600, "longer than"),
        ("task", "upload:pairs.csv", "expected one of chatterbot-pairs"),
        ("task", "<img src=x>", "expected one of"),
        ("keep", "prefix-0", "expected all, drop-dead"),
        ("keep", "top-variance-", "expected all"),
        ("keep", "random-8", "expected all"),
        ("keep", "prefix-999999", "expected all"),
    ],
)
def test_bad_values_fall_back_with_a_note(key, value, fragment):
    state, notes = parse_ok({key: value})
    assert getattr(state, key) == getattr(DEFAULTS, key)
    assert len(notes) == 1 and fragment in notes[0], notes
    assert notes[0].startswith(f"Ignored `{key}=")
    assert len(notes[0]) < 300  # a huge value is shortened in the note
    assert notes[0].count("`") == 2  # the value cannot break out of its code span


def test_uploaded_corpus_is_accepted_only_in_its_session():
    assert parse_ok({"corpus": "upload:notes.csv"}, uploaded=["notes.csv"])[0].corpus == "upload:notes.csv"
    state, notes = parse_ok({"corpus": "upload:other.csv"}, uploaded=["notes.csv"])
    assert state.corpus == "chatterbot-english" and "upload it again" in notes[0]


def test_models_list_drops_bad_entries_and_caps_length():
    state, notes = parse_ok({"models": "all-MiniLM-L6-v2,../x,<b>"})
    assert state.models == ("all-MiniLM-L6-v2",)
    assert len(notes) == 1 and "`../x`" in notes[0]
    many = ",".join(f"org/m{i}" for i in range(10))
    state, notes = parse_ok({"models": many})
    assert len(state.models) == urlstate.MAX_MODELS and "first 6" in notes[0]
    assert parse_ok({"models": " , ,"})[0].models == ()


def test_unknown_keys_are_ignored_and_base_is_kept():
    base = DEFAULTS.with_(dim=5)
    state, notes = parse_ok({"utm_source": "mail", "x": "<script>"}, base=base)
    assert state == base and notes == []


def test_dims_helpers():
    assert urlstate.parse_dims("5, 1-3,2") == [1, 2, 3, 5]
    assert urlstate.dims_to_spec([5, 1, 2, 3, 9, 10]) == "1-3,5,9-10"
    assert urlstate.dims_to_spec([]) == ""
    with pytest.raises(ValueError):
        urlstate.parse_dims("")


def test_model_problem():
    assert urlstate.model_problem("all-MiniLM-L6-v2") is None
    assert urlstate.model_problem("org/name") is None
    assert urlstate.model_problem("relative/path/to/model") is not None
    assert urlstate.model_problem("C:\\models") is not None


# --- property tests ------------------------------------------------------------------------------

KEYS = [f.name for f in urlstate.fields(UrlState)] + ["other", ""]
hostile_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="0123456789-,. eE+naifNI", max_size=30),
    st.sampled_from(["NaN", "-inf", "1e999", "0-65535", "../..", "upload:x", "\x00", "﷽" * 10, "a" * 2000, "%00"]),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), st.one_of(hostile_text, st.lists(hostile_text, max_size=3)), max_size=8))
def test_parse_never_raises_and_always_gives_a_valid_state(params):
    state, notes = parse(params, corpora=CORPORA, uploaded=["x"])
    assert isinstance(state, UrlState)
    assert all(isinstance(n, str) and "\n" not in n and len(n) < 600 for n in notes)
    assert state.view in options.VIEWS and state.heat in options.HEATMAP_VIEWS
    assert state.sort in options.DIM_ORDERS and state.rows in options.ROW_ORDERS
    assert state.metric in options.SPREAD_METRICS and state.bars in urlstate.BAR_ORDERS
    assert state.scale in options.SPREAD_SCALES
    assert isinstance(state.dim, int) and 0 <= state.dim <= urlstate.MAX_DIM
    assert math.isfinite(state.threshold) and state.threshold > 0
    assert state.corpus in CORPORA or state.corpus == "upload:x"
    assert urlstate.model_problem(state.model) is None
    assert len(state.models) <= urlstate.MAX_MODELS
    assert state.task in options.DROP_TASKS and state.keep.split("-")[0] in ("all", "drop", "prefix", "top")
    # Whatever came in, what goes back out is clean and stable.
    again, again_notes = parse(to_params(state), corpora=CORPORA, uploaded=["x"])
    assert again == state and again_notes == []


valid_states = st.builds(
    UrlState,
    model=st.sampled_from(["all-MiniLM-L6-v2", "all-mpnet-base-v2", "org/name-1.5", "/models/m"]),
    models=st.lists(st.sampled_from(["all-MiniLM-L6-v2", "bge-small-en-v1.5", "a/b"]), unique=True, max_size=3).map(
        tuple
    ),
    corpus=st.sampled_from(CORPORA),
    view=st.sampled_from(options.VIEWS),
    heat=st.sampled_from(options.HEATMAP_VIEWS),
    sort=st.sampled_from(options.DIM_ORDERS),
    rows=st.sampled_from(options.ROW_ORDERS),
    dims=st.lists(st.integers(0, 2000), max_size=20).map(urlstate.dims_to_spec),
    dim=st.integers(0, urlstate.MAX_DIM),
    metric=st.sampled_from(options.SPREAD_METRICS),
    bars=st.sampled_from(urlstate.BAR_ORDERS),
    log=st.booleans(),
    threshold=st.floats(1e-6, 10.0, allow_nan=False),
    task=st.sampled_from(options.DROP_TASKS),
    keep=st.one_of(
        st.sampled_from(["all", "drop-dead"]),
        st.builds(lambda f, k: f"{f}-{k}", st.sampled_from(["prefix", "top-variance"]), st.integers(1, 99999)),
    ),
    scale=st.sampled_from(options.SPREAD_SCALES),
)


@settings(max_examples=200, deadline=None)
@given(valid_states)
def test_valid_states_round_trip(state):
    params = to_params(state)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    assert parse(params, corpora=CORPORA) == (state, [])


def test_insight_page_controls_travel_in_the_url():
    from dashboard import urlstate

    state, notes = urlstate.parse(
        {"post": "whiten", "score": "ari", "draws": "10", "topk": "32"}, corpora=["chatterbot-english"]
    )
    assert (state.post, state.score, state.draws, state.topk) == ("whiten", "ari", 10, 32) and notes == []
    assert urlstate.parse(urlstate.to_params(state), corpora=["chatterbot-english"])[0] == state
    bad, notes = urlstate.parse(
        {"post": "rm -rf", "score": "<b>", "draws": "7", "topk": "0"}, corpora=["chatterbot-english"]
    )
    assert (bad.post, bad.score, bad.draws, bad.topk) == ("none", "knn_accuracy", 5, 64) and len(notes) == 4


def test_what_can_i_drop_controls_travel_in_the_url():
    state, notes = parse_ok({"task": "WordNet-Pairs", "keep": "Top-Variance-128", "draws": "3"})
    assert (state.task, state.keep, state.draws, notes) == ("wordnet-pairs", "top-variance-128", 3, [])
    assert to_params(state) == {"task": "wordnet-pairs", "keep": "top-variance-128", "draws": "3"}
    assert parse_ok(to_params(state))[0] == state
    assert to_params(DEFAULTS.with_(task="chatterbot-pairs", keep="drop-dead")) == {}


@pytest.mark.parametrize(
    "field,value,ok",
    [
        ("scale", "sqrt_d", True),
        ("scale", "as_is", True),  # the default: no parameter, and parse gives it back
        ("scale", None, False),  # a deselected segmented control
        ("scale", "SQRT_D", False),  # parse would change it (lower case): not what the widget held
        ("draws", 10, True),
        ("draws", 4, False),
        ("log", None, False),
        ("threshold", 0.05, True),
        ("threshold", 50.0, False),
        ("models", ("all-MiniLM-L6-v2", "bge-small-en-v1.5"), True),
        ("models", ["all-MiniLM-L6-v2"], False),  # a widget's list, not the state's tuple
        ("corpus", "wordnet-glosses", True),
        ("corpus", "upload:mine.csv", False),  # not uploaded in this session
        ("keep", "prefix-64", True),
        ("keep", "", False),
    ],
)
def test_accepts_only_what_the_url_reads_back_unchanged(field, value, ok):
    assert urlstate.accepts(field, value, corpora=CORPORA) is ok


def test_accepts_an_upload_of_this_session():
    assert urlstate.accepts("corpus", "upload:mine.csv", corpora=CORPORA, uploaded=["mine.csv"])


STORE_LINKS = [
    "vectors:lancedb:/srv/data/lance#docs",
    "lancedb:/srv/data/lance#docs",
    "LanceDB:/srv/data/lance#docs",
    "vectors:chroma:/srv/chroma#docs",
    "chroma:~/chroma#docs",
    "vectors:faiss:/srv/index.faiss",
    "faiss:index.faiss",
    "vectors:qdrant:/srv/qdrant#docs",
]


@pytest.mark.parametrize("value", STORE_LINKS)
@pytest.mark.parametrize("public", [True, False])
def test_a_link_never_opens_a_vector_store(value, public):
    state, notes = parse_ok({"corpus": value}, public=public)
    assert state.corpus == DEFAULTS.corpus
    (note,) = notes
    assert note.startswith("Ignored `corpus=") and note.count("`") == 2 and len(note) < 300
    if public:
        assert "this public demo never reads a vector store on its server" in note
        assert "Vector store on this server" not in note  # a visitor is not sent to a field they do not have
    else:
        assert "a link never opens a vector store on this machine" in note
        assert "Corpus page" in note and "lancedb:PATH#TABLE" in note
    assert not urlstate.accepts("corpus", value, corpora=CORPORA, public=public)


def test_a_store_this_private_session_opened_is_a_choice_like_any_upload():
    # The Corpus page keeps an opened store among the session's embeddings (state._known_corpora
    # lists them, and leaves them out on a public demo): then, and only then, a link may name it.
    opened = "vectors:lancedb:lance#docs"
    assert parse({"corpus": opened}, corpora=[*CORPORA, opened])[0].corpus == opened
    assert urlstate.accepts("corpus", opened, corpora=[*CORPORA, opened])
    assert parse_ok({"corpus": opened})[0].corpus == DEFAULTS.corpus


@pytest.mark.parametrize(
    ("value", "store"),
    [
        ("vectors:lancedb:x#t", True),
        ("lancedb:x#t", True),
        ("vectors:my lancedb.parquet", False),
        ("upload:lancedb:x#t", False),  # an uploaded corpus of texts, whatever its name: never opened
        ("chatterbot-english", False),
        ("vectors:pinecone:x", False),
    ],
)
def test_names_store(value, store):
    assert urlstate.names_store(value) is store
