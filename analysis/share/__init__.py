"""Sharing a finding without a server: one self-contained HTML report, or a model-card section.

* :mod:`analysis.share.contents`: what a report is about (:class:`ShareReport`: the statistics of a
  model on a corpus, optional models to compare and a storage test) and the command that rebuilds it;
* :mod:`analysis.share.html`: the report as one HTML file that opens from disk with no network
  (Plotly's JavaScript inlined once, every chart's data in the page);
* :mod:`analysis.share.markdown`: the "Dimension health" section for a Hugging Face model card.

Both writers are pure functions of a :class:`ShareReport` and a date: the same results give the same
bytes except the date line.
"""
