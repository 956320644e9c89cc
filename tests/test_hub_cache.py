"""The hub cache read without the hub client: which files a load needs, which snapshots are complete,
how hub errors become one-line messages. Unit tests on hand-made cache folders and real exception
objects; tests/test_hub_online.py runs the same code against a live loopback hub."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import errors as hub_errors

from analysis.models import catalog_info
from analysis.models.download import classify, error_message, remove_stale_partials
from analysis.models.hub import local_snapshot, needed_files
from analysis.models.resolve import STATUS_CACHED, STATUS_DOWNLOAD, STATUS_OFFLINE, model_availability


def test_needed_files_keep_what_sentence_transformers_reads():
    repo = [
        ".gitattributes",
        "README.md",
        "config.json",
        "modules.json",
        "tokenizer.json",
        "vocab.txt",
        "sentencepiece.bpe.model",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "tf_model.h5",
        "rust_model.ot",
        "flax_model.msgpack",
        "onnx/model.onnx",
        "onnx/tokenizer.json",
        "openvino/openvino_model.xml",
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/pytorch_model.bin",
        "modeling_custom.py",
        "training_args.bin",
    ]
    assert needed_files(repo) == [
        "1_Pooling/config.json",
        "2_Dense/config.json",
        "2_Dense/pytorch_model.bin",  # no safetensors in that folder: the .bin is its weights
        "README.md",
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "modeling_custom.py",
        "modules.json",
        "sentencepiece.bpe.model",
        "tokenizer.json",
        "vocab.txt",
    ]
    assert needed_files(["config.json", "pytorch_model.bin", "vocab.txt"]) == [
        "config.json",
        "pytorch_model.bin",
        "vocab.txt",
    ]


def _cache(tmp_path: Path, monkeypatch, files: dict[str, bytes], tree: dict[str, int] | None) -> Path:
    """A hub cache as huggingface_hub lays it out, for acme/tiny at commit abc... with these files."""
    commit = "a" * 40
    repo = tmp_path / "hub" / "models--acme--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    for name, data in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        blob = repo / "blobs" / f"blob{abs(hash(name))}"
        blob.parent.mkdir(exist_ok=True)
        blob.write_bytes(data)
        (snapshot / name).symlink_to(blob)
    if tree is not None:
        (repo / "trees").mkdir()
        listing = {"format_version": 1, "files": {k: {"size": v, "blob_id": "0" * 40} for k, v in tree.items()}}
        (repo / "trees" / f"{commit}.json").write_text(json.dumps(listing))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return snapshot


FILES = {"config.json": b"{}", "modules.json": b"[]", "tokenizer.json": b"{}", "model.safetensors": b"w" * 100}


def test_a_snapshot_is_complete_when_every_listed_file_is_there_whole(tmp_path, monkeypatch):
    tree = {name: len(data) for name, data in FILES.items()} | {"onnx/model.onnx": 999, ".gitattributes": 10}
    snapshot = _cache(tmp_path, monkeypatch, FILES, tree)
    found = local_snapshot("acme/tiny", None)
    assert found is not None and found.path == snapshot and found.complete  # onnx/ is not needed


def test_a_partial_snapshot_lists_what_is_missing_or_cut_short(tmp_path, monkeypatch):
    files = dict(FILES)
    del files["model.safetensors"]
    files["tokenizer.json"] = b"{"  # shorter than the listing says
    _cache(tmp_path, monkeypatch, files, {name: len(data) for name, data in FILES.items()} | {"tokenizer.json": 2})
    found = local_snapshot("acme/tiny", None)
    assert found is not None and sorted(found.missing) == ["model.safetensors", "tokenizer.json"]
    assert model_availability(catalog_info("all-MiniLM-L6-v2")).status != STATUS_CACHED  # other repo, untouched


def test_without_a_listing_config_weights_and_tokenizer_are_required(tmp_path, monkeypatch):
    _cache(tmp_path, monkeypatch, {"modules.json": b"[]", "config.json": b"{}"}, tree=None)
    found = local_snapshot("acme/tiny", None)
    assert found is not None and found.missing == ("weights (*.safetensors or pytorch_model.bin)", "tokenizer files")


def test_availability_of_a_partly_downloaded_catalog_model(tmp_path, monkeypatch):
    info = catalog_info("bge-small-en-v1.5")
    commit = "b" * 40
    repo = tmp_path / "hub" / "models--BAAI--bge-small-en-v1.5"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "modules.json").write_text("[]")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    online = model_availability(info)
    assert (online.status, online.available, online.where) == (
        STATUS_DOWNLOAD,
        True,
        "hub (needs a network; partly downloaded)",
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = model_availability(info)
    assert (offline.status, offline.available) == (STATUS_OFFLINE, False) and "partly downloaded" in offline.where


def _http_error(cls, status: int):
    request = httpx2.Request("GET", "http://127.0.0.1:1/api/models/acme/x")
    return cls(f"{status} error\nsecond line", response=httpx2.Response(status, request=request))


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    "exc,kind,status",
    [
        (_http_error(hub_errors.GatedRepoError, 401), "gated", 401),
        (_http_error(hub_errors.GatedRepoError, 403), "gated", 403),
        (_http_error(hub_errors.RepositoryNotFoundError, 404), "not_found", 404),
        (_http_error(hub_errors.RevisionNotFoundError, 404), "revision", 404),
        (_http_error(hub_errors.HfHubHTTPError, 403), "auth", 403),
        (_http_error(hub_errors.HfHubHTTPError, 503), "server", 503),
        (httpx2.RemoteProtocolError("peer closed connection"), "dropped", None),
        (httpx2.ReadError("Connection reset by peer"), "dropped", None),
        (httpx2.ReadTimeout("timed out"), "timeout", None),
        (httpx2.ConnectError("refused"), "unreachable", None),
        (_caused(hub_errors.LocalEntryNotFoundError("Got: ReadTimeout"), httpx2.ReadTimeout("t")), "timeout", None),
        (
            _caused(hub_errors.LocalEntryNotFoundError("Got: ConnectError"), httpx2.ConnectError("c")),
            "unreachable",
            None,
        ),
        (OSError(28, "No space left on device"), "disk", None),
        (ValueError("something else"), "other", None),
    ],
)
def test_hub_errors_are_classified_and_become_one_line(exc, kind, status, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")
    outcome = classify(exc)
    assert (outcome["kind"], outcome["status"]) == (kind, status)
    message = error_message("acme/x", "v2", outcome, timeout=7)
    assert "\n" not in message and "acme/x" in message and len(message) < 400
    expected = {
        "gated": "HF_TOKEN",
        "auth": "HF_TOKEN",
        "not_found": "not found on the hub at http://127.0.0.1:1",
        "revision": "no revision 'v2'",
        "dropped": "Run again to resume",
        "timeout": "DIMSCOPE_HUB_TIMEOUT_S=7",
        "unreachable": "not reachable",
        "server": "try again later",
        "disk": "hub cache",
        "other": "failed",
    }[kind]
    assert expected in message


def test_stale_partial_downloads_are_removed_and_live_ones_kept(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    stale, live, blob = blobs / "aa.1234abcd.incomplete", blobs / "bb.5678abcd.incomplete", blobs / "cc"
    for path in (stale, live, blob):
        path.write_bytes(b"x")
    old = time.time() - 120
    os.utime(stale, (old, old))
    os.utime(blob, (old, old))
    assert remove_stale_partials(tmp_path, older_than_s=60) == 1
    assert not stale.exists() and live.exists() and blob.exists()
