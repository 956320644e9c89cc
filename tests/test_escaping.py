"""The one escaper for what a user supplied (analysis.wording.plain), checked against independent
renderers: a CommonMark parser (markdown-it-py, with raw HTML on, as permissive as a renderer gets)
for Markdown, and the HTML entity decoding plotly applies to its labels."""

from __future__ import annotations

import html
import random
import string

import pytest
from markdown_it import MarkdownIt

from analysis.figures.style import escape
from analysis.wording import WORD_JOINER, plain

PAYLOADS = [
    "![x](http://evil.example/px.png)",
    "![x](http:evil.example)",
    "<img src=http://evil.example/i.png onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "<http://evil.example/auto>",
    '<a href="javascript:alert(1)">a</a>',
    "# heading\n\n- list\n> quote\n    code",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "*strong* __bold__ `code` ~~strike~~ $x^2$ :red[red] :material/home: &amp; \\*",
    "[ref]: http://evil.example/ref\n[ref]",
    "1. first\n2) second\n+ plus\n===",
]
RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def rendered_text(markdown: str) -> str:
    """What a reader sees: the HTML CommonMark makes of ``markdown``, as long as it is one plain paragraph."""
    out = RENDERER.render(markdown).strip()
    assert out.startswith("<p>") and out.endswith("</p>") and out.count("<") == 2, out
    return html.unescape(out[3:-4]).replace(WORD_JOINER, "")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_shows_the_payload_as_written(payload):
    shown = rendered_text(plain(payload))
    assert shown == " ".join(payload.splitlines())  # the same characters; line breaks become spaces
    assert "<img" not in RENDERER.render(plain(payload)) and "<a " not in RENDERER.render(plain(payload))


def test_markdown_escaping_holds_for_random_punctuation():
    rng = random.Random(19)
    alphabet = string.punctuation + string.ascii_letters + "  "
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))).strip() or "x"
        assert rendered_text(plain(text)) == text


def test_bare_urls_and_addresses_cannot_become_links():
    """GFM links bare URLs and e-mail addresses after escapes are resolved (remark-gfm, which
    Streamlit uses): an invisible word joiner breaks each pattern, and nothing else is added."""
    import re

    assert WORD_JOINER not in plain("offline: HF_HUB_OFFLINE is set")  # only where a link would start
    for text in (
        "http://evil.example/x.png",
        "HTTPS://evil.example",
        "www.evil.example",
        "me@evil.example",
        "mailto:me",
    ):
        shown = plain(text).replace("\\", "")
        assert WORD_JOINER in shown and shown.replace(WORD_JOINER, "") == text
        # GFM's autolink-literal patterns, as remark-gfm applies them to text:
        assert not re.search(r"(?i)https?://|www\.|[\w.+-]+@[\w-]+\.|mailto:\w", shown), shown


def test_text_without_markup_is_left_alone():
    assert plain("Sentence 12 about weather") == "Sentence 12 about weather"
    assert plain("Ünïcode – “quotes” 東京") == "Ünïcode – “quotes” 東京"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_plotly_labels_carry_no_tag_and_decode_to_the_payload(payload):
    escaped = plain(payload, "plotly")
    assert "<" not in escaped and ">" not in escaped
    assert html.unescape(escaped) == payload  # plotly decodes &lt; &gt; &amp; in its pseudo-HTML
    assert escape(payload) == escaped  # the figures' spelling is the same helper


def test_pages_and_figures_use_the_one_helper():
    """No second Markdown or HTML escaper grows back in the dashboard or the figures."""
    import dashboard as ui

    assert ui.plain is plain
    from tests.helpers import ROOT

    sources = [
        *ROOT.joinpath("pages").rglob("*.py"),
        *ROOT.joinpath("dashboard").rglob("*.py"),
        *ROOT.joinpath("analysis", "figures").rglob("*.py"),
    ]
    for path in sources:
        source = path.read_text(encoding="utf-8")
        assert "html.escape" not in source and ".replace('`', '')" not in source, path


def test_no_page_shows_an_error_message_unescaped():
    """An error's message may quote what a visitor supplied (a file or corpus name, a model id): every
    message a page or the kit shows with a caught exception in an f-string passes it through ``plain``."""
    import ast

    from tests.helpers import ROOT

    shown_by = {"error", "warning", "info", "success", "caption", "markdown", "write", "toast"}
    raw = []
    for path in [*ROOT.joinpath("pages").rglob("*.py"), *ROOT.joinpath("dashboard").rglob("*.py")]:
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            if call.func.attr not in shown_by:
                continue
            for arg in call.args:
                for node in ast.walk(arg):
                    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name):
                        if node.value.id in {"exc", "error", "err"}:
                            raw.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert raw == [], f"show caught errors through ui.plain(str(exc)): {raw}"
