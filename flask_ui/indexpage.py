"""Index page: counts, model, dims, pipeline, the latest failed ingests, duplicates."""

from __future__ import annotations

from itertools import islice
from typing import Any

from flask import Blueprint, render_template, request

from es_visual.query.ir import Exists, and_
from flask_ui.auth import admin_required, current_user
from flask_ui.queries import acl_node
from flask_ui.state import AppState, get_state

bp = Blueprint("indexinfo", __name__, url_prefix="/index")


def index_info(state: AppState, limit_errors: int = 25) -> dict[str, Any]:
    backend = state.backend()
    stats = backend.stats(state.index)
    spec = stats.spec
    # Failed documents are listed through the caller's ACL like everything else.
    errors = [
        {
            "id": doc_id,
            "error": (src.get("visual") or {}).get("error"),
            "path": (src.get("visual") or {}).get("path"),
        }
        for doc_id, src in islice(
            backend.iter_docs(
                state.index,
                filter=and_(Exists("visual.error"), acl_node(state.settings, current_user())),
                fields=["visual.error", "visual.path"],
                batch_size=limit_errors,
            ),
            limit_errors,
        )
    ]
    return {
        "index": stats.index,
        "backend": state.settings.backend,
        "documents": stats.documents,
        "with_visual": stats.with_visual,
        "with_errors": stats.with_errors,
        "model": spec.model if spec else None,
        "dims": spec.dims if spec else None,
        "face_model": spec.face_model if spec else None,
        "face_dims": spec.face_dims if spec else None,
        "pipeline": state.settings.pipeline,
        "vectors": dict(stats.vectors),
        "extra": {k: v for k, v in stats.extra.items()},
        "errors": errors,
    }


@bp.route("/")
@admin_required
def page() -> Any:
    from flask_ui.dups import find_groups

    state = get_state()
    return render_template(
        "index.html",
        info=index_info(state),
        dups=find_groups(state, current_user(), request.args),
    )
