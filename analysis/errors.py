"""User-facing errors. Every message says what went wrong and how to fix it.

The CLI turns any ``DimScopeError`` into exit code 2 with the one-line message on
stderr; the dashboard shows it with ``st.error``. Anything else is a bug.
"""

from __future__ import annotations


class DimScopeError(Exception):
    """An expected failure caused by input or environment, with an actionable message.

    Every error a user can cause is one of its subclasses (``ModelUnavailableError``,
    ``CorpusError``, ``OptionError``, ``OutputError``, ``TimeLimitError``...), so one ``except``
    shows the message and anything else is a bug. The message is one sentence that says what went
    wrong and how to fix it: show it as it is.

    Examples
    --------
    >>> from analysis import DimScopeError, corpus_from_texts
    >>> try:
    ...     corpus_from_texts("one string")
    ... except DimScopeError as error:
    ...     print(f"{type(error).__name__}: {error}")
    OptionError: Give a list of texts, not one string: for example ["first text", "second text"].
    """


class ModelUnavailableError(DimScopeError):
    """The model cannot be found or loaded here (offline, unknown id, not a model folder)."""


class ModelNotDownloadedError(ModelUnavailableError):
    """The model is on the hub but not on this machine yet, and the caller asked not to download it."""


class CorpusError(DimScopeError):
    """A corpus cannot be read: bad file, wrong format, no usable text."""


class OptionError(DimScopeError):
    """A parameter value is out of range or unknown."""


class OutputError(DimScopeError):
    """An output file cannot be written (missing or unwritable folder, full disk) or would replace an input."""


class CacheUnavailableError(DimScopeError):
    """The cache directory cannot be used (read-only, full); work continues uncached."""


class TimeLimitError(DimScopeError):
    """A request needs more encoding time than the deployment allows."""


class BusyError(DimScopeError):
    """The server has as many encodes waiting as it lets wait; try again later."""


class upload_memory:  # noqa: N801 - used as a context manager, named for what it guards
    """Turn a ``MemoryError`` while taking an upload into a CorpusError naming the file.

    Every upload reader bounds what a file may expand to before expanding it; this is the last
    line, so that an allocation the bounds missed is one message, not a traceback on every page::

        with upload_memory("texts.npz"):
            source = open_vectors(data, name="texts.npz", max_bytes=limit)
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is not None and issubclass(kind, MemoryError):
            raise CorpusError(
                f"{self.name} needs more memory than this server gives one upload; upload a smaller file."
            ) from None


def __getattr__(name: str) -> type[DimScopeError]:
    # The name of 0.2, kept for old code with a warning.
    if name == "BudgetExceededError":
        import warnings

        warnings.warn(
            "analysis.errors.BudgetExceededError is now TimeLimitError; the old name goes in a later version.",
            DeprecationWarning,
            stacklevel=2,
        )
        return TimeLimitError
    raise AttributeError(f"module 'analysis.errors' has no attribute {name!r}")
