"""Encoding: texts -> pooled (pre-Normalize) float32 vectors, by torch, ONNX or OpenVINO, and the two views.

* :mod:`~analysis.encoding.backends`: the one dispatch (:func:`encode_raw`) and the offered backends;
* :mod:`~analysis.encoding.torch_backend`, :mod:`~analysis.encoding.onnx_backend` and
  :mod:`~analysis.encoding.openvino_backend`: the encoders;
* :mod:`~analysis.encoding.calibration`: ``backend="auto"``, the fastest path within tolerance here;
* :mod:`~analysis.encoding.machine`: CPU features and the machine id the calibration is keyed by;
* :mod:`~analysis.encoding.tokens`: counting truncated texts with the fast tokenizer;
* :mod:`~analysis.encoding.views`: raw and L2-normalized views;
* :mod:`~analysis.encoding.runtime`: the progress callback type and thread behaviour.

Importing this package imports neither torch, onnxruntime nor openvino.
"""

from analysis.encoding.backends import OFFERED_BACKENDS, available_backends, encode_raw, preload
from analysis.encoding.runtime import ProgressCallback, prefer_passive_openmp
from analysis.encoding.tokens import count_truncated
from analysis.encoding.views import MODEL_VIEWS, l2_normalize, view_of

__all__ = [
    "MODEL_VIEWS",
    "OFFERED_BACKENDS",
    "ProgressCallback",
    "available_backends",
    "count_truncated",
    "encode_raw",
    "l2_normalize",
    "prefer_passive_openmp",
    "preload",
    "view_of",
]
