"""Cached reports built on the embeddings, each a typed dataclass whose ``to_dict()`` is the CLI's JSON.

* :mod:`~analysis.reports.geometry`: anisotropy, IsoScore, effective rank, rogue and outlier dims;
* :mod:`~analysis.reports.selection`: top-variance-k vs PCA-k vs random-k, with a verdict;
* :mod:`~analysis.reports.diagnosis`: the weight scan, and how it agrees with a corpus scan;
* :mod:`~analysis.reports.multilingual`: per-language spread and parallel-sentence cosines;
* :mod:`~analysis.reports.compress`: what fewer dimensions, int8 and binary keep of retrieval
  quality, their bytes, the Matryoshka check and per-dimension readiness.

Import the module you need (``import analysis`` offers them all lazily): the weight scan must not
pay for the corpus and encoding layers the other reports need.
"""
