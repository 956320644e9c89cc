"""Process-level settings every encoder shares: the progress callback type and thread behaviour."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

#: ``progress(done, total)``: called once with ``(0, total)`` and after each encoded chunk.
ProgressCallback = Callable[[int, int], None]


def prefer_passive_openmp() -> None:
    """Make OpenMP threads sleep instead of spin while waiting, unless the user chose otherwise.

    torch's OpenMP pool spins at every barrier by default. On 2 shared cores with other work
    running, that made encoding 3-9x slower (300 texts: 25.7 s spinning vs 2.8 s passive at load
    7); on an idle machine the two are within noise. It must be set before torch is imported.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
