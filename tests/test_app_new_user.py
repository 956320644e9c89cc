"""What a new user ran into, under AppTest: a CSV of numbers, a corpus of one text, an uploaded
corpus with labels on the heatmap. Each page says what is wrong instead of drawing nonsense."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.helpers import charts, ok, open_page, texts

NUMBERS = b"id,a,b\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n"
STAT_PAGES = [
    "pages/overview.py",
    "pages/explore.py",
    "pages/dimension.py",
    "pages/compare.py",
    "pages/geometry.py",
    "pages/selection.py",
]


@pytest.fixture(autouse=True)
def use_warm_cache(fresh_cache_dir, warm_cache_dir, monkeypatch) -> Path:
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    return warm_cache_dir


def everything_shown(at) -> str:
    parts = [
        *texts(at.markdown),
        *texts(at.caption),
        *texts(at.info),
        *texts(at.warning),
        *texts(at.error),
        *texts(at.success),
        *[m.value for m in at.metric],
    ]
    return "\n".join(str(p) for p in parts)


def test_a_csv_of_numbers_is_not_read_as_text():
    at = open_page("pages/corpus.py")
    at.file_uploader(key="corpus_upload").set_value(("nums.csv", NUMBERS, "text/csv")).run()
    ok(at)
    # Refused as a corpus: nothing was added, every page still analyses the built-in corpus.
    assert "nums.csv" not in at.session_state["ds_uploads"]
    assert at.sidebar.selectbox(key="w_corpus").value == "chatterbot-english"
    warnings = texts(at.warning)
    assert any("No column of nums.csv holds text" in w and "id, a, b" in w for w in warnings), warnings
    assert at.selectbox(key="map_text").value is None  # not silently the first column
    assert all(b.key != "use_upload" for b in at.button)
    # Choosing a column of numbers is possible, and said plainly.
    at.selectbox(key="map_text").set_value("a").run()
    ok(at)
    assert any("holds numbers, not text" in w for w in texts(at.warning))
    assert at.session_state["ds_uploads"]["nums.csv"].texts == ("2", "5", "8", "11")


def test_a_corpus_of_one_text_gets_a_clear_message_on_every_page():
    one = ("word " * 40_000).encode() + b"\n"  # one 200,000-character line
    at = open_page("pages/corpus.py")
    at.file_uploader(key="corpus_upload").set_value(("one.txt", one, "text/plain")).run()
    ok(at)
    shown = everything_shown(at)
    assert "1 texts" not in shown and "(1 text)" in shown
    assert any("statistics need at least 2 texts" in w for w in texts(at.warning))
    for page in STAT_PAGES:
        at.switch_page(page).run()
        ok(at)
        said = texts(at.error) + texts(at.info)
        # Selection asks for labels first (one.txt has none); every other page names the real problem.
        wanted = "needs a labeled corpus" if page == "pages/selection.py" else "one.txt has 1 text; statistics need"
        assert any(wanted in e for e in said), (page, said)
        assert not charts(at), page
        assert "1 texts" not in everything_shown(at), page


def test_an_uploaded_corpus_with_labels_is_grouped_like_a_built_in_one():
    """Same setting, same drawing: the built-in corpus (stored label by label) and an upload with
    shuffled rows are both grouped by label on Explore, with every label band named."""
    from analysis.corpora import load_builtin_corpus

    english = load_builtin_corpus("chatterbot-english")
    rows = list(zip(english.texts, english.labels, strict=True))[::11]  # ~150 texts, every label
    random.Random(3).shuffle(rows)
    csv = "text,topic\n" + "\n".join('"' + t.replace('"', "") + '",' + label for t, label in rows) + "\n"
    at = open_page("pages/explore.py")
    ok(at)
    builtin = json.loads(charts(at)[0].proto.spec)["layout"]["yaxis"]
    assert "grouped by label" in builtin["title"]["text"]
    assert sorted(builtin["ticktext"]) == sorted(set(english.labels))  # every band named
    at.switch_page("pages/corpus.py").run()
    at.file_uploader(key="corpus_upload").set_value(("shuffled.csv", csv.encode(), "text/csv")).run()
    ok(at)
    at.switch_page("pages/explore.py").run()
    ok(at)
    assert at.selectbox(key="w_rows").value == "label"
    uploaded = json.loads(charts(at)[0].proto.spec)["layout"]["yaxis"]
    assert "grouped by label" in uploaded["title"]["text"]
    assert sorted(uploaded["ticktext"]) == sorted({label for _, label in rows})
