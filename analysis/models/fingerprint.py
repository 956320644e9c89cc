"""Fingerprints: a deterministic id of a model's exact files, used in every cache key."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
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

    Hashing 400 MB of weights takes about a second, so the digest is remembered (see
    :func:`files_sha256`).
    """
    return "sha256:" + files_sha256(_fingerprint_files(folder), folder)[:32]


def files_sha256(files: Sequence[Path], root: Path) -> str:
    """Hex sha256 over each file's name (relative to ``root``) and bytes, in the order given.

    The digest is remembered in ``<models dir>/fingerprints.json`` under the files' sizes and
    modification times, so asking again for unchanged files reads nothing but their ``stat``.
    Model folders and embedding files (``analysis.vectors``) are fingerprinted this way.
    """
    stats = [(file, file.stat()) for file in files]
    stat_key = hashlib.sha256(
        json.dumps([[str(f.relative_to(root)), st.st_size, st.st_mtime_ns] for f, st in stats]).encode()
    ).hexdigest()
    memo_path = settings.models_dir() / "fingerprints.json"
    memo = read_json(memo_path)
    memo_key = f"sha256|{root}|{stat_key}"
    if isinstance(memo.get(memo_key), str):
        return memo[memo_key]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(8 * 1024 * 1024), b""):
                digest.update(block)
        digest.update(b"\0")
    value = digest.hexdigest()
    memo = read_json(memo_path)  # hashing takes a while: keep what other processes wrote meanwhile
    memo[memo_key] = value
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo, indent=0, sort_keys=True))
        os.replace(tmp, memo_path)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return value
