"""Fingerprints: a deterministic id of a model's exact files, used in every cache key."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from analysis import settings
from analysis.models.folder import read_json

_SKIPPED_FOR_FINGERPRINT = {"README.md", ".gitattributes", ".complete"}
_SKIPPED_DIRS = {"onnx", "openvino", ".cache", "__pycache__"}


def _fingerprint_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and path.name not in _SKIPPED_FOR_FINGERPRINT and not (set(rel.parts[:-1]) & _SKIPPED_DIRS):
            files.append(path)
    return files


def folder_fingerprint(folder: Path) -> str:
    """sha256 over every model file's relative name and content (weights, tokenizer, pooling config).

    Hashing 400 MB of weights takes about a second, so the result is remembered in
    ``<cache>/fingerprints.json`` under the files' sizes and modification times.
    """
    files = _fingerprint_files(folder)
    stat_key = hashlib.sha256(
        json.dumps([[str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns] for f in files]).encode()
    ).hexdigest()
    memo_path = settings.models_dir() / "fingerprints.json"
    memo = read_json(memo_path)
    memo_key = f"{folder}|{stat_key}"
    if isinstance(memo.get(memo_key), str):
        return memo[memo_key]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(folder)).encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(8 * 1024 * 1024), b""):
                digest.update(block)
        digest.update(b"\0")
    fingerprint = "sha256:" + digest.hexdigest()[:32]
    memo[memo_key] = fingerprint
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo, indent=0, sort_keys=True))
        os.replace(tmp, memo_path)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return fingerprint
