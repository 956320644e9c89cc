"""Engines: where statistics run when one process is not enough.

The default engine is this process (:mod:`analysis.pipeline`, streamed in row chunks, cached).
:mod:`~analysis.engines.ray_data` runs the same statistics code on Ray Data, locally or on a
cluster; Ray is an optional extra and is imported only when that engine is used.
"""
