"""What the pages share, beside them (not a page itself, and not in the library):

* :mod:`~dashboard.urlstate`: query parameters <-> a validated :class:`UrlState` (pure);
* :mod:`~dashboard.policy`: private or public-demo limits (pure);
* :mod:`~dashboard.state`: the session's state, the URL, and widgets bound to both;
* :mod:`~dashboard.sidebar`: model, corpus and view pickers, and the page :class:`Context`;
* :mod:`~dashboard.navigation`: page paths and the navigation guard;
* :mod:`~dashboard.compute`: computation with progress, approval of expensive work, errors;
* :mod:`~dashboard.kit`: the page kit (the error guard, the Compute box, download buttons);
* :mod:`~dashboard.selection`: which corpus or uploaded embeddings are chosen (:class:`Selection`);
* :mod:`~dashboard.stores`: a vector store on this server opened as embeddings (private mode only).

Pages import this package as ``ui``; the names below are the whole page-facing API.
"""

from analysis.wording import plain
from dashboard.compute import (
    Progress,
    approve,
    approve_task,
    backend_caption,
    deployment_policy,
    embeddings_or_stop,
    enough_texts_or_stop,
    limit_uploads,
    load_embeddings,
    load_stats,
    pending_reason,
    plot,
    preload_model,
    resolve,
    retrieval_task_or_stop,
    start_stats_ahead,
    stats_or_stop,
    store_for,
    subject,
    task_pending_reason,
    upload_limit_mb,
)
from dashboard.kit import compute_box, download, file_name, stop_on_error
from dashboard.navigation import (
    CONTEXT,
    PAGE_COMPARE,
    PAGE_COMPRESS,
    PAGE_CORPUS,
    PAGE_DIAGNOSIS,
    PAGE_DIMENSION,
    PAGE_EXPLORE,
    PAGE_GEOMETRY,
    PAGE_LANGUAGES,
    PAGE_OVERVIEW,
    PAGE_SELECTION,
    context,
    ensure_navigation,
)
from dashboard.selection import Selection
from dashboard.sidebar import Context, compare_defaults, offered_models, sidebar
from dashboard.state import (
    bind,
    builtin_names,
    link_params,
    pair_uploads,
    set_widget,
    show_notes,
    state,
    sync_from_url,
    update,
    uploads,
    vector_uploads,
    widget_key,
    widget_value,
)
from dashboard.stores import StoreRequest, opened_store, store_forms

__all__ = [
    "CONTEXT",
    "PAGE_COMPARE",
    "PAGE_CORPUS",
    "PAGE_DIAGNOSIS",
    "PAGE_DIMENSION",
    "PAGE_COMPRESS",
    "PAGE_EXPLORE",
    "PAGE_GEOMETRY",
    "PAGE_LANGUAGES",
    "PAGE_OVERVIEW",
    "PAGE_SELECTION",
    "Context",
    "Progress",
    "Selection",
    "StoreRequest",
    "approve",
    "approve_task",
    "backend_caption",
    "bind",
    "builtin_names",
    "compare_defaults",
    "compute_box",
    "context",
    "download",
    "embeddings_or_stop",
    "enough_texts_or_stop",
    "ensure_navigation",
    "file_name",
    "link_params",
    "pair_uploads",
    "load_embeddings",
    "load_stats",
    "limit_uploads",
    "offered_models",
    "opened_store",
    "pending_reason",
    "plain",
    "plot",
    "preload_model",
    "deployment_policy",
    "resolve",
    "retrieval_task_or_stop",
    "set_widget",
    "show_notes",
    "sidebar",
    "state",
    "start_stats_ahead",
    "stats_or_stop",
    "stop_on_error",
    "store_forms",
    "task_pending_reason",
    "store_for",
    "subject",
    "sync_from_url",
    "update",
    "upload_limit_mb",
    "uploads",
    "vector_uploads",
    "widget_key",
    "widget_value",
]
