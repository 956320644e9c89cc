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
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

#: CPU flags that change which paths are fast (x86 names as Linux reports them).
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "fma")
#: Flags with native bf16 arithmetic: without them bf16 is emulated and slower than fp32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Runtimes whose version changes speed (a new version can move the fastest path).
RUNTIMES = ("torch", "onnxruntime", "openvino")
#: Forces the bf16 answer: "1" plays a CPU with native bf16, "0" one without, "" or unset reads the
#: CPU. For tests and CI runs of the other branch (``pytest --cpu-bf16``), and to keep the bf16
#: paths off on a CPU that has them. An environment variable, so a server or CLI run by a test agrees.
FORCE_BF16_ENV = "DIMSCOPE_FORCE_BF16"


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


def forced_bf16(environ: Mapping[str, str] = os.environ) -> bool | None:
    """The answer :data:`FORCE_BF16_ENV` forces (True or False), or None when the CPU decides.

    >>> forced_bf16({FORCE_BF16_ENV: "0"}), forced_bf16({FORCE_BF16_ENV: "1"}), forced_bf16({})
    (False, True, None)
    """
    value = environ.get(FORCE_BF16_ENV, "").strip()
    if value in ("", "real"):
        return None
    if value in ("0", "1"):
        return value == "1"
    raise ValueError(f"{FORCE_BF16_ENV}={value!r}: use 1 (bf16), 0 (no bf16), or leave it unset (this CPU).")


def _flags() -> frozenset[str]:
    """This CPU's flags, with the bf16 ones added or removed when :func:`forced_bf16` says so (a
    forced answer also changes :func:`machine_id`: its calibrations are kept apart)."""
    flags = _cpuinfo()[1]
    forced = forced_bf16()
    if forced is None or forced == any(flag in flags for flag in BF16_FLAGS):
        return flags
    return flags | {"avx512_bf16"} if forced else flags - set(BF16_FLAGS)


def cpu_flags() -> frozenset[str]:
    """The relevant instruction-set flags of this CPU (see :data:`RELEVANT_FLAGS`)."""
    return frozenset(f for f in _flags() if f in RELEVANT_FLAGS)


def has_bf16() -> bool:
    """True when the CPU computes bf16 natively (avx512_bf16 or AMX), where bf16 paths can be fast."""
    return any(flag in _flags() for flag in BF16_FLAGS)


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
