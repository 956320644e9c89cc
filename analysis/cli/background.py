"""Work the library started in the background during a command, finished before the process exits.

A model's first ``auto`` run on a machine encodes with torch fp32 and prepares auto's faster path
in the background (:mod:`analysis.encoding.preparation`). A command line process would end before
that preparation does, and every run would start it again: so once the command's output is
written, the process finishes it, says so on stderr, and the next run uses the faster path.
Ctrl-C skips it (the output is complete; the next run prepares again).
"""

from __future__ import annotations

import os
import sys
import time


def finish_background_work(*, quiet: bool = False) -> None:
    """Finish auto's preparations started by this command, with lines on stderr unless ``quiet``."""
    if "analysis.encoding.preparation" not in sys.modules:  # nothing could have started one
        return
    from analysis.encoding import preparation

    for prep in preparation.unfinished():
        started = time.monotonic()
        prep.start()  # requested by a run that never reached an encode: start it now
        lines = _Lines(enabled=not quiet)
        lines.say(f"auto: preparing a faster path for {prep.name} for the next run ({preparation.WHAT}; Ctrl-C skips)")
        try:
            shown = 0
            while not prep.wait(0.5):
                for step in prep.steps[shown:]:
                    lines.step(f"auto: {step.what} (step {step.done + 1} of {step.total})")
                shown = len(prep.steps)
        except KeyboardInterrupt:
            lines.say(f"auto: skipped; {prep.name} encodes with torch fp32 until a run finishes preparing it")
            # The output is complete; end now rather than let the interpreter's exit stop the
            # preparation's native threads (onnxruntime, openvino) mid-call, which aborts noisily.
            sys.stdout.flush()
            os._exit(130)
        took = f" (prepared in {time.monotonic() - started:.0f} s)" if prep.state == preparation.DONE else ""
        lines.say(f"{prep.describe()}{took}")


class _Lines:
    """Lines on stderr; the steps are redrawn in place on a terminal, one line each elsewhere."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.tty, self.open = enabled, sys.stderr.isatty(), False

    def say(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(("\r\033[K" if self.open else "") + text + "\n")
            sys.stderr.flush()
            self.open = False

    def step(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write(("\r\033[K" if self.open else "") + text)
            self.open = True
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
