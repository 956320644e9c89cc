"""Deployment policy: private (a local user, everything open) or public (a shared demo).

Public mode is on with ``DIMSCOPE_PUBLIC=1`` or a JSON config file named by
``DIMSCOPE_CONFIG`` holding ``{"public": true, ...}``. In public mode:

* only allow-listed models load, and free-text model ids and folders are refused;
* ``trust_remote_code`` is allowed only for allow-listed models pinned to a revision;
* uploads are capped (10 MB, 5,000 texts by default) and long texts are truncated, with counts;
* uploaded embeddings are capped too (32 MB, 5,000 vectors by default; the rest left out, counted);
* each request has an encoding time limit, with a clear message when it is exceeded.

Example config::

    {"public": true, "allowed_models": ["sentence-transformers/all-MiniLM-L6-v2"],
     "pinned_revisions": {"nomic-ai/nomic-embed-text-v1.5": "<commit sha>"},
     "max_upload_mb": 10, "max_texts": 5000, "encode_time_limit_seconds": 60,
     "max_vector_upload_mb": 32, "max_vector_rows": 5000}
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import ModelNotDownloadedError, ModelUnavailableError, OptionError

# What only the server's owner can act on (install a package, fix the configuration) goes to the
# server's log in public mode, not to the visitor; without a handler, Python prints it on stderr.
OWNER_LOG = logging.getLogger("dimscope.owner")
_TOLD_OWNER: set[str] = set()

PUBLIC_DEFAULT_MODELS = ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2")


@dataclass(frozen=True)
class Policy:
    public: bool = False
    allowed_models: tuple[str, ...] = ()
    pinned_revisions: dict[str, str] = field(default_factory=dict)
    max_upload_bytes: int = 200 * 1024 * 1024
    max_texts: int | None = None
    max_chars: int = 10_000
    encode_time_limit_s: float | None = None
    max_vector_upload_bytes: int = 200 * 1024 * 1024  # embeddings files (.npy, .npz, .parquet, .arrow)
    max_vector_rows: int | None = None  # rows past it are left out (counted)

    @property
    def upload_cap_mb(self) -> int:
        """The largest file any upload widget takes here, in Streamlit's unit (MiB, whole)."""
        return math.ceil(max(self.max_upload_bytes, self.max_vector_upload_bytes) / 2**20)

    def for_visitor(self, owner_message: str, visitor_message: str) -> str:
        """What a visitor is told of a problem only the server's owner can fix. Private mode: the
        user is the owner and gets the advice. Public mode: the advice goes to the server's log
        and the visitor gets ``visitor_message``."""
        if not self.public:
            return owner_message
        if owner_message not in _TOLD_OWNER:  # once per process, not once per page view
            _TOLD_OWNER.add(owner_message)
            OWNER_LOG.warning(owner_message)
        return visitor_message

    @property
    def allowed_set(self) -> set[str] | None:
        """The allow-list for ``resolve_model(allowed=...)``; None in private mode."""
        return set(self.allowed_models) if self.public else None

    def may_trust_remote_code(self, hub_id: str) -> bool:
        """Private: the user decides. Public: only allow-listed models pinned to a revision."""
        if not self.public:
            return True
        return hub_id in self.allowed_models and bool(self.pinned_revisions.get(hub_id))

    def resolve(self, spec: str, *, allow_trust_remote_code: bool = False, download: bool = True, progress=None):
        """``resolve_model`` under this policy (``download`` and ``progress`` as there)."""
        from analysis.models import catalog_info, resolve_model

        info = catalog_info(spec)
        hub_id = info.hub_id if info else spec
        trust = allow_trust_remote_code
        if trust and not self.may_trust_remote_code(hub_id):
            raise ModelUnavailableError(
                f"{hub_id} runs custom code, which this public demo allows only for allow-listed models pinned "
                "to a revision."
            )
        if self.public and info and info.needs_trust_remote_code and self.may_trust_remote_code(hub_id):
            trust = True
        try:
            return resolve_model(
                spec,
                allow_trust_remote_code=trust,
                revision=self.pinned_revisions.get(hub_id) if self.public else None,
                allowed=self.allowed_set,
                download=download,
                progress=progress,
            )
        except ModelNotDownloadedError:
            raise  # the caller downloads it
        except ModelUnavailableError as exc:
            if not (self.public and hub_id in self.allowed_models):
                raise  # private: the user is the owner; not allow-listed: the message lists what is
            # An allow-listed model that cannot load here (not installed, no network): the fix
            # ("pip install ...", "connect to the internet") is the owner's to apply.
            name = info.short_name if info else spec
            visitor = f"{name} is not available on this demo right now; choose another model."
            raise ModelUnavailableError(self.for_visitor(f"{hub_id}: {exc}", visitor)) from None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _positive(value: object, name: str, cast=float):
    try:
        number = cast(value)
    except (TypeError, ValueError):
        raise OptionError(f"DimScope config: {name} must be a positive number, got {value!r}.") from None
    if not number > 0:
        raise OptionError(f"DimScope config: {name} must be a positive number, got {value!r}.")
    return number


# Config keys of 0.2 that now have another name: still read, with a note in the owner's log.
_RENAMED_KEYS = {"encode_budget_seconds": "encode_time_limit_seconds"}


def _encode_time_limit(config: dict) -> float:
    """``encode_time_limit_seconds`` (default 120), or its old name ``encode_budget_seconds``."""
    new = _RENAMED_KEYS["encode_budget_seconds"]
    if "encode_budget_seconds" in config:
        if new in config:
            raise OptionError(f"DimScope config: give {new} only (encode_budget_seconds is its old name).")
        OWNER_LOG.warning(
            "DimScope config: encode_budget_seconds is now named %s; the old name goes in a later version.", new
        )
        return float(_positive(config["encode_budget_seconds"], "encode_budget_seconds"))
    return float(_positive(config.get(new, 120), new))


def load_policy(environ: dict[str, str] | None = None) -> Policy:
    """The policy from ``DIMSCOPE_PUBLIC`` / ``DIMSCOPE_CONFIG``. A bad config is an OptionError."""
    env = os.environ if environ is None else environ
    config: dict = {}
    path = env.get("DIMSCOPE_CONFIG", "").strip()
    if path:
        try:
            config = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise OptionError(f"DimScope config {path} cannot be read: {exc.strerror or exc}.") from None
        except ValueError as exc:
            raise OptionError(f"DimScope config {path} is not valid JSON: {exc}.") from None
        if not isinstance(config, dict):
            raise OptionError(f"DimScope config {path} must hold a JSON object.")
    public = _truthy(env.get("DIMSCOPE_PUBLIC")) or bool(config.get("public", False))
    if not public:
        return Policy()
    allowed = config.get("allowed_models", list(PUBLIC_DEFAULT_MODELS))
    if not isinstance(allowed, list) or not all(isinstance(m, str) and m for m in allowed):
        raise OptionError("DimScope config: allowed_models must be a list of hub ids.")
    pinned = config.get("pinned_revisions", {})
    if not isinstance(pinned, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in pinned.items()):
        raise OptionError("DimScope config: pinned_revisions must map hub ids to revision strings.")
    return Policy(
        public=True,
        allowed_models=tuple(allowed),
        pinned_revisions=dict(pinned),
        max_upload_bytes=int(_positive(config.get("max_upload_mb", 10), "max_upload_mb") * 1024 * 1024),
        max_texts=int(_positive(config.get("max_texts", 5000), "max_texts", int)),
        max_chars=int(_positive(config.get("max_chars", 2000), "max_chars", int)),
        encode_time_limit_s=_encode_time_limit(config),
        max_vector_upload_bytes=int(
            _positive(config.get("max_vector_upload_mb", 32), "max_vector_upload_mb") * 1024 * 1024
        ),
        max_vector_rows=int(_positive(config.get("max_vector_rows", 5000), "max_vector_rows", int)),
    )


_POLICY: Policy | None = None


def current_policy() -> Policy:
    """The process-wide policy, read once from the environment."""
    global _POLICY
    if _POLICY is None:
        _POLICY = load_policy()
    return _POLICY


def reset_policy() -> None:
    """Forget the cached policy (tests change the environment)."""
    global _POLICY
    _POLICY = None
