"""Per-language spread of a multilingual corpus, and how close parallel sentences land.

Parallel sentences are rows that share a non-empty group id (translations of one utterance);
their cosine says how well the model aligns languages.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from analysis.measures.matrix import l2_normalize
from analysis.measures.stats import dead_dimensions, dimension_stats_both_views

MIN_TEXTS_PER_LANGUAGE = 2


def per_language_stats(raw: np.ndarray, languages: list[str]) -> dict[str, dict[str, Any]]:
    """Per-language per-dimension std of both views, plus dead dims, for languages with >= 2 texts."""
    by_language: dict[str, list[int]] = defaultdict(list)
    for row, language in enumerate(languages):
        by_language[language].append(row)
    out = {}
    for language in sorted(by_language):
        rows = by_language[language]
        if len(rows) < MIN_TEXTS_PER_LANGUAGE:
            continue
        frames = dimension_stats_both_views([raw[rows]], raw.shape[1])
        out[language] = {
            "n_texts": len(rows),
            "std_raw": frames["raw"]["std"].to_numpy(),
            "std_normalized": frames["normalized"]["std"].to_numpy(),
            "dead_dims": dead_dimensions(frames["normalized"]["std"]),
        }
    return out


def parallel_cosines(
    raw: np.ndarray, languages: list[str], groups: list[str], pivot: str = "english"
) -> dict[str, Any]:
    """Cosine between each text and its translation in ``pivot`` (the first of the group), per language.

    Returns {"n_pairs", "mean_cosine", "by_language": {lang: {"n_pairs", "mean_cosine", "cosines"}}}.
    When no group holds the pivot, the most common language among groups is the pivot.
    """
    members: dict[str, dict[str, int]] = defaultdict(dict)
    for row, (language, group) in enumerate(zip(languages, groups, strict=True)):
        if group:
            members[group].setdefault(language, row)
    multi = {g: m for g, m in members.items() if len(m) >= 2}
    if not multi:
        return {"n_pairs": 0, "mean_cosine": float("nan"), "by_language": {}, "pivot": pivot}
    if not any(pivot in m for m in multi.values()):
        counts: dict[str, int] = defaultdict(int)
        for m in multi.values():
            for language in m:
                counts[language] += 1
        pivot = max(sorted(counts), key=counts.__getitem__)
    unit = l2_normalize(raw)
    by_language: dict[str, list[float]] = defaultdict(list)
    for group_members in multi.values():
        anchor = group_members.get(pivot)
        if anchor is None:
            continue
        for language, row in group_members.items():
            if language != pivot:
                by_language[language].append(float(unit[anchor] @ unit[row]))
    all_cosines = [c for values in by_language.values() for c in values]
    return {
        "pivot": pivot,
        "n_pairs": len(all_cosines),
        "mean_cosine": float(np.mean(all_cosines)) if all_cosines else float("nan"),
        "by_language": {
            language: {"n_pairs": len(values), "mean_cosine": float(np.mean(values)), "cosines": values}
            for language, values in sorted(by_language.items())
        },
    }
