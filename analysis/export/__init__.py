"""From diagnosis to deployment: the compress report's chosen variant as things a user deploys.

* :mod:`~analysis.export.variants`: a variant name (drop-dead, top-variance-K, prefix-K, pca-K)
  and its map, fitted exactly as the compress report fits it;
* :mod:`~analysis.export.folder`: a sentence-transformers folder, written atomically;
* :mod:`~analysis.export.card`: its README.md model card;
* :mod:`~analysis.export.trimmed`: :func:`export_model`, the whole export;
* :mod:`~analysis.export.vectors_file`: the corpus's vectors as the variant stores them, in Parquet;
* :mod:`~analysis.export.recipe`: what the page shows (choices, the command line, a zip of the folder);
* :mod:`~analysis.export.store_sinks`: a point written into a new LanceDB table or FAISS index, and
  searched there through the store's own API;
* :mod:`~analysis.export.store_check`: DimScope's predicted recall@10 and MRR@10 beside what that
  search measures (``compress --write``).
"""

from analysis.export.trimmed import PRECISIONS, ExportResult, export_model
from analysis.export.variants import FAMILIES, ExportVariant, parse_variant

__all__ = ["FAMILIES", "PRECISIONS", "ExportResult", "ExportVariant", "export_model", "parse_variant"]
