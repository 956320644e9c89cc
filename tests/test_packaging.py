"""DimScope as an installed package: `pip install .` gives the library and the `dimscope` command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers import ROOT, held_out_glosses


def _requirement_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_pyproject_and_requirements_name_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = _requirement_names(project["dependencies"])
    for extra in ("onnx", "openvino"):
        declared |= _requirement_names(extras[extra])
    pinned = _requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert declared == pinned
    assert project["scripts"]["dimscope"] == "analysis.cli.main:console_main"


def test_the_stores_extra_pins_what_the_dev_requirements_install():
    stores = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["stores"]
    dev = {line.split("#", 1)[0].strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()}
    assert stores and all("==" in pin and pin in dev for pin in stores), (stores, dev)


def _running_site_dirs() -> list[str]:
    """The site folders of the environment running the suite (a venv's, the system's, the user's),
    where its requirements are: a test venv pointed at them sees the same packages, whatever the
    environment is (a plain venv, a --system-site-packages one, Docker's system Python)."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    """A plain venv with DimScope installed from a copy of the repo, that sees the requirements of the
    environment running the suite (a .pth file adds its site folders after the venv's own)."""
    base = tmp_path_factory.mktemp("packaging")
    copy = base / "dimscope-src"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", "cache", "artifacts", "*.egg-info", "build", "__pycache__", ".hypothesis", ".pytest_cache"
        ),
    )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(copy)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    shutil.rmtree(copy)  # the installed package must not need the checkout
    python = str(venv / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    # addsitedir, not bare paths: the .pth files of those folders apply too, as they do here
    lines = [f"import site; site.addsitedir({folder!r})" for folder in _running_site_dirs()]
    (Path(purelib) / "dimscope-test-requirements.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return venv


@pytest.mark.slow  # builds and installs in a fresh environment
def test_installed_package_and_console_script_find_the_dead_dims(installed_venv, tmp_path):
    texts = held_out_glosses(9, seed=20261130)  # ~400 texts
    corpus = tmp_path / "held-out.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DIMSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)
    python = installed_venv / "bin" / "python"
    code = (
        "import json, sys, analysis; texts = open(sys.argv[1]).read().splitlines(); "
        "r = analysis.stats('sentence-transformers/all-MiniLM-L6-v2', texts); f = r.plot_std(); "
        "print(json.dumps({'file': analysis.__file__, 'dead': r.dead_dims, 'traces': len(f.data), "
        "'all': sorted(analysis.__all__) == sorted(n for n in dir(analysis) if n in analysis.__all__), "
        "'sites': [p for p in sys.path if p.endswith(('site-packages', 'dist-packages'))]}))"
    )
    run = subprocess.run(
        [str(python), "-c", code, str(corpus)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout)
    # its own site folder first, then exactly the running environment's (not the base interpreter's)
    own = [p for p in got["sites"] if p.startswith(str(installed_venv))]
    assert len(own) == 1 and got["sites"] == own + _running_site_dirs(), got["sites"]
    assert got["file"].startswith(own[0]) and got["dead"] == [127, 223, 319] and got["traces"] >= 2 and got["all"]
    cli = subprocess.run(
        [
            str(installed_venv / "bin" / "dimscope"),
            "stats",
            "--model",
            "all-MiniLM-L6-v2",
            "--corpus",
            str(corpus),
            "--format",
            "json",
            "--quiet",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert json.loads(cli.stdout)["dead_dims"] == [127, 223, 319]
    usage = subprocess.run(
        [str(installed_venv / "bin" / "dimscope"), "stats", "--bogus"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert usage.returncode == 2 and "(see: dimscope --help)" in usage.stderr


def test_the_version_is_the_same_in_pyproject_and_the_package():
    import analysis

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert analysis.__version__ == project["version"]
