"""Security headers, the secret key, and error pages (413 included)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    flash,
    has_request_context,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from es_visual.core.errors import EsVisualError
from es_visual.private import private_dir
from flask_ui.errors import http_error, retry_after

# Everything the pages use comes from the app itself: no CDN, no inline script or
# style (boxes and timeline bars are SVG attributes or set from JS).
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def secret_key(configured: str | None, data_dir: Path) -> str:
    """The configured key, else one generated once and kept (0600) in the data dir,
    so sessions survive a restart without anyone having to pick a key."""
    if configured:
        return configured
    path = Path(data_dir) / "ui-secret-key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key


def cookie_secure(value: Any) -> bool | str:
    """The ``cookie_secure`` setting as ``SESSION_COOKIE_SECURE``: True, False or "auto"."""
    mode = str(value).strip().lower()
    if mode in ("auto", ""):
        return "auto"
    return mode in ("always", "true", "yes", "on", "1")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``SESSION_COOKIE_SECURE = "auto"``: the Secure
    flag is set when the request came over HTTPS (directly, or through ``proxy_hops``
    proxies that say so), so a cookie issued over HTTPS is never sent back in clear."""

    def get_cookie_secure(self, app: Flask) -> bool:
        value = app.config.get("SESSION_COOKIE_SECURE")
        if value == "auto":
            return has_request_context() and request.is_secure
        return bool(value)


def add_headers(response: Any) -> Any:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith("/api/") or response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _same_site_referrer() -> str | None:
    """The page a form was posted from, as a path on this site, else None."""
    referrer = request.referrer
    if not referrer:
        return None
    parts, here = urlsplit(referrer), urlsplit(request.host_url)
    if (parts.scheme, parts.netloc) != (here.scheme, here.netloc) or not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def register_error_pages(app: Flask) -> None:
    def render(status: int, title: str, message: str) -> Any:
        if _wants_json():
            response = jsonify(error={"type": title.lower().replace(" ", "_"), "message": message})
            response.status_code = status
            return response
        return render_template("error.html", status=status, title=title, message=message), status

    @app.errorhandler(413)
    def too_large(exc: HTTPException) -> Any:
        limit = app.config.get("MAX_UPLOAD_MB")
        message = (
            f"The upload is larger than the {limit} MB limit. Pick a smaller file "
            f"(or raise max_upload_mb in the settings)."
        )
        # A page's form (the browser checks the size first; this is for a browser that
        # did not): back to the page it came from, search and all, with the reason on it.
        back = _same_site_referrer()
        if back is not None and not _wants_json():
            flash(message, "error")
            return redirect(back, code=303)
        return render(413, "File too large", message)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> Any:
        return render(
            400,
            "Form expired",
            "The form's security token is missing or expired. Reload the page and try again.",
        )

    @app.errorhandler(404)
    def not_found(exc: HTTPException) -> Any:
        return render(404, "Not found", "There is nothing here, or you may not see it.")

    @app.errorhandler(403)
    def forbidden(exc: HTTPException) -> Any:
        return render(403, "Not allowed", exc.description or "You may not open this page.")

    @app.errorhandler(400)
    def bad_request(exc: HTTPException) -> Any:
        return render(400, "Bad request", exc.description or "The request was not understood.")

    @app.errorhandler(EsVisualError)
    def es_visual_error(exc: EsVisualError) -> Any:
        # A page that does not show the error itself: the status the API gives it
        # (flask_ui/errors.py), instead of a 500 for a store that is merely down.
        found = http_error(exc)
        if found.status >= 500:
            app.logger.warning("%s %s: %s", request.method, request.path, exc)
        if found.status == 404:  # a forbidden asset reads exactly like a missing one
            return render(404, "Not found", "There is nothing here, or you may not see it.")
        titles = {502: "Search store error", 503: "Unavailable"}
        response = make_response(
            render(found.status, titles.get(found.status, "Bad request"), found.message)
        )
        response.headers.update(retry_after(found.status))
        return response

    @app.errorhandler(500)
    def server_error(exc: Exception) -> Any:
        return render(
            500, "Something went wrong", "The server hit an error; the log has the details."
        )
