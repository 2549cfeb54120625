"""The es-visual admin web app: ``create_app(settings)`` and nothing at import time.

Usage::

    from flask_ui import create_app
    app = create_app(Settings.load())          # or: es-visual serve

``test_config`` overrides Flask config; besides Flask's own keys it takes
``ES_VISUAL_BACKEND`` / ``ES_VISUAL_EMBEDDER`` (already-open objects to use
instead of opening them from settings), ``INGEST_ROOTS`` (folders the jobs
page may ingest) and ``WARM_UP`` (load the models in the background at start;
default: on, except under ``TESTING``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect, generate_csrf

from es_visual.config import Settings

FORM_OVERHEAD = 64 * 1024  # bytes of a search form besides its file


def create_app(
    settings: Settings | None = None, test_config: dict[str, Any] | None = None
) -> Flask:
    from flask_ui import (
        api,
        assets,
        auth,
        dups,
        indexpage,
        jobs,
        media,
        people,
        search,
        security,
    )
    from flask_ui.jobrunner import JobManager
    from flask_ui.state import AppState
    from flask_ui.users import UserStore, users_file

    settings = settings or Settings.load()
    app = Flask(__name__)
    demo_root = Path(settings.data_dir) / "demo-media"
    app.config.from_mapping(
        SECRET_KEY=None,
        MAX_UPLOAD_MB=settings.max_upload_mb,
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="es_visual_session",
        # "auto": Secure when the request came over HTTPS (security.SessionInterface).
        SESSION_COOKIE_SECURE=security.cookie_secure(settings.cookie_secure),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # CSRF is checked in auth.load_user, after we know whether the caller used
        # a bearer token (no CSRF needed) or the session cookie.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        INGEST_ROOTS=[str(demo_root)] if demo_root.is_dir() else [],
        USERS_FILE=str(users_file(settings.data_dir)),
    )
    if test_config:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = security.secret_key(settings.secret_key, settings.data_dir)
    app.config["MAX_UPLOAD_MB"] = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024) or 1
    app.session_interface = security.SessionInterface()
    if settings.proxy_hops:  # the client's scheme and address, as the proxies saw them
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    users = UserStore(settings.users, Path(app.config["USERS_FILE"]))
    state = AppState(settings, users, JobManager())
    if app.config.get("ES_VISUAL_BACKEND") is not None:
        state.set_backend(app.config["ES_VISUAL_BACKEND"])
    if app.config.get("ES_VISUAL_EMBEDDER") is not None:
        state.set_embedder(app.config["ES_VISUAL_EMBEDDER"])
    app.extensions["es_visual"] = state
    CSRFProtect(app)
    # The models a first search needs load while the server starts, not during that search.
    if app.config.get("WARM_UP", not app.testing):
        from flask_ui import warmup

        warmup.start(state, state.warmup)

    app.before_request(auth.load_user)
    app.after_request(security.add_headers)
    security.register_error_pages(app)
    for module in (auth, search, assets, media, jobs, indexpage, dups, api, people):
        app.register_blueprint(module.bp)

    @app.context_processor
    def inject() -> dict[str, Any]:
        from flask import g

        return {
            "user": g.get("user"),
            "index_name": settings.index,
            "csrf_token": generate_csrf,
            "max_upload_mb": app.config["MAX_UPLOAD_MB"],
            # The largest file a page lets through (app.js checks it before sending): the
            # request limit less room for the form's other fields and multipart framing.
            "max_upload_bytes": max(1, app.config["MAX_CONTENT_LENGTH"] - FORM_OVERHEAD),
        }

    return app
