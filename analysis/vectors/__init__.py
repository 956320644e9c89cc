"""Bring your own vectors: embeddings given as files, analysed like a model's.

* :mod:`~analysis.vectors.readers`: opening .npy (memory-mapped), .npz, Parquet, Arrow and folders
  of Parquet shards, read a chunk at a time (:mod:`~analysis.vectors.arrays` for NumPy files,
  :mod:`~analysis.vectors.arrow_files` for Arrow-based ones), with the hostile-input bounds and the
  shared reader interface of :mod:`~analysis.vectors.layout`;
* :mod:`~analysis.vectors.source`: :class:`VectorSource`, which stands where a model stands in
  the pipeline (a fingerprint from the file's bytes, raw embeddings from the file, its rows as the
  corpus). The given vectors are the raw view; normalized is their L2 normalization.

Why a subpackage of its own: a vectors file is both a model (it has a fingerprint and gives
embeddings) and a corpus (it has rows, texts and labels), so it belongs to neither
``models/`` nor ``corpora/``; it sits beside ``encoding/`` as the other way to get embeddings, and
imports only the layers below it (corpora, measures, the model fingerprint).

pyarrow and pandas are imported only when a Parquet or Arrow file is read or a corpus is built.
"""

from analysis.vectors.layout import MAX_DIMENSION, Layout, rechunk
from analysis.vectors.readers import VECTOR_EXTENSIONS, vector_format
from analysis.vectors.source import VECTOR_VIEWS, VectorSource, is_vectors, open_vectors

__all__ = [
    "MAX_DIMENSION",
    "VECTOR_EXTENSIONS",
    "VECTOR_VIEWS",
    "Layout",
    "VectorSource",
    "is_vectors",
    "open_vectors",
    "rechunk",
    "vector_format",
]
