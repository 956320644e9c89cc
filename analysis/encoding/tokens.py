"""Counting the texts a model truncates, without encoding them.

Uses the model's fast tokenizer (Rust, ``encode_batch``) and never loads the model when it is
not loaded already, so the ONNX backend stays free of torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analysis.encoding.torch_backend import load_model, loaded_model
from analysis.models.folder import tokenizer_settings
from analysis.models.resolve import ResolvedModel
from analysis.settings import timed


@timed("truncation")
def count_truncated(resolved: ResolvedModel, texts: Sequence[str], prompt: str = "") -> int:
    """How many texts are longer than the model's maximum sequence length in tokens (and get cut).

    Counts with the model's fast tokenizer (Rust, ``encode_batch``) and never loads the model when
    it is not loaded already: 2,000 texts take ~0.05 s instead of ~1 s through the Python
    tokenizer call, and the ONNX backend stays free of torch. Falls back to the loaded model's
    tokenizer when the folder has no ``tokenizer.json``.
    """
    counter = _token_counter(resolved)
    if counter is None:
        return _count_truncated_slow(resolved, texts, prompt)
    tokenizer, limit, lower = counter
    if not limit or not texts:
        return 0
    count = 0
    for start in range(0, len(texts), 4096):
        batch = [prompt + t for t in texts[start : start + 4096]]
        if lower:
            batch = [t.lower() for t in batch]
        count += sum(len(e.ids) > limit for e in tokenizer.encode_batch(batch, add_special_tokens=True))
    return count


_COUNTERS: dict[str, tuple[Any, int, bool]] = {}


def _token_counter(resolved: ResolvedModel) -> tuple[Any, int, bool] | None:
    """(tokenizers.Tokenizer without truncation or padding, max_seq_length, lower-case?) or None."""
    cached = _COUNTERS.get(resolved.fingerprint)
    if cached is not None:
        return cached
    try:
        from tokenizers import Tokenizer

        tokenizer_file, limit, lower = tokenizer_settings(resolved.path)
        loaded = loaded_model(resolved)
        if loaded is not None:  # the limit sentence-transformers really uses
            limit = loaded.max_seq_length or 0
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception:  # noqa: BLE001 - any odd folder (no tokenizer.json, bad JSON): the slow path
        return None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    _COUNTERS[resolved.fingerprint] = (tokenizer, int(limit or 0), lower)
    return _COUNTERS[resolved.fingerprint]


def _count_truncated_slow(resolved: ResolvedModel, texts: Sequence[str], prompt: str = "") -> int:
    """The straightforward count through the loaded model's tokenizer (the reference)."""
    loaded = load_model(resolved)
    limit = loaded.max_seq_length
    tokenizer = loaded.tokenizer
    if not limit or tokenizer is None:
        return 0
    count = 0
    for start in range(0, len(texts), 512):
        batch = [prompt + t for t in texts[start : start + 512]]
        encoded = tokenizer(batch, add_special_tokens=True, truncation=False)["input_ids"]
        count += sum(len(ids) > limit for ids in encoded)
    return count
