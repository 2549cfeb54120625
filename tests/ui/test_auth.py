"""Login is required everywhere but the login page and static files; CSRF; headers."""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import PASSWORD, login, make_settings

PUBLIC = {"auth.login", "static"}
SAMPLE_ARGS = {
    "asset_id": "animals/chelsea.png",
    "job_id": "x",
    "token": "x",
    "filename": "app.css",
    "person": "p0000000000",
}


def _urls(app):
    for rule in app.url_map.iter_rules():
        args = {k: SAMPLE_ARGS[k] for k in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **args)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_every_route_but_login_and_static_needs_a_user(app, client) -> None:
    checked = 0
    for endpoint, method, url in _urls(app):
        response = client.open(url, method=method)
        if endpoint in PUBLIC:
            assert response.status_code in (200, 302, 401), (endpoint, method)
            continue
        checked += 1
        if url.startswith("/api/"):
            assert response.status_code == 401, (endpoint, method, response.status_code)
            assert response.get_json()["error"]["type"] == "unauthorized"
        else:
            assert response.status_code == 302, (endpoint, method, response.status_code)
            assert "/login" in response.headers["Location"], endpoint
    assert checked >= 12


def test_login_logout_and_wrong_password(client) -> None:
    assert login(client, "bob", "wrong").status_code == 401
    assert login(client, "nobody").status_code == 401
    response = login(client, "bob")
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_login_redirects_only_inside_the_site(client) -> None:
    response = client.post(
        "/login", data={"username": "bob", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post(
        "/login",
        data={"username": "bob", "password": PASSWORD, "next": "/assets/animals/chelsea.png"},
    )
    assert response.headers["Location"] == "/assets/animals/chelsea.png"


def test_non_admins_cannot_open_jobs_or_index(as_bob) -> None:
    assert as_bob.get("/jobs/").status_code == 403
    assert as_bob.get("/index/").status_code == 403
    assert as_bob.get("/api/jobs").status_code == 403
    assert as_bob.post("/api/jobs", json={"path": "/"}).status_code == 403


@pytest.fixture
def csrf_app(ui_data, mobilenet):
    from flask_ui import create_app

    data_dir, backend = ui_data
    return create_app(
        make_settings(data_dir),
        test_config={
            "WTF_CSRF_ENABLED": True,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
        },
    )


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_csrf_is_enforced_on_forms(csrf_app) -> None:
    client = csrf_app.test_client()
    # Login itself needs the token.
    response = client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert response.status_code == 400
    assert b"security token" in response.data
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": "bob", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    # A logged-in POST without the token is rejected, with it accepted.
    assert client.post("/", data={"where": "tags=cat"}).status_code == 400
    assert client.post("/logout").status_code == 400
    page_token = _token(client.get("/").get_data(as_text=True))
    response = client.post("/", data={"where": "tags=cat", "csrf_token": page_token})
    assert response.status_code == 303


def test_bearer_token_needs_no_csrf_and_a_bad_token_is_401(csrf_app, tmp_path) -> None:
    from flask_ui.users import add_user, new_token

    users_path = tmp_path / "users.json"
    add_user(users_path, "carol", "password123", ["science"])
    token = new_token(users_path, "carol")
    csrf_app.config["USERS_FILE"] = str(users_path)
    csrf_app.extensions["es_visual"].users._path = users_path
    client = csrf_app.test_client()
    ok = client.post(
        "/api/search", data={"where": "tags=coffee"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200, ok.get_json()
    assert [h["id"] for h in ok.get_json()["hits"]] == ["food/coffee.png"]
    bad = client.get("/api/search", headers={"Authorization": "Bearer esv_nope"})
    assert bad.status_code == 401


def test_security_headers_and_cookie_flags(client) -> None:
    response = login(client, "bob")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in page.get_data(as_text=True)  # nothing inline for the CSP
    assert ' style="' not in page.get_data(as_text=True)


def test_upload_over_the_limit_is_rejected_with_a_clear_message(ui_data, mobilenet) -> None:
    from flask_ui import create_app

    data_dir, backend = ui_data
    app = create_app(
        make_settings(data_dir, max_upload_mb=1),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
        },
    )
    client = app.test_client()
    login(client, "bob")
    import io

    big = io.BytesIO(b"\xff\xd8\xff" + b"0" * (2 * 1024 * 1024))
    response = client.post(
        "/", data={"image": (big, "big.jpg")}, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    assert "larger than the 1 MB limit" in response.get_data(as_text=True)
    big = io.BytesIO(b"\xff\xd8\xff" + b"0" * (2 * 1024 * 1024))
    response = client.post(
        "/api/search", data={"image": (big, "big.jpg")}, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    assert "1 MB" in response.get_json()["error"]["message"]
