"""Login, logout, and the rule that every page but login and static needs a user.

Pages use the session cookie; the JSON API also takes ``Authorization: Bearer
<token>`` (tokens from ``es-visual users token NAME``). CSRF is checked here, after
authentication, for every state-changing request that rides on the cookie; a
bearer token is not sent by the browser on its own, so token requests need none.
"""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from flask_ui.state import get_state
from flask_ui.users import User

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})


def current_user() -> User:
    return g.user


def wants_json() -> bool:
    return request.path.startswith("/api/")


def load_user() -> Any:
    """before_request: find the caller, or send them to the login page / a 401."""
    g.user = None
    g.via_token = False
    state = get_state()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        g.user = state.users.by_token(header[len("Bearer ") :].strip())
        g.via_token = g.user is not None
        if g.user is None:
            return _unauthorized("invalid API token")
    elif "user" in session:
        g.user = state.users.get(session["user"])
        if g.user is None:  # removed since they logged in
            session.clear()
    if request.endpoint in PUBLIC_ENDPOINTS:
        pass
    elif g.user is None:
        return _unauthorized("login required")
    if (
        not g.via_token
        and request.method not in ("GET", "HEAD", "OPTIONS")
        and current_app.config.get("WTF_CSRF_ENABLED", True)
    ):
        current_app.extensions["csrf"].protect()
    return None


def _unauthorized(message: str) -> Any:
    if wants_json():
        response = jsonify(error={"type": "unauthorized", "message": message})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="es-visual"'
        return response
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def admin_required(view: Any) -> Any:
    """Jobs and index administration: members of the ``admin`` group only."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user().is_admin:
            abort(403, "This page is for members of the admin group.")
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not bounce the user to another site."""
    if not target:
        return url_for("search.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("search.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        user = get_state().users.authenticate(name, password)
        if user is not None:
            session.clear()
            session["user"] = user.name
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))
        flash("Wrong user name or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), username=name), 401
    if g.user is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", ""), username="")


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
