"""Process-level settings every encoder shares: the progress callback type and thread behaviour."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

#: ``progress(done, total)``: called once with ``(0, total)`` and after each encoded chunk.
ProgressCallback = Callable[[int, int], None]
#: ``on_step(what, done, total)``: steps of longer work as they start ("exporting the model to
#: ONNX", "loading openvino bf16"), ``done`` of ``total`` steps finished.
StepCallback = Callable[[str, int, int], None]


class StepCounter:
    """Counts steps for a :data:`StepCallback`: each step started ends the one before it; ``total``
    may be revised as the work learns what is left.

    >>> seen = []
    >>> steps = StepCounter(lambda *step: seen.append(step))
    >>> steps.total = 2
    >>> steps.start("export"); steps.start("load"); steps.finish()
    >>> seen, steps.done
    ([('export', 0, 2), ('load', 1, 2)], 2)
    """

    def __init__(self, on_step: StepCallback | None) -> None:
        self.on_step, self.done, self.total, self.started = on_step, 0, 0, False

    def start(self, what: str) -> None:
        if self.started:
            self.done += 1
        self.started = True
        self.total = max(self.total, self.done + 1)
        if self.on_step is not None:
            self.on_step(what, self.done, self.total)

    def finish(self) -> None:
        """End the step under way (if any)."""
        if self.started:
            self.done, self.started = self.done + 1, False
        self.total = max(self.total, self.done)


def prefer_passive_openmp() -> None:
    """Make OpenMP threads sleep instead of spin while waiting, unless the user chose otherwise.

    torch's OpenMP pool spins at every barrier by default. On 2 shared cores with other work
    running, that made encoding 3-9x slower (300 texts: 25.7 s spinning vs 2.8 s passive at load
    7); on an idle machine the two are within noise. It must be set before torch is imported.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
