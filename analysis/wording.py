"""Small wording helpers shared by every layer (a leaf module: it imports nothing from DimScope, so
the CLI and the figure builders can use it without loading the corpus readers)."""

from __future__ import annotations


def plural(n: int, word: str, plural: str | None = None) -> str:
    """>>> plural(1, "text"), plural(1629, "text"), plural(2, "entry", "entries")
    ('1 text', '1,629 texts', '2 entries')"""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"
