"""Writing a sentence-transformers folder that stock sentence-transformers loads, atomically.

The source model's files are copied (its root files and the module folders ``modules.json``
names; not the ONNX/OpenVINO exports or duplicate weight formats of a hub snapshot), then two
modules are appended: ``Dense`` (no bias, identity activation, the variant's weight) and
``Normalize``. Or, when the variant is sentence-transformers' own ``truncate_dim``, nothing is
appended and ``config_sentence_transformers.json`` gets ``truncate_dim``.

The Dense module is written by hand in the oldest format every sentence-transformers release
reads (``config.json`` with in/out features, bias and activation; ``model.safetensors`` with
``linear.weight``): no torch import, and no config key an older release would refuse.

Everything is built in a hidden folder beside the target and renamed into place at the end: a
failure leaves nothing behind, and an existing empty target is replaced whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from analysis.errors import ModelUnavailableError, OutputError
from analysis.models.folder import read_json, read_modules

#: Weight files a snapshot may hold beside ``model.safetensors`` that sentence-transformers never reads then.
_DUPLICATE_WEIGHTS = frozenset(
    {"pytorch_model.bin", "tf_model.h5", "rust_model.ot", "flax_model.msgpack", "model.onnx", "model.ckpt.index"}
)
#: Kept under another name: the folder's README.md is the new model card.
SOURCE_README = "README_source_model.md"
ST_DENSE = "sentence_transformers.models.Dense"
ST_NORMALIZE = "sentence_transformers.models.Normalize"
IDENTITY = "torch.nn.modules.linear.Identity"


def check_output_folder(output: str | os.PathLike[str], *, flag: str = "--output") -> Path:
    """The target folder as a Path, refused before any work: a file, a folder that is not empty,
    or a parent folder that does not exist or cannot be written. ``flag`` names it in messages."""
    out = Path(output).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} '{output}' is a file; give a new or empty folder.")
    if out.is_dir() and any(out.iterdir()):
        raise OutputError(f"{flag} '{output}' is a folder that is not empty; give a new or empty folder.")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise OutputError(f"The folder that would hold {flag} '{output}' does not exist.")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{flag} '{output}' cannot be written here (no write permission on {parent}).")
    return out


@contextlib.contextmanager
def staged_folder(output: Path, *, flag: str = "--output") -> Iterator[Path]:
    """A hidden folder beside ``output`` that becomes ``output`` when the block ends without an error;
    on any error (an interrupt included) it is removed and ``output`` is left as it was. The folder
    twin of :func:`analysis.cli.common.atomic_output`; ``flag`` names it in messages."""
    target = output.resolve()
    stage = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        stage.mkdir()
    except OSError as exc:
        raise OutputError(f"{flag} '{output}' cannot be written ({exc.strerror or exc}).") from None
    try:
        yield stage
        if target.is_dir():
            target.rmdir()  # empty (checked before): a rename cannot replace a folder on every system
        os.replace(stage, target)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            raise OutputError(f"Could not write {flag} '{output}' ({exc.strerror or exc}); nothing was left.") from None
        raise


def _inside(relative: Any, what: str) -> PurePosixPath:
    """A module path from modules.json, refused when it could leave the model folder."""
    path = PurePosixPath(str(relative or ""))
    if path.is_absolute() or ".." in path.parts:
        raise ModelUnavailableError(f"modules.json names {what} path {str(relative)[:80]!r} outside the model folder.")
    return path


def copy_source_model(source: Path, stage: Path) -> list[dict[str, Any]]:
    """Copy what sentence-transformers loads of ``source`` into ``stage``; returns its modules."""
    modules = read_modules(source)
    if modules is None:
        raise ModelUnavailableError(
            f"{source} has no modules.json: only sentence-transformers folders can be exported with a layer added."
        )
    files = [p for p in source.iterdir() if p.is_file()]
    names = {p.name for p in files}
    for path in files:
        if path.name in _DUPLICATE_WEIGHTS and "model.safetensors" in names:
            continue
        shutil.copy2(path, stage / (SOURCE_README if path.name == "README.md" else path.name))
    for module in modules:
        relative = _inside(module.get("path"), "a module")
        if relative.parts and (source / relative).is_dir():
            shutil.copytree(source / relative, stage / relative, dirs_exist_ok=True)
    return modules


def ends_with_normalize(modules: list[dict[str, Any]]) -> bool:
    return str(modules[-1].get("type", "")).rsplit(".", 1)[-1] == "Normalize"


def append_dense_and_normalize(stage: Path, modules: list[dict[str, Any]], weight: np.ndarray) -> None:
    """Add ``Dense(weight)`` (no bias, identity) and ``Normalize`` after the copied modules."""
    from safetensors.numpy import save_file

    idx = max(int(m.get("idx", 0)) for m in modules) + 1
    dense, normalize = f"{idx}_Dense", f"{idx + 1}_Normalize"
    (stage / dense).mkdir()
    (stage / normalize).mkdir()
    out_features, in_features = (int(n) for n in weight.shape)
    config = {"in_features": in_features, "out_features": out_features, "bias": False, "activation_function": IDENTITY}
    write_json(stage / dense / "config.json", config)
    save_file(
        {"linear.weight": np.ascontiguousarray(weight, dtype=np.float32)}, str(stage / dense / "model.safetensors")
    )
    entries = [dict(m) for m in modules] + [
        {"idx": idx, "name": str(idx), "path": dense, "type": ST_DENSE},
        {"idx": idx + 1, "name": str(idx + 1), "path": normalize, "type": ST_NORMALIZE},
    ]
    write_json(stage / "modules.json", entries)


def update_st_config(stage: Path, extra: dict[str, Any]) -> None:
    """Merge ``extra`` into ``config_sentence_transformers.json`` (created when the source had none)."""
    path = stage / "config_sentence_transformers.json"
    config = read_json(path) if path.is_file() else {}
    config.update(extra)
    write_json(path, config)


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
