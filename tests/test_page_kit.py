"""The page kit (dashboard/kit.py, dashboard/selection.py): the error guard, the Compute box, file
names of downloads, the corpus selection type; and a check that pages use them instead of
writing the boilerplate again."""

from __future__ import annotations

import ast
import doctest
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.wording import plain
from dashboard import urlstate
from dashboard.kit import file_name
from dashboard.selection import Selection
from tests.helpers import APPTEST_TIMEOUT, ok

ROOT = Path(__file__).resolve().parents[1]
PAGE_SCRIPTS = sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
DASHBOARD = sorted((ROOT / "dashboard").glob("*.py"))


@pytest.mark.parametrize("module", ["dashboard.selection", "dashboard.kit"])
def test_the_kits_docstring_examples_run(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


# --- Selection: the same strings in the URL and the session as before ------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("chatterbot-english", "builtin", "chatterbot-english"),
        ("upload:my corpus.csv", "upload", "my corpus.csv"),
        ("vectors:emb.parquet", "vectors", "emb.parquet"),
        ("upload:a:b.csv", "upload", "a:b.csv"),  # a colon in the file name stays in the name
        ("vectors:upload:x.npy", "vectors", "upload:x.npy"),
        ("upload:", "upload", ""),
    ],
)
def test_selection_parses_and_writes_the_same_string(text, kind, name):
    chosen = Selection.parse(text)
    assert (chosen.kind, chosen.name) == (kind, name)
    assert str(chosen) == text
    assert Selection.parse(str(chosen)) == chosen


def test_selection_constructors_write_the_prefixes_urls_have_always_held():
    assert str(Selection.upload("q.csv")) == "upload:q.csv"
    assert str(Selection.vectors("e.npy")) == "vectors:e.npy"
    assert str(Selection.builtin("wordnet")) == "wordnet"
    with pytest.raises(ValueError, match="upload prefix"):
        Selection.builtin("upload:q.csv")  # would read back as an upload


def test_selection_travels_through_the_url_unchanged():
    uploaded = urlstate.parse({"corpus": "upload:q.csv"}, corpora=["chatterbot-english"], uploaded=["q.csv"])[0]
    assert uploaded.corpus == str(Selection.upload("q.csv"))
    assert urlstate.to_params(uploaded) == {"corpus": "upload:q.csv"}
    own = str(Selection.vectors("e.npy"))
    state, notes = urlstate.parse({"corpus": own}, corpora=["chatterbot-english", own])
    assert (state.corpus, notes) == ("vectors:e.npy", [])
    gone, notes = urlstate.parse({"corpus": "vectors:gone.npy"}, corpora=["chatterbot-english"])
    assert gone.corpus == urlstate.DEFAULTS.corpus
    assert notes and "uploaded embeddings cannot travel in a link" in notes[0]


# --- file names ------------------------------------------------------------------------------------


def test_file_names_follow_one_rule():
    assert (
        file_name("sentence-transformers/all-MiniLM-L6-v2", "chatterbot-english", "raw-stats", "csv")
        == "dimscope-all-MiniLM-L6-v2-chatterbot-english-raw-stats.csv"
    )
    assert file_name("all-mpnet-base-v2", "wordnet-pairs", "drop-dead-recipe", "json") == (
        "dimscope-all-mpnet-base-v2-wordnet-pairs-drop-dead-recipe.json"
    )


@pytest.mark.parametrize(
    "hostile",
    ["../../etc/passwd", "..", "", "a\x00b\r\nContent-Type: x", '"quoted";name=evil', "名前 データ.csv", "x" * 5000],
)
def test_file_names_are_safe_whatever_a_visitor_named_the_upload(hostile):
    name = file_name(hostile, hostile, "texts", "csv")
    assert re.fullmatch(r"dimscope-[A-Za-z0-9._-]+\.csv", name), name
    assert not name.startswith(".") and "/" not in name and ".." not in name.replace("...", "")
    assert len(name) <= 200


def test_a_model_path_is_named_by_its_last_segment():
    assert file_name("/home/me/models/my-model/", "c", "w", "csv") == "dimscope-my-model-c-w.csv"
    assert file_name(r"C:\models\tiny", "c", "w", "csv") == "dimscope-tiny-c-w.csv"


def test_a_download_button_gets_its_name_from_the_rule_and_does_not_rerun_the_page():
    from dashboard.kit import download

    class Row:  # a container, as pages pass one (a real button is drawn in the browser tests)
        def download_button(self, label, data, **kwargs):
            self.drawn = (label, data, kwargs)

    row = Row()
    download(
        "Download CSV",
        b"a,b\n",
        model="org/m",
        subject="q.csv",
        what="raw-stats",
        ext="csv",
        mime="text/csv",
        where=row,
    )
    label, data, kwargs = row.drawn
    assert (label, data) == ("Download CSV", b"a,b\n")
    assert kwargs["file_name"] == "dimscope-m-q.csv-raw-stats.csv" == file_name("org/m", "q.csv", "raw-stats", "csv")
    assert kwargs["mime"] == "text/csv" and kwargs["on_click"] == "ignore"


# --- the guard and the Compute box, in a real script run -------------------------------------------


def test_the_guard_shows_one_escaped_error_and_stops_the_page():
    def script():
        import streamlit as st

        from analysis.errors import OptionError
        from dashboard.kit import stop_on_error

        st.markdown("before")
        with stop_on_error():
            raise OptionError("No corpus named '![x](http://e.io/p.png) <b>x</b>'; upload it again.")
        st.markdown("after")  # never drawn

    at = AppTest.from_function(script, default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception
    assert [m.value for m in at.markdown] == ["before"]
    assert len(at.error) == 1
    message = "No corpus named '![x](http://e.io/p.png) <b>x</b>'; upload it again."
    assert at.error[0].value == plain(message)
    assert "![x]" not in at.error[0].value and "<b>" not in at.error[0].value


def test_the_guard_lets_other_exceptions_through_and_pages_go_on_without_one():
    def script():
        import streamlit as st

        from dashboard.kit import stop_on_error

        with stop_on_error():
            st.markdown("inside")
        st.markdown("after")
        with stop_on_error():
            raise KeyError("a bug, not a message for the visitor")

    at = AppTest.from_function(script, default_timeout=APPTEST_TIMEOUT).run()
    assert [m.value for m in at.markdown] == ["inside", "after"]
    assert not at.error  # the guard shows library errors only
    assert len(at.exception) == 1 and "KeyError" in at.exception[0].stack_trace[-1]


def test_the_compute_box_says_why_and_its_button_approves():
    def script():
        import streamlit as st

        from dashboard.kit import compute_box

        def approve(what: str) -> None:
            st.session_state["approved"] = what

        if "approved" in st.session_state:
            st.markdown(f"approved {st.session_state['approved']}")
        else:
            compute_box("**model** has not been run yet: minutes on a CPU.", key="go", on_click=approve, args=("m",))

    at = AppTest.from_function(script, default_timeout=APPTEST_TIMEOUT).run()
    ok(at)
    assert [m.value for m in at.markdown] == ["**model** has not been run yet: minutes on a CPU."]
    assert at.button(key="go").label == "Compute"
    at.button(key="go").click().run()
    ok(at)
    assert [m.value for m in at.markdown] == ["approved m"]


# --- the boilerplate is gone from the pages ---------------------------------------------------------


def _calls(node: ast.AST, attr: str) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == attr
    )


def _strings(tree: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_page_writes_the_error_and_stop_pair_itself():
    found = []
    for path in PAGE_SCRIPTS + [p for p in DASHBOARD if p.name != "kit.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if not isinstance(body, list):
                continue
            for first, second in zip(body, body[1:], strict=False):
                if _calls(first, "error") and _calls(second, "stop"):
                    found.append(f"{path.relative_to(ROOT)}:{first.lineno}")
    assert not found, f"st.error then st.stop(): use `with ui.stop_on_error():` instead, at {found}"


def test_the_selection_prefixes_live_in_the_selection_type_only():
    found = [
        f"{path.relative_to(ROOT)}: {text[:40]!r}"
        for path in PAGE_SCRIPTS + DASHBOARD
        if path.name != "selection.py"
        for text in _strings(ast.parse(path.read_text(encoding="utf-8")))
        if text.startswith(("upload:", "vectors:"))
    ]
    assert not found, f"build or read a corpus choice with dashboard.selection.Selection: {found}"


def test_every_download_goes_through_the_kit_and_no_page_reads_a_widget_key_by_hand():
    downloads = [
        str(path.relative_to(ROOT))
        for path in PAGE_SCRIPTS + DASHBOARD
        if path.name != "kit.py" and "download_button" in path.read_text(encoding="utf-8")
    ]
    assert not downloads, f"use ui.download (one file-name rule): {downloads}"
    keys = [
        f"{path.relative_to(ROOT)}: {text!r}"
        for path in PAGE_SCRIPTS
        for text in _strings(ast.parse(path.read_text(encoding="utf-8")))
        if re.fullmatch(r"w_\w+", text)
    ]
    assert not keys, f"read a bound widget with ui.widget_value / ui.widget_key: {keys}"


# --- option labels: beside their option lists ---------------------------------------------------------


def test_every_option_label_names_exactly_the_choices_of_its_list():
    from analysis import options

    labels = {name: value for name, value in vars(options).items() if name.endswith("_LABELS")}
    assert len(labels) >= 8
    for name, mapping in labels.items():
        stem = name.removesuffix("_LABELS")
        lists = [getattr(options, n) for n in (stem + "S", stem[:-1] + "IES", stem) if hasattr(options, n)]
        assert len(lists) == 1, f"options.{name} sits beside no option list of its name"
        choices = lists[0]
        assert set(mapping) == set(choices), f"options.{name} does not label exactly the choices of its list"
        assert all(isinstance(text, str) and text for text in mapping.values())


def test_labels_are_defined_in_the_options_module_only():
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in PAGE_SCRIPTS + DASHBOARD + sorted((ROOT / "analysis" / "figures").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id.endswith("_LABELS")
    ]
    assert not found, f"option labels belong beside their lists in analysis/options.py: {found}"
