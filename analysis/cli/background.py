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

EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C


def finish_background_work(*, quiet: bool = False, interrupted: bool = False) -> None:
    """Finish auto's preparations started by this command, with lines on stderr unless ``quiet``.
    After Ctrl-C (``interrupted``) a preparation under way is abandoned and the process ends."""
    if "analysis.encoding.preparation" not in sys.modules:  # nothing could have started one
        return
    from analysis.encoding import preparation

    unfinished = preparation.unfinished()
    if interrupted:
        if any(prep.state != preparation.PENDING for prep in unfinished):
            _abandon()
        return
    for prep in unfinished:
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
            _abandon()
        took = f" (prepared in {time.monotonic() - started:.0f} s)" if prep.state == preparation.DONE else ""
        lines.say(f"{prep.describe()}{took}")


def _abandon() -> None:
    """End the process now: the output is complete, and the interpreter's own exit would wait for
    the preparation's thread (or, stopped mid-call in onnxruntime or openvino, abort noisily)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


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
