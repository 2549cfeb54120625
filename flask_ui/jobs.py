"""Jobs page: ingest a server-side folder (under the allowed roots) or re-analyze the
index, in the background; the page polls ``/api/jobs/<id>`` for progress."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from es_visual.core import schema
from es_visual.core.ir import Ids, MatchAll, Node, and_
from es_visual.query.acl import AclPolicy
from flask_ui.auth import admin_required, current_user
from flask_ui.jobrunner import Job, JobRefused, WriteGuard, locate, new_job_id, under_root
from flask_ui.queries import acl_node
from flask_ui.state import AppState, get_state
from flask_ui.users import User

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def ingest_roots() -> list[Path]:
    return [Path(p) for p in current_app.config.get("INGEST_ROOTS") or ()]


class _Writable:
    """A backend's ``iter_docs`` limited to what one user may write: a re-analysis job
    touches nothing else."""

    def __init__(self, state: AppState, acl: Node) -> None:
        self.backend, self.acl = state.backend(), acl

    def iter_docs(self, index: str, *, filter: Node = MatchAll(), **kwargs: Any) -> Any:
        return self.backend.iter_docs(index, filter=and_(filter, self.acl), **kwargs)


def start_job(state: AppState, user: User, form: dict[str, Any]) -> Job:
    """Validate a job request from the page or the API and start it; ``JobRefused`` if not.
    The job writes only what ``user`` may write (flask_ui/jobrunner.py)."""
    from es_visual.ingest.sources import iter_folder, iter_index
    from es_visual.people.registry import PeopleRegistry
    from es_visual.workflows import ingest, load_pipeline, text_fields_for

    kind = str(form.get("kind") or "folder")
    force = str(form.get("force") or "").lower() in ("1", "true", "on", "yes")
    readers = [r.strip() for r in str(form.get("readers") or "").split(",") if r.strip()]
    public = state.settings.public_principal
    for reader in readers:
        if not re.fullmatch(r"(user|group):[\w.@-]+", reader) and reader != public:
            raise JobRefused(f"reader {reader!r}: write user:NAME, group:NAME or {public}")
    settings, index = state.settings, state.index
    backend = state.backend()
    # "Write" as everywhere in the product: readable, and named in the write ACL (or, a
    # document with none, an admin's; jobs are for admins).
    writable = AclPolicy.from_settings(settings).writable_filter(user.name, user.groups)
    job = Job(
        id=new_job_id(),
        user=user.name,
        kind=kind,
        source="",
        readers=readers,
        force=force or kind == "reindex",
    )
    guard = WriteGuard(backend, index, writable, job, settings.acl_field)

    if kind == "folder":
        folder, root = locate(str(form.get("path") or ""), ingest_roots())
        job.source = str(folder)

        def source() -> Any:
            return guard(under_root(iter_folder(folder), folder, root))

        def count() -> int:
            return sum(1 for _ in iter_folder(folder))
    elif kind == "reindex":
        if backend.visual_spec(index) is None:
            raise JobRefused(f"index {index!r} has nothing to re-analyze yet")
        job.source = f"index {index} (visual.path)"
        mine = _Writable(state, writable)

        def source() -> Any:
            return guard(iter_index(mine, index, path_field=schema.PATH_FIELD))

        def count() -> int:
            return sum(1 for _ in mine.iter_docs(index, fields=[]))
    else:
        raise JobRefused(f"unknown job kind {kind!r}: folder or reindex")

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
            acl_field=settings.acl_field,
            people=PeopleRegistry.in_data_dir(settings.data_dir),  # merged persons' ids
            text_fields=text_fields_for(settings, backend, index),
        )

    return state.jobs.start(job, run, count)


def job_view(state: AppState, job: Job, viewer: User) -> dict[str, Any]:
    """A job as ``viewer`` may see it: its own user sees it all; another admin sees only
    the failures of documents they may read (no ids or errors of documents kept from
    them), and ``failed`` counts those."""
    out = job.to_dict()
    if viewer.name == job.user:
        return out
    ids = tuple(str(f["id"]) for f in out["failures"] if f.get("id") is not None)
    readable = acl_node(state.settings, viewer)
    mine = (
        {
            doc_id
            for doc_id, _ in state.backend().iter_docs(
                state.index, filter=and_(Ids(ids), readable), fields=[]
            )
        }
        if ids
        else set()
    )
    out["failures"] = [f for f in out["failures"] if f.get("id") in mine]
    out["failed"] = len(out["failures"])
    return out


@bp.route("/", methods=["GET"])
@admin_required
def page() -> Any:
    state = get_state()
    return render_template(
        "jobs.html",
        jobs=[job_view(state, j, current_user()) for j in state.jobs.list()],
        roots=ingest_roots(),
        default_readers="",
    )


def writable_count(state: AppState, user: User) -> int:
    """How many documents a re-analysis by ``user`` would touch (what they may write)."""
    writable = AclPolicy.from_settings(state.settings).writable_filter(user.name, user.groups)
    return sum(1 for _ in state.backend().iter_docs(state.index, filter=writable, fields=[]))


@bp.route("/", methods=["POST"])
@admin_required
def create() -> Any:
    state = get_state()
    if request.form.get("kind") == "reindex" and request.form.get("confirmed") != "1":
        # Everything at once: say what it touches and ask before starting (issue 18).
        return render_template("jobs_confirm.html", count=writable_count(state, current_user()))
    try:
        job = start_job(state, current_user(), request.form.to_dict())
    except JobRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("jobs.page"), code=303)
    flash(f"Job {job.id} started.", "info")
    return redirect(url_for("jobs.page", job=job.id), code=303)
