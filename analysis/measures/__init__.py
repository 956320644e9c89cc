"""Dimension math: pure numpy (and scikit-learn where stated) on embedding matrices; no models, no files.

* :mod:`~analysis.measures.stats`: per-dimension statistics of both views, the dead-dimension rule;
* :mod:`~analysis.measures.budget`: the normalized view's variance budget, spread scales, median-std splits;
* :mod:`~analysis.measures.crowding`: per-label ‖μ_c‖² and the between/within split of the variance;
* :mod:`~analysis.measures.geometry`: anisotropy, rogue and outlier dimensions, neighbour ranks;
* :mod:`~analysis.measures.spectrum`: singular values, IsoScore, effective rank;
* :mod:`~analysis.measures.selection`: top-variance-k vs PCA-k vs random-k on labelled data;
* :mod:`~analysis.measures.postprocess`: z-scoring, all-but-the-top, whitening;
* :mod:`~analysis.measures.languages`: per-language spread, parallel-sentence cosines;
* :mod:`~analysis.measures.diagnosis`: dead dimensions forced by a model's weights (given as arrays);
* :mod:`~analysis.measures.retrieval`: retrieval metrics, int8 and binary codes, every storage
  variant scored against float32, per-dimension readiness;
* :mod:`~analysis.measures.matrix`: the shared helpers (validation, L2 normalization, chunks, moments, PCA).

Import the module you need: the statistics path must not pay for pandas or scikit-learn.
"""
