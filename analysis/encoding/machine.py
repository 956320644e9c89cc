"""The CPU at hand: the instruction sets that decide which encoding paths can be fast, and an id
that names this machine (CPU, cores, runtime versions) in the calibration record.

Read from ``/proc/cpuinfo`` and package metadata: nothing heavy is imported (no torch, no openvino),
so a cached request can resolve ``backend="auto"`` for free.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

#: CPU flags that change which paths are fast (x86 names as Linux reports them).
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "fma")
#: Flags with native bf16 arithmetic: without them bf16 is emulated and slower than fp32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Runtimes whose version changes speed (a new version can move the fastest path).
RUNTIMES = ("torch", "onnxruntime", "openvino")


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first CPU listed in /proc/cpuinfo; ("", {}) elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "", frozenset()
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    return (name.group(1).strip() if name else platform.processor() or ""), frozenset(
        flags.group(1).split() if flags else ()
    )


def cpu_flags() -> frozenset[str]:
    """The relevant instruction-set flags of this CPU (see :data:`RELEVANT_FLAGS`)."""
    return frozenset(f for f in _cpuinfo()[1] if f in RELEVANT_FLAGS)


def has_bf16() -> bool:
    """True when the CPU computes bf16 natively (avx512_bf16 or AMX), where bf16 paths can be fast."""
    return any(flag in _cpuinfo()[1] for flag in BF16_FLAGS)


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def runtime_versions() -> dict[str, str | None]:
    """Installed versions of the runtimes (from package metadata: nothing is imported)."""
    versions: dict[str, str | None] = {}
    for name in RUNTIMES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_summary() -> dict[str, Any]:
    """What a calibration depends on: CPU model, its relevant flags, usable cores, runtime versions."""
    return {
        "cpu": _cpuinfo()[0],
        "arch": platform.machine(),
        "flags": sorted(cpu_flags()),
        "bf16": has_bf16(),
        "cores": usable_cores(),
        "runtimes": runtime_versions(),
    }


def machine_id() -> str:
    """A short id of :func:`machine_summary`: equal on machines where a calibration carries over.

    >>> len(machine_id()) == 16 and machine_id() == machine_id()
    True
    """
    summary = machine_summary()
    text = "|".join(f"{key}={summary[key]}" for key in sorted(summary))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
