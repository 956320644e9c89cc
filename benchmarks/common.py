"""Shared pieces: figure records, machine description, process timing, benchmark corpora."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

PASS, FAIL, INFO, SKIP, TODO, ERROR = "pass", "FAIL", "info", "skip", "todo", "ERROR"


@dataclass
class Figure:
    """One published number. ``verdict`` compares ``value`` with the target when there is one."""

    target: int  # the target number (1-7: the first performance issue; 8-9: vectors at scale and Ray)
    name: str
    value: float | None
    unit: str
    target_text: str = ""
    verdict: str = INFO
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def shown_value(self) -> str:
        if self.value is None:
            return "-"
        v = self.value
        if self.unit == "x":
            return f"{v:.2f}x"
        if self.unit == "s":
            return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"
        if self.unit == "MB":
            return f"{v:.1f} MB"
        if self.unit == "ratio":
            return f"{v:.3f}"
        return f"{v:g} {self.unit}".strip()


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the absolute figures depend on."""
    cpu = platform.processor() or ""
    flags: list[str] = []
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        cpu = match.group(1).strip() if match else cpu
        fl = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        if fl:
            flags = sorted(f for f in fl.group(1).split() if f.startswith(("avx", "amx")) or f in ("fma",))
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    except (ValueError, OSError):
        pass
    versions = {}
    for name in ("numpy", "pandas", "torch", "sentence-transformers", "transformers", "onnxruntime", "streamlit"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - not installed
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "simd": flags,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def compile_project() -> None:
    """Byte-compile the app's own modules, as they are on any machine after the app's first start
    (and in the Docker image). With PYTHONDONTWRITEBYTECODE set, as here, a start would otherwise
    compile every module from source, a cost the floor app (no modules of its own) never pays."""
    import compileall

    for folder in ("analysis", "dashboard", "pages"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def base_env(cache_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment benchmark processes run in: offline hub, a chosen cache folder."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ROOT))
    env.pop("DIMSCOPE_DEBUG", None)
    if cache_dir is not None:
        env["DIMSCOPE_CACHE_DIR"] = str(cache_dir)
    # Packaged models are extracted (and ONNX files exported) once per machine, not per request.
    from analysis import settings

    env.setdefault("DIMSCOPE_MODELS_DIR", str(settings.models_dir()))
    env.update(extra)
    return env


@dataclass
class ProcessRun:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_process(args: list[str], env: dict[str, str], timeout: float = 1800, cwd: Path = ROOT) -> ProcessRun:
    """Run a whole process: wall time from spawn to exit, CPU time and peak RSS from ``wait4``."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        start = time.perf_counter()
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out_f, stderr=err_f, text=True)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise RuntimeError(f"{' '.join(args[:4])}... timed out after {timeout} s")
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        return ProcessRun(
            wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out_f.read(), err_f.read()
        )


def check(run: ProcessRun, what: str) -> ProcessRun:
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{what} exited with {run.returncode}: {tail}")
    return run


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def short_texts(n: int) -> list[str]:
    """``n`` distinct short English texts: WordNet definitions when installed, else chatterbot
    utterances, topped up with generated sentences (deterministic)."""
    texts: list[str] = []
    seen: set[str] = set()

    def add(items: Any) -> None:
        for t in items:
            t = " ".join(str(t).split())
            if t and t not in seen and len(t) <= 200:
                seen.add(t)
                texts.append(t)
                if len(texts) >= n:
                    return

    try:
        from analysis.corpora import load_builtin_corpus

        add(load_builtin_corpus("wordnet-glosses", per_label=max(50, n // 40 + 1)).texts)
        if len(texts) < n:
            add(load_builtin_corpus("chatterbot-english").texts)
    except Exception:  # noqa: BLE001 - a machine without the optional corpora
        pass
    if len(texts) < n:
        import random

        rng = random.Random(0)
        words = (
            "the a model dimension vector corpus text short sentence reads measures shows every each "
            "quiet bright river city engineer number small large weather music garden window"
        ).split()
        while len(texts) < n:
            add([" ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize() + "."])
    return texts[:n]


def write_lines(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def json_dump(value: Any, path: Path) -> None:
    path.write_text(json.dumps(value, indent=1, default=str) + "\n", encoding="utf-8")


PYTHON = sys.executable
