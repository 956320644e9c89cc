"""Downloading a model from the Hugging Face hub, with a bound on silence and one-line errors.

The download runs in a child process (``python -m analysis.models.download HUB_ID [REVISION]``)
that the caller watches. Why a process and not a call: the hub client sends its repo-info and
tree-listing requests with no timeout at all, retries a stalled metadata request with a fixed
60 s timeout and backoff (minutes), and can only be stopped by ending its process. The parent
gives up when the hub has sent nothing for ``DIMSCOPE_HUB_TIMEOUT_S`` seconds (default 30),
kills the child and removes the temporary file it was writing; a download that keeps receiving
bytes is never cut, however long it takes. The child inherits the environment (``HF_ENDPOINT``,
``HF_HOME``, ``HF_TOKEN``) and reports, as JSON lines on stdout, ``ready`` once imported, the
``plan`` (files and bytes), ``alive`` whenever the hub starts an answer, and ``done`` or a
classified ``error``; growing files in the cache count as activity too.

Only the files a sentence-transformers load needs are fetched (:func:`~analysis.models.hub.needed_files`);
the snapshot is checked for completeness before it is returned, so a download cut off part-way
is never used, and the next run fetches only what is missing.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from analysis import settings
from analysis.errors import ModelNotDownloadedError, ModelUnavailableError
from analysis.models.catalog import ModelInfo
from analysis.models.hub import (
    ProgressCallback,
    has_weights,
    hub_cache_root,
    local_snapshot,
    needed_files,
    repo_cache_dir,
    unavailable_message,
)


def hub_snapshot(
    hub_id: str,
    revision: str | None,
    info: ModelInfo | None,
    *,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> tuple[Path, str]:
    """A complete snapshot of ``hub_id``: from the hub cache, else downloaded (unless ``download`` is False).

    Raises ``ModelUnavailableError`` with the reason and the fix (offline, not found, gated,
    connection dropped, timeout), or ``ModelNotDownloadedError`` when ``download`` is False and
    the model would need one.
    """
    found = local_snapshot(hub_id, revision)
    if found is not None and found.complete:
        return found.path, found.commit
    if settings.hub_offline():
        if found is not None:
            reason = (
                f"offline: HF_HUB_OFFLINE is set and its download stopped part-way, {len(found.missing)} file(s) "
                f"missing such as {found.missing[0]}"
            )
        else:
            reason = "offline: HF_HUB_OFFLINE is set and it is not cached"
        raise ModelUnavailableError(unavailable_message(hub_id, reason))
    if not download:
        raise ModelNotDownloadedError(f"{hub_id} is not downloaded yet: it needs a download from the hub.")
    return download_snapshot(hub_id, revision, known=info is not None, progress=progress)


# Interpreter start and imports, before the hub is contacted; not counted as hub silence.
STARTUP_LIMIT_S = 60.0
_POLL_S = 0.2


def download_snapshot(
    hub_id: str, revision: str | None, *, known: bool = True, progress: ProgressCallback | None = None
) -> tuple[Path, str]:
    """Download ``hub_id`` at ``revision`` into the hub cache; return (snapshot folder, commit).

    ``known``: the id is in DimScope's catalog (changes the not-found hint). ``progress(done, total)``
    gets downloaded bytes. Raises ``ModelUnavailableError`` with a one-line message.
    """
    timeout = settings.hub_timeout_s()
    repo_dir = repo_cache_dir(hub_id)
    remove_stale_partials(repo_dir, older_than_s=max(timeout, 60.0))
    outcome = _run_child(hub_id, revision, timeout, repo_dir, progress)
    if outcome.get("event") != "done":
        raise ModelUnavailableError(error_message(hub_id, revision, outcome, timeout=timeout, known=known))
    commit = Path(str(outcome["path"])).name
    found = local_snapshot(hub_id, commit)
    if found is None or not found.complete:
        missing = ", ".join(found.missing[:3]) if found else "the snapshot folder"
        raise ModelUnavailableError(
            f"The download of {hub_id} finished but {missing} is missing from {repo_dir}; run the command again."
        )
    return found.path, commit


def remove_stale_partials(repo_dir: Path, *, older_than_s: float) -> int:
    """Delete ``blobs/*.incomplete`` files untouched for ``older_than_s`` seconds (left by a killed
    download; the hub client never reuses them). A live download writes its file continuously."""
    removed = 0
    now = time.time()
    try:
        candidates = list((repo_dir / "blobs").glob("*.incomplete"))
    except OSError:
        return 0
    for path in candidates:
        try:
            if now - path.stat().st_mtime >= older_than_s:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def _blob_bytes(repo_dir: Path) -> int:
    total = 0
    try:
        with os.scandir(repo_dir / "blobs") as entries:
            for entry in entries:
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    except OSError:
        return 0
    return total


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    package_parent = str(Path(__file__).resolve().parents[2])  # so the child imports this very package
    env["PYTHONPATH"] = package_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_child(
    hub_id: str, revision: str | None, timeout: float, repo_dir: Path, progress: ProgressCallback | None
) -> dict[str, Any]:
    """Run the download child; return its last event (``done`` or ``error``) or a synthesized one."""
    command = [sys.executable, "-m", "analysis.models.download", hub_id] + ([revision] if revision else [])
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as stderr:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=_child_env(),
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True, name=f"hub-download-{hub_id}").start()
        outcome: dict[str, Any] = {}
        started = last_activity = time.monotonic()
        ready = False
        total = 0
        base = last_bytes = _blob_bytes(repo_dir)
        try:
            while True:
                try:
                    line = lines.get(timeout=_POLL_S)
                except queue.Empty:
                    line = ""
                if line is None:
                    break
                now = time.monotonic()
                if line.strip():
                    last_activity = now
                    event = _parse(line)
                    if event.get("event") == "ready":
                        ready = True
                    elif event.get("event") == "plan":
                        total = int(event.get("bytes") or 0)
                        if progress:
                            progress(0, total)
                    elif event.get("event") in ("done", "error"):
                        outcome = event
                size = _blob_bytes(repo_dir)
                if size != last_bytes:
                    last_bytes, last_activity = size, now
                    if progress and total:
                        progress(min(max(size - base, 0), total), total)
                limit = timeout if ready else max(timeout, STARTUP_LIMIT_S)
                if now - last_activity > limit:
                    proc.kill()
                    proc.wait()
                    remove_stale_partials(repo_dir, older_than_s=min(timeout, now - started) * 0.9)
                    return {"event": "error", "kind": "timeout" if ready else "startup"}
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not outcome:
            stderr.seek(0)
            tail = [line.strip() for line in stderr.read().splitlines() if line.strip()]
            detail = tail[-1] if tail else f"exit code {proc.returncode}"
            outcome = {"event": "error", "kind": "other", "detail": detail[:300]}
    if outcome.get("event") == "done" and progress and total:
        progress(total, total)
    return outcome


def _parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def error_message(
    hub_id: str, revision: str | None, outcome: dict[str, Any], *, timeout: float, known: bool = True
) -> str:
    """One line saying what went wrong with a download and what to do about it."""
    endpoint = settings.hub_endpoint()
    kind = outcome.get("kind", "other")
    status = outcome.get("status")
    detail = str(outcome.get("detail") or "").strip().splitlines()[0][:200] if outcome.get("detail") else ""
    if kind == "not_found":
        hint = "check the hub address (HF_ENDPOINT)" if known else "check the spelling (org/name)"
        return (
            f"'{hub_id}' was not found on the hub at {endpoint}: {hint}; if it is private, set HF_TOKEN "
            "to a token that can read it."
        )
    if kind == "revision":
        return f"{hub_id} has no revision '{revision}' on the hub at {endpoint}: name a branch, tag or commit it has."
    if kind == "gated":
        why = "no token was sent" if status == 401 else "the token in HF_TOKEN has no access to it"
        return (
            f"{hub_id} is gated on the hub (HTTP {status}: {why}): accept its conditions on {endpoint}/{hub_id} "
            "and set HF_TOKEN to a read token of that account."
        )
    if kind == "auth":
        return f"The hub at {endpoint} refused {hub_id} (HTTP {status}): set HF_TOKEN to a token that can read it."
    if kind == "unreachable":
        return unavailable_message(hub_id, f"the hub at {endpoint} is not reachable: {detail or 'no connection'}")
    if kind == "dropped":
        return (
            f"The connection to the hub at {endpoint} dropped while downloading {hub_id} ({detail}); the partial "
            "download is not used. Run again to resume it."
        )
    if kind == "timeout":
        return (
            f"The hub at {endpoint} sent nothing for {timeout:g} s while fetching {hub_id}, so DimScope gave up "
            f"(limit: DIMSCOPE_HUB_TIMEOUT_S={timeout:g}); nothing partial is used. Run again when the hub answers."
        )
    if kind == "startup":
        return f"The download of {hub_id} did not start within {STARTUP_LIMIT_S:g} s (the machine is overloaded?)."
    if kind == "server":
        return f"The hub at {endpoint} failed on {hub_id} (HTTP {status}); try again later."
    if kind == "not_model":
        return f"{hub_id} on the hub is not a sentence-transformers model DimScope can load: {detail}."
    if kind == "disk":
        return f"Could not write {hub_id} into the hub cache {hub_cache_root()}: {detail}."
    return f"Downloading {hub_id} from the hub at {endpoint} failed ({detail or 'unknown error'})."


# --- the child ---------------------------------------------------------------------------------------


def classify(exc: BaseException) -> dict[str, Any]:
    """An exception from the hub client -> {"kind", "status", "detail"} (used in the child process)."""
    from huggingface_hub import errors

    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")
    out: dict[str, Any] = {"status": status, "detail": detail[:300]}
    if isinstance(exc, errors.GatedRepoError):
        return {**out, "kind": "gated"}
    if isinstance(exc, errors.RepositoryNotFoundError):
        return {**out, "kind": "not_found"}
    if isinstance(exc, errors.RevisionNotFoundError):
        return {**out, "kind": "revision"}
    if isinstance(exc, errors.LocalEntryNotFoundError):  # the client's "could not reach the hub", cause attached
        cause = exc.__cause__ or exc.__context__
        if cause is not None and _is_transport_error(cause):
            return {**classify(cause), "kind": "timeout" if _is_timeout(cause) else "unreachable"}
        return {**out, "kind": "unreachable"}
    if isinstance(exc, errors.HfHubHTTPError):
        if status in (401, 403):
            return {**out, "kind": "auth"}
        if status is not None and status >= 500:
            return {**out, "kind": "server"}
        return {**out, "kind": "other"}
    if _is_transport_error(exc):
        if _is_timeout(exc):
            return {**out, "kind": "timeout"}
        if type(exc).__name__ == "ConnectError":
            return {**out, "kind": "unreachable"}
        return {**out, "kind": "dropped"}
    if isinstance(exc, errors.XetDownloadError):
        return {**out, "kind": "dropped"}
    if isinstance(exc, OSError):
        return {**out, "kind": "disk"}
    return {**out, "kind": "other"}


def _transport_error_types() -> tuple[type[BaseException], ...]:
    """httpx2's (the hub client's) and httpx's transport errors, whichever are installed."""
    types: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        try:
            types.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(types)


def _is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, _transport_error_types())


def _is_timeout(exc: BaseException) -> bool:
    return any(cls.__name__ == "TimeoutException" for cls in type(exc).__mro__)


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def _child_main(argv: list[str]) -> int:
    hub_id = argv[0]
    revision = argv[1] if len(argv) > 1 and argv[1] else None
    from huggingface_hub import HfApi, get_session, snapshot_download

    # Every answer the hub starts (retries included) tells the parent it is alive; file bytes show
    # up as growing files in the cache, which the parent watches itself.
    session = get_session()
    last_alive = [0.0]

    def alive(_response: Any) -> None:
        if time.monotonic() - last_alive[0] >= 0.5:
            last_alive[0] = time.monotonic()
            _emit(event="alive")

    session.event_hooks = {**session.event_hooks, "response": [*session.event_hooks.get("response", []), alive]}
    _emit(event="ready")
    try:
        endpoint = settings.hub_endpoint()
        info = HfApi(endpoint=endpoint).model_info(
            hub_id, revision=revision, files_metadata=True, timeout=settings.hub_timeout_s()
        )
        sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
        wanted = needed_files(sizes)
        if not has_weights(wanted):
            _emit(
                event="error",
                kind="not_model",
                detail="it has no weights in safetensors or PyTorch format (files: "
                + ", ".join(sorted(sizes)[:8])
                + ")",
            )
            return 0
        _emit(event="plan", files=len(wanted), bytes=sum(sizes[f] for f in wanted), commit=info.sha)
        path = snapshot_download(
            hub_id, revision=revision, allow_patterns=wanted, cache_dir=str(hub_cache_root()), endpoint=endpoint
        )
        _emit(event="done", path=str(path))
    except Exception as exc:  # every failure is reported to the parent, classified
        _emit(event="error", **classify(exc))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
