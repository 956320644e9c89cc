"""The CLI's multilingual report and the Languages page analyse the same rows and show the same numbers.

Both sample each language to at most ``MAX_PER_LANGUAGE`` texts through the library's
``sample_per_language`` (issue 20: the page used to sample on its own while the CLI did not, so the
same report gave two answers). The sampling rule is checked here against a hand-written selection.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.corpora import Corpus, load_builtin_corpus
from analysis.errors import OptionError
from analysis.reports.multilingual import MAX_PER_LANGUAGE, sample_per_language
from tests.helpers import assert_bad_input, charts, metrics, ok, open_page, run_cli, texts

MULTILINGUAL = "chatterbot-multilingual"


def test_sampling_keeps_translated_rows_first_then_corpus_order():
    corpus = Corpus(
        "mixed",
        ("e1", "e2", "f1", "e3", "f2", "g1", "e4", "f3"),
        languages=("en", "en", "fr", "en", "fr", "de", "en", "fr"),
        groups=("", "a", "", "b", "a", "b", "", "b"),
    )
    sample = sample_per_language(corpus, 2)
    # en: the grouped rows e2 (group a: en, fr) and e3 (group b: en, de, fr; the wider group first);
    # fr: f3 (b) and f2 (a); de: g1. Kept in corpus order.
    assert sample.texts == ("e2", "e3", "f2", "g1", "f3")
    assert sample.groups == ("a", "b", "a", "b", "b") and sample.languages == ("en", "en", "fr", "de", "fr")
    assert sample_per_language(sample, 2) is sample  # nothing more to cut: the same corpus
    assert sample_per_language(corpus, None) is corpus
    for bad in (0, -1, 2.5, "3", True):
        with pytest.raises(OptionError, match="max_per_language"):
            sample_per_language(corpus, bad)  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_cli_and_the_languages_page_give_the_same_numbers(tiny_model_dir, fresh_cache_dir):
    corpus = load_builtin_corpus(MULTILINGUAL)
    assert corpus.languages is not None
    sizes = {language: corpus.languages.count(language) for language in set(corpus.languages)}
    assert max(sizes.values()) > MAX_PER_LANGUAGE  # the default cap cuts this corpus

    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    result = run_cli("multilingual", "--model", str(tiny_model_dir), "--format", "json", "-q", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["corpus"] == MULTILINGUAL and report["max_per_language"] == MAX_PER_LANGUAGE
    assert report["n_texts_in_corpus"] == len(corpus)
    assert report["n_texts"] == sum(min(n, MAX_PER_LANGUAGE) for n in sizes.values())
    assert {row["language"]: row["n_texts"] for row in report["languages"]} == {
        language: min(n, MAX_PER_LANGUAGE) for language, n in sizes.items() if n >= 2
    }
    assert report["parallel"]["n_pairs"] > 0

    at = open_page("pages/languages.py", {"model": str(tiny_model_dir), "corpus": MULTILINGUAL})
    ok(at)
    if any(b.key == "languages_compute" for b in at.button):  # the page asks before encoding; the CLI cached it
        at.button(key="languages_compute").click().run()
        ok(at)
    assert any(f"{report['n_texts']:,} of {len(corpus):,} texts" in c for c in texts(at.caption))
    shown = metrics(at)
    assert shown["Languages"] == str(len(report["languages"]))
    assert shown["Parallel pairs"] == f"{report['parallel']['n_pairs']:,}"
    assert shown["Mean cosine with the translation"] == f"{report['parallel']['mean_cosine']:.3f}"
    normalized, raw = json.loads(charts(at)[0].proto.spec)["data"][:2]
    assert normalized["x"] == [f"{row['language']} ({row['n_texts']})" for row in report["languages"]]
    np.testing.assert_allclose(normalized["y"], [row["median_std_normalized"] for row in report["languages"]])
    np.testing.assert_allclose(raw["y"], [row["median_std_raw"] for row in report["languages"]])
    parallel = json.loads(charts(at)[1].proto.spec)["data"][0]
    by_language = report["parallel"]["by_language"]
    assert sorted(parallel["y"]) == pytest.approx(sorted(v["mean_cosine"] for v in by_language.values()))


@pytest.mark.slow
def test_the_cli_takes_a_cap_or_all_and_refuses_anything_else(tiny_model_dir, fresh_cache_dir, tmp_path):
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    rows = [("the cat sits", "en"), ("a dog runs", "en"), ("birds sing", "en"), ("le chat", "fr"), ("un chien", "fr")]
    path = tmp_path / "langs.csv"
    path.write_text("text,language\n" + "".join(f"{t},{lang}\n" for t, lang in rows))
    n_texts = {}
    for cap in ("2", "all"):
        args = ("multilingual", "--model", str(tiny_model_dir), "--corpus", str(path), "--max-per-language", cap)
        result = run_cli(*args, "--format", "json", "-q", env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads(result.stdout)
        n_texts[cap] = report["n_texts"], [row["n_texts"] for row in report["languages"]]
    assert n_texts == {"2": (4, [2, 2]), "all": (5, [3, 2])}
    for bad in ("0", "many", "-3"):
        result = run_cli("multilingual", "--model", str(tiny_model_dir), "--max-per-language", bad, "-q", env=env)
        assert_bad_input(result, "--max-per-language")
