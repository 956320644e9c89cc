"""The page kit: what every page would otherwise write again.

* :func:`stop_on_error`: a library error becomes one escaped message and the page stops;
* :func:`compute_box`: "not computed yet" with its Compute button;
* :func:`download` and :func:`file_name`: every download button, its file named one way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from analysis.errors import DimScopeError
from analysis.wording import plain

__all__ = ["compute_box", "download", "file_name", "stop_on_error"]

ERROR_ICON = ":material/error:"
# A part of a file name: letters, digits, dot, underscore and hyphen (safe on every system and in a
# Content-Disposition header); at most this many characters.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PART_CHARS = 60


@contextmanager
def stop_on_error(prefix: str = "") -> Iterator[None]:
    """Run the block; a :class:`DimScopeError` in it is shown as one error (its text escaped, since
    it may quote a file name or a model id the visitor gave) and stops the page.

    ``prefix`` (Markdown the page wrote, not user text) goes before the message. Any other
    exception is a bug and passes through.
    """
    try:
        yield
    except DimScopeError as exc:
        st.error(prefix + plain(str(exc)), icon=ERROR_ICON)
        st.stop()


def compute_box(
    text: str,
    *,
    key: str,
    on_click: Callable[..., None],
    args: Sequence[Any],
    label: str = "Compute",
) -> None:
    """A bordered line that says what is not computed yet and why it waits (``text``, Markdown with
    any user-given name already escaped), and the button that approves the work (``on_click`` with
    ``args``, as :func:`~dashboard.compute.approve`). The page decides whether it stops after it."""
    box = st.container(border=True, horizontal=True, vertical_alignment="center")
    box.markdown(text)
    box.button(label, key=key, on_click=on_click, args=tuple(args), icon=":material/play_arrow:")


def _safe_part(text: str) -> str:
    """One part of a file name: a model's last path segment ("org/name", "/path/to/folder"), with
    every run of other characters as one underscore, no leading dot, cut to a bounded length."""
    last = text.rstrip("/\\").replace("\\", "/").split("/")[-1]
    part = _UNSAFE.sub("_", last).strip("._")
    return part[:_PART_CHARS].rstrip("._") or "unnamed"


def file_name(model: str, subject: str, what: str, ext: str) -> str:
    """The one rule for downloaded files: ``dimscope-<model>-<corpus or task>-<what>.<ext>``, each
    part safe in a file name whatever the visitor named their upload.

    >>> file_name("sentence-transformers/all-MiniLM-L6-v2", "chatterbot-english", "normalized-stats", "csv")
    'dimscope-all-MiniLM-L6-v2-chatterbot-english-normalized-stats.csv'
    >>> file_name("/home/me/my model/", "Q&A pairs (v2).csv", "int8 recipe", "json")
    'dimscope-my_model-Q_A_pairs_v2_.csv-int8_recipe.json'
    """
    parts = [_safe_part(model), _safe_part(subject), _safe_part(what)]
    return "dimscope-" + "-".join(parts) + "." + _safe_part(ext)


def download(
    label: str,
    data: bytes | Callable[[], bytes],
    *,
    model: str,
    subject: str,
    what: str,
    ext: str,
    mime: str,
    where: Any = st,
    icon: str = ":material/download:",
    key: str | None = None,
    help: str | None = None,
) -> None:
    """A download button in ``where`` (the page, or a container such as a row) whose file is named
    by :func:`file_name`. Clicking it does not rerun the page. ``data`` may be a function: it is then
    called only when the visitor clicks (a file that costs time to build)."""
    where.download_button(
        label,
        data,
        file_name=file_name(model, subject, what, ext),
        mime=mime,
        on_click="ignore",
        icon=icon,
        key=key,
        help=help,
    )
