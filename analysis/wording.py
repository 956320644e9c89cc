"""Small wording helpers shared by every layer (a leaf module: it imports nothing from DimScope, so
the CLI and the figure builders can use it without loading the corpus readers)."""

from __future__ import annotations

import html
import re
from typing import Literal


def plural(n: int, word: str, plural: str | None = None) -> str:
    """>>> plural(1, "text"), plural(1629, "text"), plural(2, "entry", "entries")
    ('1 text', '1,629 texts', '2 entries')"""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


# Every ASCII punctuation character: CommonMark lets each be escaped with a backslash, and this
# covers what Streamlit's Markdown acts on besides (``$`` math, ``:red[...]`` and ``:icon:`` directives).
_MARKDOWN_ACTIVE = re.compile(r"([!-/:-@\[-`{-~])")
# Where GFM's autolink literals start (on the escaped text): "://", "www.", "mailto:", "xmpp:", "@".
_AUTOLINK_TRIGGER = re.compile(r"(?<=:)(?=\\/)|(?<=www)(?=\\\.)|(?<=mailto\\:)|(?<=xmpp\\:)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain(text: object, markup: Literal["markdown", "plotly"] = "markdown") -> str:
    r"""``text`` shown as written, never as markup: the one escaper for whatever a user supplied
    (file and column names, labels, texts) and for messages that quote it.

    ``markdown`` (``st.markdown``, captions, info/warning/error boxes, progress and widget labels):
    every ASCII punctuation character is backslash-escaped and line breaks become spaces, so no
    image, link, HTML tag, heading, list or directive can form. ``plotly`` (chart titles, axis and
    hover text, legend names, which plotly renders as a subset of HTML): ``&``, ``<`` and ``>``
    become entities.

    >>> print(plain("![x](px.png) set HF_TOKEN"))
    \!\[x\]\(px\.png\) set HF\_TOKEN
    >>> print(plain("<a href='javascript:x'>A & B</a>", "plotly"))
    &lt;a href='javascript:x'&gt;A &amp; B&lt;/a&gt;
    """
    if markup == "plotly":
        return html.escape(str(text), quote=False)
    escaped = _MARKDOWN_ACTIVE.sub(r"\\\1", " ".join(str(text).splitlines()))
    # GFM turns bare URLs and e-mail addresses into links after escapes are resolved; an invisible
    # word joiner where such a link would start keeps them text (it changes nothing shown).
    return _AUTOLINK_TRIGGER.sub(WORD_JOINER, escaped)
