"""A small Hugging Face hub look-alike on 127.0.0.1, with fault injection, for tests.

``LoopbackHub`` serves local model folders under hub ids (``org/name``) so that the *real*
``huggingface_hub`` client (``snapshot_download``, ``hf_hub_download``, ``HfApi.model_info``)
and ``SentenceTransformer("org/name")`` download and load them with
``HF_ENDPOINT=<hub.endpoint>`` set and no offline variables. It runs a stdlib
``ThreadingHTTPServer`` in a background thread on a free port and needs nothing but the
standard library (it never imports ``huggingface_hub``).

Why not an existing mirror: ``hf-local-hub`` on PyPI is only a client, its server is a Go
binary that the package does not ship. ``olah`` (0.5.4) does serve a local folder offline once
the folder is committed as a git repository under ``mirrors-path``, but it 401s on
``GET /api/models/{repo}`` without a revision (so ``model_info`` fails), needs FastAPI, uvicorn
and GitPython in a separate process, and has no way to inject faults, which is what most tests
here are about.

Endpoints (model repos only; what huggingface_hub 2.4 calls, read from its source):

* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: repo info
  (``id``, ``sha``, ``siblings`` with ``rfilename``; with ``?blobs=true`` also size/blobId/lfs).
* ``GET /api/models/{repo}/tree/{rev}[/{path}]`` (``?recursive=true``): the file listing that
  ``snapshot_download`` uses, entries with ``type``, ``path``, ``oid``, ``size`` and, for
  LFS-sized files, ``lfs`` = ``{oid: sha256, size, pointerSize}``.
* ``POST /api/models/{repo}/paths-info/{rev}`` (form field ``paths``), ``GET .../refs``,
  ``GET .../commits/{rev}``.
* ``GET /api/agent-harnesses``: asked once a day per ``HF_HOME`` by the client; answered with an
  empty registry (``{"standardEnvVars": [], "harnesses": {}}``, the shape the client reads).
* ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: served directly (no CDN redirect) with
  ``X-Repo-Commit``, ``ETag`` (git blob sha1, or sha256 for LFS files, plus ``X-Linked-Etag`` /
  ``X-Linked-Size`` as the real hub sends for those), ``Content-Length``, ``Accept-Ranges`` and
  single-range requests (206 / 416).

Errors carry the headers the client maps to exceptions: 404 with ``X-Error-Code: RepoNotFound``
(the real hub answers 401 to anonymous callers; the client treats both as
``RepositoryNotFoundError``), ``RevisionNotFound``, ``EntryNotFound`` (with ``X-Repo-Commit``, so
the client records the miss under ``.no_exist``), and ``GatedRepo`` (401 without an
``Authorization`` header, 403 with one, like the real hub).

Faults are set with :meth:`LoopbackHub.set_fault` (see :class:`Fault`); every request is logged::

    with LoopbackHub() as hub:
        commit = hub.add_model("sentence-transformers/all-MiniLM-L6-v2", folder)
        hub.set_fault("sentence-transformers/all-MiniLM-L6-v2", "model.safetensors",
                      drop_after_bytes=30_000_000, times=1)  # first GET cut at 30 MB, the resume works
        hub.set_fault("acme/private-model", gated=True)       # 401/403 GatedRepo on every download
        hub.set_fault(None, stall=True, methods={"HEAD"})     # every HEAD hangs until hub.stop()
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env |= {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf")}
        subprocess.run([sys.executable, "-c", "..."], env=env)  # a fresh client process
        assert ("GET", f"/sentence-transformers/all-MiniLM-L6-v2/resolve/{commit}/model.safetensors") in hub.requests
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, NamedTuple, Self
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Fault", "LoopbackHub", "RepoFile", "Request"]

# Files at least this big, or with a weight-like suffix, are served as git-LFS files, as on the hub
# (where .gitattributes routes weights to LFS): ETag is then the sha256 and the tree entry has `lfs`.
LFS_MIN_SIZE = 10 * 1024 * 1024
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack", ".ckpt", ".gguf", ".npy")

_CHUNK = 1024 * 1024
_HEX40 = re.compile(r"[0-9a-f]{40}")
# Sub-routes after the repo id in /api/models/...; used to tell "org/name/tree" from "name/tree".
_API_ROUTES = {"revision", "tree", "paths-info", "refs", "commits"}

# (absolute path, size, mtime_ns) -> (git blob sha1, sha256). Hashing the 90 MB MiniLM weights takes a
# few tenths of a second; tests start many hubs on the same folders, so hash each file once per process.
_HASH_CACHE: dict[tuple[str, int, int], tuple[str, str]] = {}
_HASH_LOCK = threading.Lock()


def _hash_file(path: Path) -> tuple[str, str]:
    """Return (git blob sha1, sha256) of a file, cached by path, size and mtime."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
    blob = hashlib.sha1(b"blob %d\0" % stat.st_size)
    sha256 = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            blob.update(chunk)
            sha256.update(chunk)
    result = (blob.hexdigest(), sha256.hexdigest())
    with _HASH_LOCK:
        _HASH_CACHE[key] = result
    return result


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Request(NamedTuple):
    """One request as the hub saw it (see :attr:`LoopbackHub.log`)."""

    method: str
    path: str  # unquoted URL path, no query
    query: str
    range: str | None  # the Range header, for resume checks
    authorized: bool  # whether an Authorization header came along


@dataclass(frozen=True)
class RepoFile:
    """One file of a served revision."""

    path: str  # repo-relative, '/'-separated
    source: Path  # where the bytes are read from
    size: int
    blob_sha1: str  # git blob id of the content (small files) or of the LFS pointer (LFS files)
    sha256: str
    lfs: bool
    pointer_size: int  # size of the LFS pointer file; 0 for regular files

    @property
    def etag(self) -> str:
        """What the hub puts in ETag / X-Linked-Etag: sha256 for LFS files, the git blob id otherwise."""
        return self.sha256 if self.lfs else self.blob_sha1

    def tree_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.blob_sha1, "size": self.size, "path": self.path}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return entry

    @classmethod
    def from_disk(cls, path: str, source: Path) -> RepoFile:
        content_sha1, sha256 = _hash_file(source)
        size = source.stat().st_size
        lfs = size >= LFS_MIN_SIZE or path.endswith(LFS_SUFFIXES)
        if not lfs:
            return cls(path, source, size, content_sha1, sha256, False, 0)
        # In git the LFS file is a small pointer text; its blob id is what the tree reports as `oid`.
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
        return cls(path, source, size, _git_blob_sha1(pointer), sha256, True, len(pointer))


@dataclass
class _Revision:
    commit: str
    files: dict[str, RepoFile]  # path -> file
    created: float

    def directories(self) -> set[str]:
        dirs: set[str] = set()
        for path in self.files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        return dirs

    def dir_oid(self, directory: str) -> str:
        """A stable id for a folder (not git's tree hash: the client only stores it)."""
        prefix = directory + "/"
        listing = "".join(f"{p}\0{f.blob_sha1}\n" for p, f in sorted(self.files.items()) if p.startswith(prefix))
        return hashlib.sha1(listing.encode()).hexdigest()

    def entry(self, path: str) -> dict[str, Any] | None:
        if path in self.files:
            return self.files[path].tree_entry()
        if path in self.directories():
            return {"type": "directory", "oid": self.dir_oid(path), "size": 0, "path": path}
        return None


@dataclass
class _Repo:
    repo_id: str
    revisions: dict[str, _Revision] = field(default_factory=dict)  # commit sha -> revision
    refs: dict[str, str] = field(default_factory=dict)  # branch/tag name -> commit sha
    tags: set[str] = field(default_factory=set)

    def resolve(self, rev: str) -> _Revision | None:
        """Branch or tag name, full commit sha, or an unambiguous sha prefix (7+ chars)."""
        if rev in self.refs:
            return self.revisions[self.refs[rev]]
        if rev in self.revisions:
            return self.revisions[rev]
        if len(rev) >= 7 and re.fullmatch(r"[0-9a-f]+", rev):
            matches = [sha for sha in self.revisions if sha.startswith(rev)]
            if len(matches) == 1:
                return self.revisions[matches[0]]
        return None


@dataclass
class Fault:
    """A misbehaviour of the hub for matching requests.

    Matching: ``repo_id`` (``None``: every request, API and downloads alike), ``path`` (a file of
    the repo: only ``/resolve/`` requests for that file match; ``None``: every request about the
    repo), ``methods`` (e.g. ``{"GET"}`` to leave HEAD alone; ``None``: all) and ``times`` (the
    fault fires for the first ``times`` matching requests, then disarms; ``None``: forever).
    The first armed fault that matches a request applies.

    Effects (combine as needed):

    * ``gated``: answer ``/resolve/`` requests like a gated repo: 401 ``X-Error-Code: GatedRepo``
      without ``Authorization`` header, 403 with one. Repo info and tree listing stay readable
      (as on the real hub) and report ``"gated": "manual"``.
    * ``drop_after_bytes=N`` (file GETs only): send the status line and headers with the full
      ``Content-Length``, then the file's bytes up to offset ``N`` of the *file* (so a resume
      request starting at or past ``N`` gets headers and no body), then cut the connection.
      ``drop_mode="close"`` closes it cleanly (FIN: the client sees a truncated body,
      httpx ``RemoteProtocolError``); ``"reset"`` aborts it (RST: ``ReadError``).
    * ``stall``: read the request and never answer until the hub stops; with
      ``drop_after_bytes`` the stall starts after those bytes instead of before the headers.
    """

    repo_id: str | None
    path: str | None = None
    methods: Collection[str] | None = None
    times: int | None = None
    gated: bool = False
    drop_after_bytes: int | None = None
    drop_mode: Literal["close", "reset"] = "close"
    stall: bool = False
    hits: int = 0  # how many requests this fault has hit so far

    def matches(self, method: str, repo_id: str | None, path: str | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.repo_id is not None and self.repo_id != repo_id:
            return False
        if self.path is not None and self.path != path:
            return False
        # A gate closes downloads only (info and tree stay readable); a drop needs a body to cut.
        if (self.gated or self.drop_after_bytes is not None) and path is None:
            return False
        return not (self.drop_after_bytes is not None and method != "GET")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for handlers stuck on a stalled or slow client
    allow_reuse_address = True

    def __init__(self, hub: LoopbackHub) -> None:
        self.hub = hub
        super().__init__(("127.0.0.1", 0), _Handler)


class _Aborted(Exception):
    """Raised inside a handler after a fault cut the connection: nothing more may be written."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    server: _Server

    # ------------------------------------------------------------------ plumbing
    def setup(self) -> None:
        super().setup()
        self.server.hub._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            pass  # the connection was cut on purpose or by the client
        finally:
            self.server.hub._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.hub.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        raw_segments = split.path.split("/")[1:]
        hub._log(
            Request(
                method,
                unquote(split.path),
                split.query,
                self.headers.get("Range"),
                bool(self.headers.get("Authorization")),
            )
        )
        try:
            if raw_segments[:2] == ["api", "agent-harnesses"]:
                self._apply_fault(method, None, None)  # only a hub-wide stall (repo_id=None) applies
                self._json(200, {"standardEnvVars": [], "harnesses": {}})
            elif raw_segments[:2] == ["api", "models"]:
                self._api(method, [unquote(s) for s in raw_segments[2:]], parse_qs(split.query))
            elif "resolve" in raw_segments:
                self._resolve(method, raw_segments)
            else:
                self._error(404, None, f"Not found: {split.path}")
        except _Aborted:
            self.close_connection = True
        except ConnectionError:
            self.close_connection = True  # the client went away mid-answer (e.g. its timeout fired)

    # ------------------------------------------------------------------ responses
    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body)

    def _error(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        extra = {"X-Error-Message": message, **(headers or {})}
        if code:
            extra["X-Error-Code"] = code
        self._json(status, {"error": message}, extra)

    def _repo_not_found(self) -> None:
        self._error(404, "RepoNotFound", "Repository not found")

    def _apply_fault(self, method: str, repo_id: str | None, path: str | None) -> Fault | None:
        """Stall here if asked; return the fault (if any) so the caller applies gate or drop."""
        fault = self.server.hub._take_fault(method, repo_id, path)
        if fault is not None and fault.stall and fault.drop_after_bytes is None:
            self._stall()
        return fault

    def _stall(self) -> None:
        self.server.hub._stopping.wait()  # set by stop(): then leave without a word
        raise _Aborted

    def _cut(self, mode: str) -> None:
        if mode == "reset":
            # SO_LINGER 0 turns close() into an RST: the abrupt kind of failure (ReadError client side).
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            with contextlib.suppress(OSError):  # the client may have left first
                self.connection.shutdown(socket.SHUT_RDWR)  # FIN: a clean close, too early
        raise _Aborted

    # ------------------------------------------------------------------ /api/models/...
    def _split_repo(self, segments: list[str]) -> tuple[str, list[str]]:
        """Split 'org/name/tree/main' (or legacy 'name/tree/main') into repo id and the rest."""
        repos = self.server.hub._repos
        if len(segments) >= 2 and "/".join(segments[:2]) in repos:
            return "/".join(segments[:2]), segments[2:]
        if segments and segments[0] in repos:
            return segments[0], segments[1:]
        if len(segments) >= 2 and segments[1] not in _API_ROUTES:
            return "/".join(segments[:2]), segments[2:]
        return (segments[0] if segments else ""), segments[1:]

    def _api(self, method: str, segments: list[str], query: dict[str, list[str]]) -> None:
        hub = self.server.hub
        repo_id, rest = self._split_repo(segments)
        self._apply_fault(method, repo_id, None)  # only a stall can match an API request
        repo = hub._repos.get(repo_id)
        if repo is None:
            return self._repo_not_found()
        gated = self._repo_gated(repo_id)
        if not rest and method in ("GET", "HEAD"):
            return self._info(repo, "main", query, gated)
        route = rest[0]
        if route == "revision" and len(rest) >= 2:
            return self._info(repo, "/".join(rest[1:]), query, gated)
        if route == "tree" and len(rest) >= 2:
            return self._tree(repo, rest[1], "/".join(rest[2:]).strip("/"), query)
        if route == "paths-info" and len(rest) >= 2 and method == "POST":
            return self._paths_info(repo, "/".join(rest[1:]))
        if route == "refs":
            branches = [
                {"name": n, "ref": f"refs/heads/{n}", "targetCommit": c}
                for n, c in repo.refs.items()
                if n not in repo.tags
            ]
            tags = [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": repo.refs[n]} for n in sorted(repo.tags)]
            return self._json(200, {"branches": branches, "tags": tags, "converts": [], "pullRequests": []})
        if route == "commits" and len(rest) >= 2:
            revision = repo.resolve("/".join(rest[1:]))
            if revision is None:
                return self._revision_not_found("/".join(rest[1:]))
            return self._json(200, [self._commit_json(revision)])
        return self._error(404, None, f"Unknown API route: {'/'.join(rest)}")

    def _repo_gated(self, repo_id: str) -> bool:
        return self.server.hub._is_gated(repo_id)

    def _revision_not_found(self, rev: str) -> None:
        self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")

    @staticmethod
    def _commit_json(revision: _Revision) -> dict[str, Any]:
        date = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(revision.created))
        return {
            "id": revision.commit,
            "title": "Upload folder",
            "message": "",
            "authors": [{"user": "loopback"}],
            "date": date,
        }

    def _info(self, repo: _Repo, rev: str, query: dict[str, list[str]], gated: bool) -> None:
        revision = repo.resolve(rev)
        if revision is None:
            return self._revision_not_found(rev)
        with_blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path, repo_file in sorted(revision.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update(size=repo_file.size, blobId=repo_file.blob_sha1)
                if repo_file.lfs:
                    sibling["lfs"] = {
                        "sha256": repo_file.sha256,
                        "size": repo_file.size,
                        "pointerSize": repo_file.pointer_size,
                    }
            siblings.append(sibling)
        author, _, _ = repo.repo_id.rpartition("/")
        date = self._commit_json(revision)["date"]
        self._json(
            200,
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "author": author or None,
                "sha": revision.commit,
                "lastModified": date,
                "createdAt": date,
                "private": False,
                "gated": "manual" if gated else False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "library_name": "sentence-transformers" if "modules.json" in revision.files else None,
                "siblings": siblings,
                "usedStorage": sum(f.size for f in revision.files.values()),
            },
        )

    def _tree(self, repo: _Repo, rev: str, directory: str, query: dict[str, list[str]]) -> None:
        revision = repo.resolve(rev)
        if revision is None:
            return self._revision_not_found(rev)
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        dirs = revision.directories()
        if directory and directory not in dirs:
            return self._error(
                404, "EntryNotFound", f'{directory} does not exist on "{rev}"', {"X-Repo-Commit": revision.commit}
            )
        prefix = directory + "/" if directory else ""
        paths = [p for p in sorted(dirs | set(revision.files)) if p.startswith(prefix)]
        if not recursive:
            paths = [p for p in paths if "/" not in p[len(prefix) :]]
        # Folders first, as the hub lists them.
        entries = [revision.entry(p) for p in paths]
        entries.sort(key=lambda e: (e["type"] != "directory", e["path"]))
        self._json(200, entries)

    def _paths_info(self, repo: _Repo, rev: str) -> None:
        revision = repo.resolve(rev)
        if revision is None:
            return self._revision_not_found(rev)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if "json" in (self.headers.get("Content-Type") or ""):
            paths = json.loads(body or "{}").get("paths", [])
        else:
            paths = parse_qs(body).get("paths", [])
        entries = [e for e in (revision.entry(p.strip("/")) for p in paths) if e is not None]
        self._json(200, entries)

    # ------------------------------------------------------------------ /{repo}/resolve/{rev}/{path}
    def _resolve(self, method: str, raw_segments: list[str]) -> None:
        if method not in ("GET", "HEAD"):
            return self._error(405, None, "Method not allowed")
        at = raw_segments.index("resolve")
        repo_id = "/".join(unquote(s) for s in raw_segments[:at])
        rev = unquote(raw_segments[at + 1]) if len(raw_segments) > at + 1 else ""
        path = "/".join(unquote(s) for s in raw_segments[at + 2 :])
        fault = self._apply_fault(method, repo_id, path)
        repo = self.server.hub._repos.get(repo_id)
        if repo is None:
            return self._repo_not_found()
        if (fault and fault.gated) or self._repo_gated(repo_id):
            return self._gated(repo_id)
        revision = repo.resolve(rev)
        if revision is None:
            return self._revision_not_found(rev)
        repo_file = revision.files.get(path)
        if repo_file is None:
            return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": revision.commit})
        self._serve_file(method, revision.commit, repo_file, fault)

    def _gated(self, repo_id: str) -> None:
        if self.headers.get("Authorization"):
            message = (
                f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                f"Visit {self.server.hub.endpoint}/{repo_id} to ask for access."
            )
            return self._error(403, "GatedRepo", message)
        message = (
            f"Access to model {repo_id} is restricted. You must have access to it and be authenticated "
            "to access it. Please log in."
        )
        return self._error(401, "GatedRepo", message)

    def _serve_file(self, method: str, commit: str, repo_file: RepoFile, fault: Fault | None) -> None:
        size = repo_file.size
        start, end = 0, size - 1
        status = 200
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": commit,
            "ETag": f'"{repo_file.etag}"',
            "Content-Disposition": f'inline; filename="{repo_file.path.rsplit("/", 1)[-1]}"',
        }
        if repo_file.lfs:
            headers["X-Linked-Etag"] = f'"{repo_file.sha256}"'
            headers["X-Linked-Size"] = str(size)
        range_header = self.headers.get("Range")
        if range_header and method == "GET":
            parsed = _parse_range(range_header, size)
            if parsed is None:
                return self._send(416, {**headers, "Content-Range": f"bytes */{size}"})
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        self._send(status, headers)
        if method == "HEAD":
            return
        stop_at = end + 1
        if fault is not None and fault.drop_after_bytes is not None:
            stop_at = max(start, min(stop_at, fault.drop_after_bytes))
        with open(repo_file.source, "rb") as handle:
            handle.seek(start)
            remaining = stop_at - start
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        if fault is not None and fault.drop_after_bytes is not None and stop_at <= end:
            if fault.stall:
                self._stall()
            self._cut(fault.drop_mode)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse a single 'bytes=a-b' / 'bytes=a-' / 'bytes=-n' range; None if unsatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:  # suffix range: the last n bytes
        n = int(last)
        return (max(size - n, 0), size - 1) if n > 0 and size > 0 else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


class LoopbackHub:
    """A hub-compatible HTTP server on 127.0.0.1 serving local folders, with fault injection.

    Use as a context manager or with :meth:`start` / :meth:`stop`. Point the client at
    :attr:`endpoint` with ``HF_ENDPOINT`` (read by huggingface_hub at import time, so set it in the
    environment of a fresh process).
    """

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self._repos: dict[str, _Repo] = {}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._log_records: list[Request] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection, stalled ones included; returns promptly."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes stalled handlers, which then leave without answering
        server.shutdown()  # ends serve_forever (polls every 50 ms)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # unblock handlers busy writing to a slow client
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()  # no join: block_on_close is False
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the hub is not running")
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        """Base URL for HF_ENDPOINT, e.g. 'http://127.0.0.1:43211'."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ content
    def add_model(
        self,
        repo_id: str,
        folder: str | os.PathLike[str],
        *,
        revision_name: str | None = "main",
        commit: str | None = None,
        tag: bool = False,
        exclude: Iterable[str] = (".git", "__pycache__"),
    ) -> str:
        """Serve every file under ``folder`` as a revision of ``repo_id``; return its commit sha.

        The commit sha is ``commit`` or, by default, a sha1 of the sorted paths and blob ids, so the
        same folder always gets the same sha. Call again with another folder (or ``commit``) and
        another ``revision_name`` to give the repo several revisions; ``revision_name=None`` makes
        a revision reachable by its sha only. ``tag=True`` lists the name as a tag in ``/refs``.
        Folders and files named in ``exclude`` are skipped at any depth.
        """
        root = Path(folder)
        if not root.is_dir():
            raise NotADirectoryError(root)
        skip = set(exclude)
        files: dict[str, RepoFile] = {}
        for source in sorted(root.rglob("*")):
            relative = source.relative_to(root)
            if not source.is_file() or skip.intersection(relative.parts):
                continue
            path = relative.as_posix()
            files[path] = RepoFile.from_disk(path, source)
        if not files:
            raise ValueError(f"no files under {root}")
        if commit is None:
            listing = "".join(f"{p}\0{f.blob_sha1}\n" for p, f in sorted(files.items()))
            commit = hashlib.sha1(f"{repo_id}\n{listing}".encode()).hexdigest()
        if not _HEX40.fullmatch(commit):
            raise ValueError(f"commit must be 40 lowercase hex digits, got {commit!r}")
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo(repo_id))
            repo.revisions[commit] = _Revision(commit, files, time.time())
            if revision_name is not None:
                repo.refs[revision_name] = commit
                (repo.tags.add if tag else repo.tags.discard)(revision_name)
        return commit

    def commit(self, repo_id: str, revision: str = "main") -> str:
        """The commit sha a branch, tag or sha prefix points to."""
        resolved = self._repos[repo_id].resolve(revision)
        if resolved is None:
            raise KeyError(revision)
        return resolved.commit

    def files(self, repo_id: str, revision: str = "main") -> dict[str, RepoFile]:
        """The files served for a revision (path -> RepoFile)."""
        resolved = self._repos[repo_id].resolve(revision)
        if resolved is None:
            raise KeyError(revision)
        return dict(resolved.files)

    # ------------------------------------------------------------------ faults
    def set_fault(
        self,
        repo_id: str | None,
        path: str | None = None,
        *,
        gated: bool = False,
        drop_after_bytes: int | None = None,
        drop_mode: Literal["close", "reset"] = "close",
        stall: bool = False,
        times: int | None = None,
        methods: Collection[str] | None = None,
    ) -> Fault:
        """Arm a :class:`Fault` (see there for what each option does); returns it, ``hits`` counts."""
        if not (gated or stall or drop_after_bytes is not None):
            raise ValueError("a fault needs gated, stall or drop_after_bytes")
        fault = Fault(
            repo_id,
            path,
            {m.upper() for m in methods} if methods else None,
            times,
            gated,
            drop_after_bytes,
            drop_mode,
            stall,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, repo_id: str | None, path: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, repo_id, path):
                    fault.hits += 1
                    return fault
        return None

    def _is_gated(self, repo_id: str) -> bool:
        """A repo-wide, still armed gate: reported as "gated" by the info endpoint."""
        with self._lock:
            return any(
                f.gated and f.repo_id == repo_id and f.path is None and (f.times is None or f.hits < f.times)
                for f in self._faults
            )

    # ------------------------------------------------------------------ request log
    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, unquoted URL path without query) of every request received, in order."""
        with self._lock:
            return [(r.method, r.path) for r in self._log_records]

    @property
    def log(self) -> list[Request]:
        """Every request received, in order, with query, Range header and whether it was authorized."""
        with self._lock:
            return list(self._log_records)

    def clear_requests(self) -> None:
        with self._lock:
            self._log_records.clear()

    def _log(self, record: Request) -> None:
        with self._lock:
            self._log_records.append(record)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)
