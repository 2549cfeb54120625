"""Jobs page: ingest a server-side folder (under the allowed roots) or re-analyze the
index, in the background; the page polls ``/api/jobs/<id>`` for progress."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from flask_ui.auth import admin_required, current_user
from flask_ui.jobrunner import Job, JobRefused, new_job_id, resolve_root, with_readers
from flask_ui.state import AppState, get_state

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def ingest_roots() -> list[Path]:
    return [Path(p) for p in current_app.config.get("INGEST_ROOTS") or ()]


def start_job(state: AppState, user: str, form: dict[str, Any]) -> Job:
    """Validate a job request from the page or the API and start it; ``JobRefused`` if not."""
    from es_visual.ingest.sources import iter_folder, iter_index
    from es_visual.workflows import ingest, load_pipeline

    kind = str(form.get("kind") or "folder")
    force = str(form.get("force") or "").lower() in ("1", "true", "on", "yes")
    readers = [r.strip() for r in str(form.get("readers") or "").split(",") if r.strip()]
    public = state.settings.public_principal
    for reader in readers:
        if not re.fullmatch(r"(user|group):[\w.@-]+", reader) and reader != public:
            raise JobRefused(f"reader {reader!r}: write user:NAME, group:NAME or {public}")
    settings, index = state.settings, state.index
    backend = state.backend()

    if kind == "folder":
        root = resolve_root(str(form.get("path") or ""), ingest_roots())
        source_label = str(root)

        def source() -> Any:
            return with_readers(iter_folder(root), readers, settings.acl_field)

        def count() -> int:
            return sum(1 for _ in iter_folder(root))
    elif kind == "reindex":
        if backend.visual_spec(index) is None:
            raise JobRefused(f"index {index!r} has nothing to re-analyze yet")
        source_label = f"index {index} (visual.path)"

        def source() -> Any:
            return iter_index(backend, index, path_field="visual.path")

        def count() -> int:
            return backend.stats(index).documents
    else:
        raise JobRefused(f"unknown job kind {kind!r}: folder or reindex")

    job = Job(
        id=new_job_id(),
        user=user,
        kind=kind,
        source=source_label,
        readers=readers,
        force=force or kind == "reindex",
    )

    def run(job: Job, progress: Callable[[int], None]) -> Any:
        pipeline = load_pipeline(settings)
        # An index keeps the model it was built with; a new one gets the preset's.
        has_spec = backend.visual_spec(index) is not None
        return ingest(
            backend,
            index,
            source(),
            embedder=state.embedder(None if has_spec else pipeline.model),
            pipeline=pipeline,
            batch_size=settings.batch_size,
            force=job.force,
            progress=progress,
            # Listed on the page while the job runs; the final report replaces the list.
            on_failure=lambda failure: job.failures.append(failure.to_dict()),
        )

    return state.jobs.start(job, run, count)


@bp.route("/", methods=["GET"])
@admin_required
def page() -> Any:
    state = get_state()
    return render_template(
        "jobs.html",
        jobs=[j.to_dict() for j in state.jobs.list()],
        roots=ingest_roots(),
        default_readers="",
    )


@bp.route("/", methods=["POST"])
@admin_required
def create() -> Any:
    state = get_state()
    try:
        job = start_job(state, current_user().name, request.form.to_dict())
    except JobRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("jobs.page"), code=303)
    flash(f"Job {job.id} started.", "info")
    return redirect(url_for("jobs.page", job=job.id), code=303)
