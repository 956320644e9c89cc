"""``--output`` is safe: never an input, written whole or not at all, and a write error is one line.

Every CLI writer (stats as JSON, CSV, text or Parquet; embed as .npy or Parquet) goes through
one helper, :func:`analysis.cli.common.atomic_output`; it is tested here directly, then through
real ``python -m analysis`` processes on small vector files (no model needed).
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli.common import atomic_output
from analysis.errors import OutputError
from tests.helpers import ROOT, assert_bad_input, run_cli
from tests.test_cache_faults import _mount, _umount


def folder_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- the helper itself


def test_atomic_output_replaces_the_file_whole_keeping_its_permissions(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    with atomic_output(target) as handle:
        handle.write(b"new\n")
        assert target.read_text() == "old\n"  # nothing visible until the block ends
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert folder_listing(tmp_path) == ["out.csv"]


def test_atomic_output_through_a_symlink_replaces_the_file_and_keeps_the_link(tmp_path):
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    real.write_text("old\n")
    link.symlink_to(real)
    with atomic_output(link) as handle:
        handle.write(b"new\n")
    assert link.is_symlink() and real.read_text() == "new\n"


@pytest.mark.parametrize("failure", [RuntimeError("a bug halfway"), OSError(28, "No space left on device")])
def test_a_failed_write_leaves_the_old_file_and_no_partial_file(tmp_path, failure):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"the old file")
    with pytest.raises(OutputError if isinstance(failure, OSError) else RuntimeError) as caught:
        with atomic_output(target) as handle:
            handle.write(b"half of a new fi")
            raise failure
    assert target.read_bytes() == b"the old file"
    assert folder_listing(tmp_path) == ["out.parquet"]
    if isinstance(failure, OSError):
        assert "No space left on device" in str(caught.value) and "old file is unchanged" in str(caught.value)


def test_a_failed_first_write_leaves_no_file(tmp_path):
    with pytest.raises(OutputError, match="nothing was written"):
        with atomic_output(tmp_path / "new.json") as handle:
            handle.write(b"{")
            raise OSError(27, "File too large")
    assert folder_listing(tmp_path) == []


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def vectors(tmp_path) -> Path:
    path = tmp_path / "vectors.parquet"
    matrix = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    pd.DataFrame({"text": [f"t{i}" for i in range(40)], "emb": list(matrix)}).to_parquet(path)
    return path


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink", "hard link"])
def test_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path, vectors, how):
    before = vectors.read_bytes()
    if how == "same path":
        output = str(vectors)
    elif how == "relative path":
        output = os.path.relpath(vectors, ROOT / "tests")
        output = str(Path("tests") / output)  # run_cli runs in ROOT: another spelling of the same file
    elif how == "symlink":
        (tmp_path / "link.parquet").symlink_to(vectors)
        output = str(tmp_path / "link.parquet")
    else:
        os.link(vectors, tmp_path / "other-name.parquet")
        output = str(tmp_path / "other-name.parquet")
    result = run_cli("stats", "--embeddings", str(vectors), "--format", "parquet", "-o", output, "-q")
    assert_bad_input(result, "is the input", "choose another file")
    assert vectors.read_bytes() == before


def test_output_over_a_corpus_file_is_refused_before_any_work(tmp_path):
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("text\none\ntwo\nthree\n")
    # The model does not exist: the output is refused first, before anything is loaded.
    model = str(tmp_path / "no-model")
    result = run_cli("stats", "--model", model, "--corpus", str(corpus), "--format", "csv", "-o", str(corpus))
    assert_bad_input(result, "is the input")
    assert corpus.read_text() == "text\none\ntwo\nthree\n"


def test_output_inside_an_input_folder_is_refused(tmp_path, vectors):
    shards = tmp_path / "shards"
    shards.mkdir()
    vectors.rename(shards / "part-0.parquet")
    result = run_cli("stats", "--embeddings", str(shards), "--format", "parquet", "-o", str(shards / "stats.parquet"))
    assert_bad_input(result, "inside the input folder")
    assert folder_listing(shards) == ["part-0.parquet"]


@pytest.fixture
def unwritable_folder(tmp_path) -> Iterator[Path]:
    """A folder this process cannot create files in: a read-only mount as root (root ignores
    permission bits), else a folder without write permission. /sys refuses even root."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o555)
        yield folder
        folder.chmod(0o755)
    elif _mount(tmp_path / "ro", "ro,size=1m"):
        yield tmp_path / "ro"
        _umount(tmp_path / "ro")
    else:  # root in a container that cannot mount
        yield Path("/sys")


def test_an_unwritable_folder_is_one_line_and_exit_2(vectors, unwritable_folder):
    result = run_cli("stats", "--embeddings", str(vectors), "--format", "json", "-o", str(unwritable_folder / "s.json"))
    assert_bad_input(result, "cannot be written")  # was: exit 1, "internal error: PermissionError"
    assert not (unwritable_folder / "s.json").exists()


@pytest.mark.parametrize("where", ["missing folder", "a folder as output"])
def test_an_output_that_is_no_file_is_one_line_and_exit_2(tmp_path, vectors, where):
    output = tmp_path / "missing" / "s.csv" if where == "missing folder" else tmp_path / "a-folder.csv"
    if where == "a folder as output":
        output.mkdir()
    result = run_cli("stats", "--embeddings", str(vectors), "--format", "csv", "-o", str(output))
    assert_bad_input(result, "folder")


def _limit_file_size() -> None:  # in the child: writes past 64 KB fail with EFBIG instead of a signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.slow
def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_half_file(tmp_path, fresh_cache_dir):
    """A real process whose output outgrows what it may write (RLIMIT_FSIZE: the same EFBIG a
    full disk's ENOSPC would be): exit 2, one error line, the old file as it was, nothing else."""
    big = tmp_path / "big.npy"
    np.save(big, np.random.default_rng(1).normal(size=(40, 2048)).astype(np.float32))  # 328 KB: read, not written
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.csv").write_text("the old statistics\n")
    result = subprocess.run(
        [sys.executable, "-m", "analysis", "stats", "--embeddings", str(big), "--format", "csv", "-q"]
        + ["-o", str(out / "stats.csv")],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "File too large" in errors[0] and "old file is unchanged" in errors[0], result.stderr
    assert (out / "stats.csv").read_text() == "the old statistics\n"
    assert folder_listing(out) == ["stats.csv"]
    # Without the limit the same run writes the whole file, over the old one.
    whole = run_cli("stats", "--embeddings", str(big), "--format", "csv", "-q", "-o", str(out / "stats.csv"))
    assert whole.returncode == 0, whole.stderr
    rows = [line for line in (out / "stats.csv").read_text().splitlines() if not line.startswith("#")]
    assert len(rows) == 1 + 2 * 2048 and folder_listing(out) == ["stats.csv"]
