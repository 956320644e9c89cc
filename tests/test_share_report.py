"""``python -m analysis report``: the self-contained HTML report and the model card's section.

The quick tests run the command in this process on the tiny model (dims 3 and 17 dead): bytes that
repeat but for the date, names and texts that stay text, the Markdown table, bad input in one line.
The browser test is the issue's own check: the real all-MiniLM-L6-v2 on held-out texts, the file
opened from file:// in headless Chromium with every request recorded.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from analysis.cli.main import main
from tests.tiny_models import tiny_corpus

DATE_LINE = re.compile(r"^<p class=\"generated\">Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC</p>$")
MAX_BYTES = 8 * 1024 * 1024


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["report", "-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


@pytest.fixture()
def hostile_corpus(tmp_path) -> Path:
    """A CSV whose file name, labels and texts are markup: none of it may act as markup in the report."""
    path = tmp_path / "<b>bold & 'q'.csv"
    texts = tiny_corpus(60, seed=4)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i, text in enumerate(texts):
            hostile = "</script><script>alert(1)</script>" if i % 7 == 0 else ""
            label = "<img src=x onerror=alert(2)>" if i % 2 else "plain|label"
            writer.writerow([f"{text} {hostile}".strip(), label])
    return path


def _body(page: str) -> str:
    """The page after its head (the head holds plotly.js, whose source may contain any string)."""
    return page.split("</head>", 1)[1]


@pytest.mark.slow  # two runs of the CLI in process, one of them encoding
def test_html_is_the_same_bytes_but_for_the_date_and_escapes_what_the_user_gave(
    capsys, tmp_path, tiny_model_dir, tiny_clean_dir, hostile_corpus
):
    first, second = tmp_path / "a" / "report.html", tmp_path / "b" / "report.html"
    for out in (first, second):
        out.parent.mkdir()
        args = ["--model", str(tiny_model_dir), "--corpus", str(hostile_corpus), "--text-column", "text"]
        args += ["--compare", str(tiny_clean_dir)]
        code, _, err = _run(capsys, *args, "--label-column", "label", "-o", str(out))
        assert code == 0, err
    a, b = first.read_text(encoding="utf-8"), second.read_text(encoding="utf-8")
    changed = [(x, y) for x, y in zip(a.splitlines(), b.splitlines(), strict=True) if x != y]
    assert all(DATE_LINE.match(x) and DATE_LINE.match(y) for x, y in changed), changed
    # The first run computed, the second read the cache: same bytes once the date line is set equal.
    assert re.sub(DATE_LINE.pattern, "", a, flags=re.M) == re.sub(DATE_LINE.pattern, "", b, flags=re.M)

    banners = re.findall(r"\* plotly\.js (?:\([^)]*\) )?v[\d.]+", a)  # plotly.js inlined once, in the head
    assert banners == ["* plotly.js (cartesian - minified) v4.1.1"] and a.index(banners[0]) < a.index("</head>")
    body = _body(a)
    assert "<img" not in body and "<b>bold" not in body and "alert(1)</script>" not in body
    assert "&lt;b&gt;bold &amp; &#x27;q&#x27;.csv" in body  # the file name, shown as written
    # Scripts: plotly.js in the head, then exactly one per chart (their JSON escapes '<' and '/').
    charts = re.findall(r'<div id="chart-(\d+)" class="plotly-graph-div"', body)
    assert charts == [str(i) for i in range(1, len(charts) + 1)] and len(charts) >= 4
    assert body.count("<script") == len(charts)
    assert "\\u003cimg" not in body and "[&lt;img src=x onerror=alert(2)&gt;]" in body  # labels reach charts as text
    for section in ("headline", "spread", "compare", "statistics", "method", "reproduce"):
        assert f'<section id="{section}">' in body
    assert 'Dead dimensions: <span class="dead">3, 17</span>' in body
    assert "python -m analysis report --model" in body and "--compare" in body and "-o report.html" in body
    assert "<td>bert-clean</td><td>32</td><td>60</td><td>0</td><td>none</td>" in body  # its summary row
    assert "http://" not in body and "https://" not in body  # nothing to fetch, nothing to follow


@pytest.mark.slow  # encodes a corpus and both sides of a task
def test_markdown_card_names_the_dead_dims_rule_corpus_and_version(capsys, tmp_path, tiny_model_dir):
    import tomllib

    version = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["version"]
    queries, documents = tiny_corpus(40, seed=6), tiny_corpus(40, seed=7)
    pairs = tmp_path / "notes_[x](y).csv"  # the corpus and its task: statistics of the answers, pairs to retrieve
    with pairs.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer"])
        writer.writerows(zip(queries, documents, strict=True))
    card_file = tmp_path / "card.md"
    args = ["--model", str(tiny_model_dir), "--corpus", str(pairs), "--format", "markdown"]
    task = ["--query-column", "question", "--document-column", "answer"]
    code, _, err = _run(capsys, *args, *task, "-o", str(card_file))
    assert code == 0, err
    card = card_file.read_text(encoding="utf-8")
    assert card.startswith("## Dimension health\n") and "![" not in card and "<" not in card
    assert f"DimScope {version}:" in card and "`notes_[x](y).csv` (40 texts" in card  # named, never a link
    assert "Retrieval on `notes_[x](y).csv` (40 queries, 40 documents)" in card
    assert "<a " not in _rendered_code(card)[1]
    rows = dict(re.findall(r"^\| ([^|]+?) \| (.+?) \|$", card, flags=re.M))
    assert rows["Dimensions"] == "32" and rows["Dead dimensions"] == "2: 3, 17"
    assert rows["Dead rule"] == "normalized std below 1% of the median std"
    assert float(rows["Median std (normalized)"]) > 0
    assert 0 < float(rows["‖μ‖² (squared norm of the mean normalized vector)"]) <= 1
    assert rows["Effective dimensions (participation ratio)"].endswith("of 32")
    row = re.compile(r"^\| ([\w-]+) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+)% \|$", flags=re.M)
    storage = {m[0]: m[1:] for m in row.findall(card)}
    # Bytes per vector from d = 32 alone: float32 4 d, int8 d, binary d / 8, drop-dead 4 (d - 2).
    expected = {"float32": 128, "int8": 32, "binary": 4, "drop-dead": 120}
    assert {name: int(v[0]) for name, v in storage.items()} == expected
    assert float(storage["float32"][2]) == 100.0 and all(0 < float(v[2]) <= 150 for v in storage.values())


HOSTILE_NAMES = [
    "sentence-transformers/all-MiniLM-L6-v2",
    "notes_[x](y).csv",
    "ev|l `x` ``y`` <script>alert(1)</script> & #*z*_w",
    "# heading * item | cell | <b>bold</b> &amp; \\escaped",
    "`starts and ends with a backtick`",
    " spaced ",
    "https://example.com/a_b and me@example.com",
]


def _rendered_code(markdown: str) -> tuple[list[str], str]:
    """The texts of the code spans in ``markdown`` rendered by markdown-it (CommonMark plus GFM
    tables, as a model card is read), and the HTML."""
    import html

    from markdown_it import MarkdownIt

    page = MarkdownIt("commonmark").enable("table").render(markdown)
    return [html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", page, flags=re.S)], page


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_code_span_renders_exactly_the_name(name):
    from analysis.share.markdown import code_span

    span = code_span(name)
    codes, page = _rendered_code(
        f"Measured: model {span} on the corpus {span}.\n\n| Measure | Value |\n| --- | --- |\n| a | 1 |\n"
    )
    assert codes == [name, name], page
    assert "<script" not in page and "<b>" not in page and "<a " not in page and "<h1" not in page
    assert "<td>1</td>" in page  # the table after it still reads
    if "`" not in name:
        assert span == f"`{name}`" if name.strip() == name else span == f"` {name} `"  # the raw text reads as written


def test_the_markdown_card_shows_names_as_written(capsys, tmp_path, tiny_model_dir):
    """``sentence\\-transformers/all\\-MiniLM\\-L6\\-v2`` once: names are code spans, read cleanly raw and rendered."""
    import shutil

    model = tmp_path / "ev|l `x` <script>alert(1)<script> & #*z*_w.v1-2"
    shutil.copytree(tiny_model_dir, model)
    corpus = tmp_path / "my_notes-v1.2.txt"
    corpus.write_text("\n".join(tiny_corpus(20, seed=5)), encoding="utf-8")
    code, card, err = _run(capsys, "--model", str(model), "--corpus", str(corpus), "--format", "markdown")
    assert code == 0, err
    assert "on the corpus `my_notes-v1.2.txt` (" in card and "\\" not in card.split("Rebuild it:")[0]
    assert f"model `` {model.name} `` (fingerprint" in card
    codes, page = _rendered_code(card)
    assert codes[0] == model.name and codes[2] == "my_notes-v1.2.txt", codes
    assert "<script" not in page and "<em>" not in page
    assert "<td>Dead dimensions</td>" in page and "<td>2: 3, 17</td>" in page


def test_bad_input_is_one_line_and_an_existing_report_is_left_whole(capsys, tmp_path, tiny_model_dir):
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(tiny_corpus(40, seed=8)) + "\n", encoding="utf-8")
    kept = tmp_path / "kept.html"
    kept.write_text("an earlier report", encoding="utf-8")
    model = ["--model", str(tiny_model_dir)]
    _one_error_line(*_run(capsys, *model, "--corpus", str(tmp_path / "missing.txt"), "-o", str(kept))[::2])
    _one_error_line(*_run(capsys, "--model", str(tmp_path / "no-model"), "--corpus", str(corpus), "-o", str(kept))[::2])
    assert kept.read_text(encoding="utf-8") == "an earlier report"
    _one_error_line(*_run(capsys, *model, "--corpus", str(corpus), "-o", str(tmp_path / "no" / "r.html"))[::2], "exist")
    _one_error_line(*_run(capsys, *model, "--corpus", str(corpus), "--format", "markdown", "-o", str(kept))[::2], ".md")
    _one_error_line(*_run(capsys, *model, "--corpus", str(corpus), "--query-column", "q", "-o", str(kept))[::2], "both")
    _one_error_line(
        *_run(capsys, *model, "--corpus", str(corpus), "--task", str(tmp_path / "no.csv"), "-o", str(kept))[::2]
    )
    many = [word for i in range(8) for word in ("--compare", f"m{i}")]
    _one_error_line(*_run(capsys, *model, "--corpus", str(corpus), *many, "-o", str(kept))[::2], "at most")
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_reproduce_command_is_quoted_and_keeps_one_order():
    from analysis.share.contents import reproduce_command

    line = reproduce_command(
        model="m", corpus="my file.csv", compare=["b", "a"], text_column="t", output_format="markdown", output="c.md"
    )
    assert line == (
        "python -m analysis report --model m --corpus 'my file.csv' --text-column t --compare b --compare a "
        "--format markdown -o c.md"
    )


@pytest.mark.slow  # encodes 60 texts with the tiny model
def test_an_uploads_report_is_built_in_memory_and_nothing_reaches_the_shared_cache(tmp_path, tiny_model_dir):
    """What the dashboard's button does in public mode: an upload's results live in the session's
    memory (``store_for`` gives a SessionStore), and the report is bytes built from them."""
    from analysis.corpora import Corpus
    from analysis.models import resolve_model
    from analysis.pipeline import EncodeOptions, get_stats
    from analysis.pipeline.cache import EmbeddingStore
    from analysis.pipeline.memory_cache import SessionStore
    from analysis.share.contents import ShareReport
    from analysis.share.html import html_bytes

    shared = EmbeddingStore(tmp_path / "shared")
    before = shared.volume_bytes()
    session = SessionStore(shared)
    corpus = Corpus("my upload.csv", tuple(tiny_corpus(60, seed=9)), source="upload:my upload.csv")
    model = resolve_model(str(tiny_model_dir))
    result = get_stats(model, corpus, options=EncodeOptions(backend="torch"), store=session)
    page = html_bytes(ShareReport(result=result, command="python -m analysis report"), date="today").decode()
    assert 'Dead dimensions: <span class="dead">3, 17</span>' in page and "plotly-graph-div" in page
    assert shared.volume_bytes() == before and session.keys()  # the session held the vectors; the disk nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared"]  # and no file was written anywhere here
    shared.close()


def test_the_vendored_cartesian_bundle_is_plotly_pys_own_version_and_draws_what_reports_draw():
    """The vendored plotly.js must move with the plotly Python package (see analysis/share/vendor/README.md)."""
    from importlib.resources import files

    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    from analysis.share.html import CARTESIAN_BUNDLE, plotly_bundle, vendored_bundle_version

    vendored = files("analysis.share").joinpath(CARTESIAN_BUNDLE).read_bytes().decode("utf-8")
    assert vendored_bundle_version(vendored) == get_plotlyjs_version(), "update analysis/share/vendor (its README)"
    assert plotly_bundle({"scatter", "heatmap", "bar", "box"}) == vendored
    assert plotly_bundle({"scatter", "scatter3d"}) == get_plotlyjs()  # a type it lacks: the full bundle
