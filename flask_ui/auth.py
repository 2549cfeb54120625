"""Login, logout, and the rule that every page but login and static needs a user.

Pages use the session cookie; the JSON API also takes ``Authorization: Bearer
<token>`` (tokens from ``es-visual users token NAME``). CSRF is checked here, after
authentication, for every state-changing request that rides on the cookie; a
bearer token is not sent by the browser on its own, so token requests need none.

A session is valid only while its stamp matches the user's epoch and password
(flask_ui/sessions.py): logging out, or a new password, ends every session of that
user, a copied cookie included. Failed sign-ins are throttled per user name and per
address (flask_ui/throttle.py); a locked-out attempt is answered 429 unchecked.
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
from flask_ui.throttle import LoginThrottle
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
        if g.user is not None and not _stamp_holds(g.user.name, session.get("sv")):
            g.user = None  # logged out elsewhere, or the password changed
        if g.user is None:  # removed since they logged in, or revoked
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


def _stamp_holds(name: str, stamp: Any) -> bool:
    state = get_state()
    secret = current_app.config["SECRET_KEY"]
    return state.sessions.valid(stamp, secret, name, state.users.credential(name))


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
        state = get_state()
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        keys = LoginThrottle.keys(name, request.remote_addr)
        wait = state.throttle.wait(*keys)
        if wait:  # refused before the password is looked at: a guess now learns nothing
            flash(f"Too many failed sign-ins. Try again in {wait} s.", "error")
            page = render_template("login.html", next=request.form.get("next", ""), username=name)
            return page, 429, {"Retry-After": str(wait)}
        user = state.users.authenticate(name, password)
        if user is not None:
            state.throttle.succeeded(keys[0])
            session.clear()
            session["user"] = user.name
            session["sv"] = state.sessions.stamp(
                current_app.config["SECRET_KEY"], user.name, state.users.credential(user.name)
            )
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))
        state.throttle.failed(*keys)
        flash("Wrong user name or password.", "error")
        return render_template("login.html", next=request.form.get("next", ""), username=name), 401
    if g.user is not None:
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", ""), username="")


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    if g.user is not None and not g.via_token:
        get_state().sessions.revoke(g.user.name)  # every session of theirs, copies too
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
