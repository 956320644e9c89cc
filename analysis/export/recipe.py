"""What the page shows for an export: the variants on offer, the exact command line, the store settings and a zip."""

from __future__ import annotations

import io
import shlex
import zipfile
from pathlib import Path
from typing import Any

from analysis.reports.store_settings import store_settings

PROG = "python -m analysis"


def export_choices(dimension: int, ks: list[int], dead_dims: list[int]) -> list[str]:
    """The variants an export offers for a report: drop-dead (when there are dead dimensions), then each
    scored k below the model's width as top-variance, prefix and pca."""
    out = ["drop-dead"] if dead_dims else []
    for family in ("pca", "top-variance", "prefix"):
        out += [f"{family}-{k}" for k in ks if k < dimension]
    return out


def export_command(
    model: str, corpus: str, variant: str, precision: str, output: str = "trimmed-model", *, columns: dict[str, str]
) -> str:
    """The command line that exports ``variant``: every value shell-quoted, so it can be pasted as shown."""
    parts = [PROG, "export", "--model", model, "--corpus", corpus]
    for option, value in columns.items():
        parts += [f"--{option}", value]
    parts += ["--variant", variant]
    if precision != "float32":
        parts += ["--precision", precision]
    parts += ["-o", output]
    return " ".join(parts[:3] + [shlex.quote(p) for p in parts[3:]])


def point_settings(report: Any, variant: str, precision: str) -> dict[str, Any]:
    """Store settings at the chosen point: ``variant``'s width at ``precision``, with the retention the
    report measured there (int8 and binary with rescoring are measured at the model's full width)."""
    k = report.dimension - len(report.dead_dims) if variant == "drop-dead" else int(variant.rsplit("-", 1)[1])
    measured = {"float32": variant, "int8": "int8", "binary": "binary-rescore"}[precision]
    scored = {v.name: v for v in report.variants}
    retention = scored[measured].retention if measured in scored else None
    return store_settings(k, precision, retention)


def zip_folder(folder: Path) -> bytes:
    """The folder's files as a zip, paths relative to it under the folder's name (stored, not deflated:
    model weights hardly compress, and storing is fast)."""
    buffer = io.BytesIO()
    root = Path(folder)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, str(Path(root.name) / path.relative_to(root)))
    return buffer.getvalue()
