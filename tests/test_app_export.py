"""AppTest for the Export section of "What can I drop?" (issue 21): the command, the store settings and, in
private mode only, the trimmed model as a zip (its contents are tested in test_export.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.corpora import load_builtin_task
from analysis.pipeline.cache import EmbeddingStore
from analysis.reports.compress import compress_report
from tests.helpers import ok, open_page, texts

PAGE = "pages/drop.py"
pytestmark = pytest.mark.slow  # the page renders the whole compress report first


@pytest.fixture(scope="session")
def export_cache_dir(warm_cache_dir, minilm) -> Path:
    store = EmbeddingStore(warm_cache_dir)
    compress_report(minilm, load_builtin_task("chatterbot-pairs"), n_draws=5, store=store)
    store.close()
    return warm_cache_dir


@pytest.fixture(autouse=True)
def use_export_cache(fresh_cache_dir, export_cache_dir, monkeypatch) -> Path:
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(export_cache_dir))
    return export_cache_dir


def _codes(at) -> list[str]:
    return [c.value for c in at.code]


def test_export_shows_the_command_and_store_settings_and_builds_the_zip():
    at = open_page(PAGE)
    ok(at)
    assert "Export" in texts(at.subheader)
    at.selectbox(key="drop_export_variant").set_value("drop-dead").run()
    at.segmented_control(key="drop_export_precision").set_value("binary").run()
    ok(at)
    command = (
        "python -m analysis export --model sentence-transformers/all-MiniLM-L6-v2 --corpus chatterbot-pairs "
        "--variant drop-dead --precision binary -o trimmed-model"
    )
    assert command in _codes(at)
    assert any("binary_quantize(embedding)::bit(381)) bit_hamming_ops" in c for c in _codes(at))
    assert any('"oversampling": 4.0' in c for c in _codes(at))
    assert any(c.startswith("381 dimensions stored as binary; measured retention") for c in texts(at.caption))

    at.button(key="drop_export_build").click().run()
    ok(at)
    labels = [str(b.proto.label) for b in at.get("download_button")]
    assert "Download the trimmed model (zip)" in labels, labels
    assert not at.error


def test_public_mode_offers_the_recipe_and_command_but_builds_no_model(monkeypatch):
    from dashboard import policy

    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    try:
        at = open_page(PAGE)
        ok(at)
        assert any("--variant" in c for c in _codes(at))
        assert not [b for b in at.button if b.key == "drop_export_build"]
        assert any("offers the recipe and the command only" in c for c in texts(at.caption))
    finally:
        monkeypatch.delenv("DIMSCOPE_PUBLIC")
        policy.reset_policy()
