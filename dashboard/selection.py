"""Which corpus (or which uploaded embeddings) the sidebar has chosen, as one value.

The URL and the session keep the choice as one string: a built-in corpus by its name,
``upload:<name>`` for a corpus uploaded in this session, ``vectors:<name>`` for uploaded embeddings
(their rows are the corpus and their vectors stand where a model's would). This module is the one
place that writes or reads those prefixes; everything else holds a :class:`Selection`.
Pure (no Streamlit).

>>> chosen = Selection.parse("upload:my file.csv")
>>> chosen.kind, chosen.name, chosen.is_upload
('upload', 'my file.csv', True)
>>> str(chosen)
'upload:my file.csv'
>>> Selection.parse("chatterbot-english") == Selection.builtin("chatterbot-english")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Selection"]

Kind = Literal["builtin", "upload", "vectors"]
_PREFIXES: dict[Kind, str] = {"upload": "upload:", "vectors": "vectors:"}


@dataclass(frozen=True)
class Selection:
    """A corpus choice: ``kind`` says where it lives, ``name`` is its name there.

    ``str(selection)`` is the string the URL and the session hold, and
    ``Selection.parse(str(selection)) == selection`` for every selection.
    """

    kind: Kind
    name: str

    def __post_init__(self) -> None:
        if self.kind == "builtin" and self.name.startswith(tuple(_PREFIXES.values())):
            # It would come back from the URL as an upload: no built-in corpus is named so.
            raise ValueError(f"A built-in corpus name cannot start with an upload prefix: {self.name!r}")

    @classmethod
    def builtin(cls, name: str) -> Selection:
        return cls("builtin", name)

    @classmethod
    def upload(cls, name: str) -> Selection:
        """A corpus uploaded in this session (``upload:<name>``)."""
        return cls("upload", name)

    @classmethod
    def vectors(cls, name: str) -> Selection:
        """Embeddings uploaded in this session (``vectors:<name>``)."""
        return cls("vectors", name)

    @classmethod
    def parse(cls, value: str) -> Selection:
        """The selection a URL or session string names; a string without a known prefix is a
        built-in corpus name (whether it exists is for the caller to check)."""
        for kind, prefix in _PREFIXES.items():
            if value.startswith(prefix):
                return cls(kind, value[len(prefix) :])
        return cls("builtin", value)

    def __str__(self) -> str:
        return _PREFIXES.get(self.kind, "") + self.name

    @property
    def is_builtin(self) -> bool:
        return self.kind == "builtin"

    @property
    def is_upload(self) -> bool:
        return self.kind == "upload"

    @property
    def is_vectors(self) -> bool:
        return self.kind == "vectors"
