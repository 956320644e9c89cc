"""Plain-language verdicts from scored variants: the Matryoshka check and what each storage choice keeps."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from analysis.measures.retrieval.variants import VariantScore

#: The rule behind :func:`matryoshka_verdict`, as the page and the CLI state it.
MATRYOSHKA_RULE = (
    "prefix-k beats random-k when its nDCG@10 exceeds the random mean by more than "
    "max(2 std of the random draws, 0.01), and truncation-friendly means it does so at more than half "
    "of the ks below d"
)
# A retention this close to 1 is reported as "costs nothing".
NO_COST = 0.999


def matryoshka_verdict(prefix_scores: Sequence[VariantScore], random_scores: Sequence[VariantScore]) -> str:
    """Plain verdict: does keeping the *first* k dimensions beat keeping k random ones?

    Rule (:data:`MATRYOSHKA_RULE`, stated in the text): at each k < d present in both, prefix-k
    "beats" random-k when its nDCG@10 exceeds the random mean by more than max(2 x the std over
    random draws, 0.01). "truncation-friendly" when it beats random at more than half of those
    ks, else "not truncation-friendly (prefix no better than random)". Entries of other
    families are ignored, so the full :func:`evaluate_variants` list may be passed twice.
    """
    prefix = {v.k: v for v in prefix_scores if v.family == "prefix"}
    random = {v.k: v for v in random_scores if v.family == "random"}
    ks = sorted(k for k in prefix if k is not None and k in random and k < prefix[k].d)
    rule = f"rule: {MATRYOSHKA_RULE}"
    if not ks:
        return f"undetermined: no k below d has both prefix-k and random-k scores ({rule})."
    wins = []
    for k in ks:
        r = random[k]
        margin = prefix[k].ndcg_at_10 - r.ndcg_at_10
        if margin > max(2.0 * (r.ndcg_at_10_std or 0.0), 0.01):
            wins.append(k)
    detail = f"prefix beats random at {len(wins)} of {len(ks)} ks below d ({', '.join(map(str, wins)) or 'none'})"
    if 2 * len(wins) > len(ks):
        return f"truncation-friendly: {detail}; {rule}."
    return f"not truncation-friendly (prefix no better than random): {detail}; {rule}."


def byte_fraction(nbytes: int, full: int) -> str:
    """``"1/4"`` when the variant takes an exact fraction 1/n of the full bytes, else a percentage.

    >>> byte_fraction(384, 1536), byte_fraction(48, 1536), byte_fraction(1524, 1536)
    ('1/4', '1/32', '99.2%')
    """
    share = Fraction(nbytes, full)
    if share.numerator == 1:
        return f"1/{share.denominator}"
    return f"{nbytes / full:.1%}"


def _keeps(v: VariantScore) -> str:
    return "n/a" if v.retention is None else f"{v.retention:.1%}"


def storage_verdict(variants: Sequence[VariantScore], dead_dims: Sequence[int], *, target: float = 0.99) -> str:
    """One paragraph from the numbers: what int8, binary, rescoring, the dead dims and truncation keep.

    ``variants``: the :func:`evaluate_variants` list (float32 first). "keeps X%" is the
    variant's nDCG@10 as a share of float32's.
    """
    by = {v.name: v for v in variants}
    full = by["float32"]
    parts = []
    if "int8" in by:
        i8 = by["int8"]
        parts.append(
            f"int8 keeps {_keeps(i8)} at {byte_fraction(i8.bytes_per_vector, full.bytes_per_vector)} of the bytes"
        )
    if "binary" in by and "binary-rescore" in by:
        b, r = by["binary"], by["binary-rescore"]
        parts.append(
            f"binary keeps {_keeps(b)} at {byte_fraction(b.bytes_per_vector, full.bytes_per_vector)}, "
            f"and {_keeps(r)} with rescoring of the top 40"
        )
    sentences = ["; ".join(parts) + "." if parts else ""]
    dead = by.get("drop-dead")
    if dead is not None and dead_dims:
        names = ", ".join(map(str, dead_dims[:8])) + (" …" if len(dead_dims) > 8 else "")
        n = len(dead_dims)
        noun = "dim" if n == 1 else "dims"
        if dead.retention is not None and dead.retention >= NO_COST:
            sentences.append(f"Dropping the {n} dead {noun} ({names}) costs nothing (keeps {_keeps(dead)}).")
        else:
            sentences.append(f"Dropping the {n} dead {noun} ({names}) keeps {_keeps(dead)}.")
    elif not dead_dims:
        sentences.append("This model has no dead dimensions on these documents.")
    float_variants = [v for v in variants if v.family in ("top-variance", "prefix", "pca") and v.dims < v.d]
    good = [v for v in float_variants if v.retention is not None and v.retention >= target]
    if good:
        best = min(good, key=lambda v: (v.bytes_per_vector, -(v.retention or 0.0), v.name))
        sentences.append(
            f"The smallest float variant keeping at least {target:.0%} is {best.name} "
            f"({_keeps(best)} at {byte_fraction(best.bytes_per_vector, full.bytes_per_vector)} of the bytes)."
        )
    elif float_variants:
        sentences.append(f"No float variant with fewer dimensions keeps {target:.0%}.")
    return " ".join(s for s in sentences if s)
