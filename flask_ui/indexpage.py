"""Index page: counts, model, dims, pipeline, the latest failed ingests, duplicates.

Every count is over the documents the caller may read: an admin outside a group
does not learn how many documents that group keeps. When the caller reads the
whole index (the usual admin), the backend's own stats are shown as they are.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from flask import Blueprint, render_template, request

from es_visual.backends.base import IndexStats
from es_visual.core import schema
from es_visual.core.ir import Exists, MatchAll, Node, SearchRequest, and_
from flask_ui.auth import admin_required, current_user
from flask_ui.queries import acl_node
from flask_ui.state import AppState, get_state

bp = Blueprint("indexinfo", __name__, url_prefix="/index")


def index_info(state: AppState, limit_errors: int = 25) -> dict[str, Any]:
    backend = state.backend()
    stats = readable_stats(state, acl_node(state.settings, current_user()))
    # Failed documents are listed through the caller's ACL like everything else.
    errors = [
        {
            "id": doc_id,
            "error": schema.visual_of(src).get("error"),
            "path": schema.visual_of(src).get("path"),
        }
        for doc_id, src in islice(
            backend.iter_docs(
                state.index,
                filter=and_(Exists(schema.ERROR_FIELD), acl_node(state.settings, current_user())),
                fields=[schema.ERROR_FIELD, schema.PATH_FIELD],
                batch_size=limit_errors,
            ),
            limit_errors,
        )
    ]
    return {
        **stats.to_dict(),
        "backend": state.settings.backend,
        "pipeline": state.settings.pipeline,
        "extra": dict(stats.extra),
        "errors": errors,
    }


def readable_stats(state: AppState, acl: Node) -> IndexStats:
    """The index's stats counted over the documents ``acl`` lets through."""
    backend, index = state.backend(), state.index
    stats = backend.stats(index)
    if isinstance(acl, MatchAll) or _count(state, acl) == stats.documents:
        return stats
    documents = with_visual = with_errors = 0
    vectors = dict.fromkeys(schema.TARGETS, 0)
    children = [f"{schema.NESTED_PATHS[t]}.t" for t in schema.CHILD_TARGETS]
    fields = [schema.CONTENT_HASH_FIELD, schema.ERROR_FIELD, *children]
    for _, source in backend.iter_docs(index, filter=acl, fields=fields):
        visual = schema.visual_of(source)
        documents += 1
        with_errors += bool(visual.get("error"))
        # A document that was ever analysed keeps its vectors (a later failure adds
        # only the error), and only an analysis writes the content hash.
        if visual.get("content_hash"):
            with_visual += 1
            for target in schema.CHILD_TARGETS:
                vectors[target] += len(visual.get(target) or ())
    vectors["scene"] = with_visual
    # Backend extras (disk size, ANN sizes) describe the whole index: not shown.
    extra = {"counted_over": "the documents you may read"}
    return IndexStats(
        index=stats.index,
        documents=documents,
        with_visual=with_visual,
        with_errors=with_errors,
        spec=stats.spec,
        vectors={t: n for t, n in vectors.items() if n or t in stats.vectors},
        extra=extra,
    )


def _count(state: AppState, acl: Node) -> int:
    found = state.backend().search(SearchRequest(index=state.index, acl=acl, size=0)).total
    if found is not None:
        return found
    return sum(1 for _ in state.backend().iter_docs(state.index, filter=acl, fields=[]))


@bp.route("/")
@admin_required
def page() -> Any:
    from flask_ui.dups import find_groups

    state = get_state()
    return render_template(
        "index.html",
        info=index_info(state),
        dups=find_groups(state, current_user(), request.args),
        warmup=state.warmup.to_dict(),
    )
