"""The tables the statistics pages show, as typed ``pd.DataFrame``s: per-dimension statistics, one
dimension's top and bottom texts and means per label, the model comparison summary, dead dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.measures import stats as stats_module

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the functions that build frames
    import pandas as pd


def top_bottom_texts(
    values: Any, texts: Sequence[str], labels: Sequence[str] | None = None, n: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` texts with the highest and the lowest values (ties broken by corpus order).

    Each table has the columns ``rank``, ``value``, ``text`` (and ``label`` when labels exist),
    plus ``row``, the text's position in the corpus.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size != len(texts):
        raise ValueError(f"{v.size} values for {len(texts)} texts")
    n = max(0, min(int(n), v.size))
    filled_hi = np.where(np.isfinite(v), v, -np.inf)
    filled_lo = np.where(np.isfinite(v), v, np.inf)
    top = np.argsort(-filled_hi, kind="stable")[:n]
    bottom = np.argsort(filled_lo, kind="stable")[:n]

    def frame(idx: np.ndarray) -> pd.DataFrame:
        import pandas as pd

        data: dict[str, Any] = {"rank": np.arange(1, idx.size + 1), "value": v[idx], "text": [texts[i] for i in idx]}
        if labels is not None:
            data["label"] = [labels[i] for i in idx]
        data["row"] = idx
        return pd.DataFrame(data)

    return frame(top), frame(bottom)


def label_means(values: Any, labels: Sequence[str]) -> pd.DataFrame:
    """Per label: ``count``, ``mean``, ``std`` (population) and ``sem``, sorted by mean ascending."""
    import pandas as pd

    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size != len(labels):
        raise ValueError(f"{v.size} values for {len(labels)} labels")
    frame = pd.DataFrame({"label": [str(label) for label in labels], "value": v})
    grouped = frame.groupby("label", sort=True)["value"]
    out = pd.DataFrame({"count": grouped.count(), "mean": grouped.mean(), "std": grouped.std(ddof=0)}).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"].clip(lower=1))
    return out.sort_values(["mean", "label"], kind="stable").reset_index(drop=True)


def stats_table(stats: pd.DataFrame, dead_dims: Sequence[int]) -> pd.DataFrame:
    """Per-dimension statistics for display and download: adds ``dead`` and ``std_to_median``."""
    out = stats.copy()
    out.insert(1, "dead", out["dim"].isin(list(dead_dims)))
    out.insert(4, "std_to_median", stats_module.std_ratio(out["std"].to_numpy()))
    return out


def compare_summary(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model from ``StatsResult``-like objects (``raw``, ``normalized``, ``dead_dims``, ...)."""
    import pandas as pd

    rows = []
    for name, result in results.items():
        raw_std = result.raw["std"].to_numpy(dtype=np.float64)
        norm_std = result.normalized["std"].to_numpy(dtype=np.float64)
        rows.append(
            {
                "model": name,
                "dimension": int(result.dimension),
                "texts": int(result.n_texts),
                "dead dims": len(result.dead_dims),
                "dead dim indices": ", ".join(str(d) for d in result.dead_dims) or "none",
                "median std (raw)": float(np.nanmedian(raw_std)),
                "mean std (raw)": float(np.nanmean(raw_std)),
                "median std (normalized)": float(np.nanmedian(norm_std)),
                "mean std (normalized)": float(np.nanmean(norm_std)),
            }
        )
    return pd.DataFrame(rows)


#: How the dead-dimension table shows its stds: they span 30 orders of magnitude (4.56e-32 to 9.81e-06),
#: and "%g" would print some as 0.00000981 and others as 4.56e-32; one notation lines them up.
DEAD_TABLE_NUMBER_FORMAT = "%.2e"


def dead_dims_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per dead dimension per model, with its std in both views and relative to the median
    (shown with :data:`DEAD_TABLE_NUMBER_FORMAT`)."""
    import pandas as pd

    rows = []
    for name, result in results.items():
        ratio = stats_module.std_ratio(result.normalized["std"].to_numpy())
        raw_std = result.raw.set_index("dim")["std"]
        norm_std = result.normalized.set_index("dim")["std"]
        for d in result.dead_dims:
            rows.append(
                {
                    "model": name,
                    "dim": int(d),
                    "std (raw)": float(raw_std.loc[d]),
                    "std (normalized)": float(norm_std.loc[d]),
                    "std / median (normalized)": float(ratio[d]),
                }
            )
    return pd.DataFrame(rows, columns=["model", "dim", "std (raw)", "std (normalized)", "std / median (normalized)"])
