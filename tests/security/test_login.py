"""Login: guessing is throttled, the cookie is Secure over HTTPS, sessions can end.

Before the fix: 40 wrong passwords in a row met no delay, the session cookie never
had the Secure flag, and a copied cookie kept working for 12 h after its user
logged out or changed their password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.security.test_ui_jobs import USERS
from tests.ui.conftest import PASSWORD, login, make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_app(tmp_path: Path):
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    backend = EmbeddedBackend(tmp_path / "store")
    clock = Clock()

    def make(**settings: Any) -> Any:
        app = create_app(
            make_settings(tmp_path, users=USERS, **settings),
            test_config={
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                "ES_VISUAL_BACKEND": backend,
                "USERS_FILE": str(tmp_path / "users.json"),
            },
        )
        app.extensions["es_visual"].throttle.clock = clock
        app.clock = clock  # type: ignore[attr-defined]
        return app

    yield make
    backend.close()


def _try(client: Any, name: str, password: str, address: str = "10.0.0.1") -> int:
    response = client.post(
        "/login",
        data={"username": name, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_forty_wrong_passwords_are_throttled_per_user(make_app, attacks) -> None:
    app = make_app()
    client = app.test_client()
    codes = [_try(client, "bob", f"guess-{i}", address=f"10.0.1.{i}") for i in range(40)]
    checked = codes.count(401)
    attacks.record("login: password guessing per user", tried=40, failed=max(0, checked - 5))
    assert checked == 5 and codes[5:] == [429] * 35, codes
    # Locked: even the right password is refused unchecked, with a Retry-After.
    response = client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    # Each lockout doubles: 1 s after the 5th failure, then 2 s, 4 s ...
    app.clock.now += 1.01
    assert _try(client, "bob", "again") == 401
    assert _try(client, "bob", PASSWORD) == 429
    app.clock.now += 2.01
    assert _try(client, "bob", PASSWORD) == 302  # success clears the user's count
    client.post("/logout")
    assert _try(client, "bob", "wrong") == 401


def test_many_names_from_one_address_are_throttled(make_app, attacks) -> None:
    app = make_app()
    client = app.test_client()
    codes = [_try(client, f"user{i}", "guess", address="10.9.9.9") for i in range(40)]
    checked = codes.count(401)
    attacks.record("login: name spraying per address", tried=40, failed=max(0, checked - 20))
    assert checked == 20 and codes[20:] == [429] * 20, codes
    # Another address, and an account nobody attacked, are not locked out.
    assert _try(client, "alice", PASSWORD, address="10.1.1.1") == 302


def test_the_lockout_is_capped_and_forgotten(make_app) -> None:
    app = make_app()
    throttle = app.extensions["es_visual"].throttle
    keys = throttle.keys("bob", "10.0.0.1")
    for _ in range(60):
        throttle.failed(*keys)
    assert throttle.wait(*keys) == 900  # 15 minutes at most
    app.clock.now += 901 + 900  # past the lockout and the window
    assert throttle.wait(*keys) == 0
    throttle.failed(*keys)
    assert throttle.wait(*keys) == 0  # starts over: one failure is free again


@pytest.mark.parametrize(
    ("setting", "base_url", "headers", "secure"),
    [
        ("auto", "http://localhost", {}, False),
        ("auto", "https://localhost", {}, True),
        ("always", "http://localhost", {}, True),
        ("never", "https://localhost", {}, False),
        ("auto", "http://localhost", {"X-Forwarded-Proto": "https"}, True),
    ],
)
def test_the_cookie_is_secure_over_https(
    make_app, attacks, setting: str, base_url: str, headers: dict[str, str], secure: bool
) -> None:
    app = make_app(cookie_secure=setting, proxy_hops=1 if headers else 0)
    client = app.test_client()
    response = client.post(
        "/login",
        data={"username": "bob", "password": PASSWORD},
        base_url=base_url,
        headers=headers,
    )
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "es_visual_session" in c)
    flags = [part.strip().lower() for part in cookie.split(";")]
    attacks.record("login: cookie flags", tried=1, failed=("secure" in flags) != secure)
    assert ("secure" in flags) == secure, cookie
    assert "httponly" in flags and "samesite=lax" in flags


def _copy_cookie(src: Any, app: Any) -> Any:
    stolen = src.get_cookie("es_visual_session")
    assert stolen is not None
    thief = app.test_client()
    thief.set_cookie("es_visual_session", stolen.value)
    return thief


def test_logout_ends_copied_sessions(make_app, attacks) -> None:
    app = make_app()
    bob = app.test_client()
    assert login(bob, "bob").status_code == 302
    thief = _copy_cookie(bob, app)
    other_device = app.test_client()
    assert login(other_device, "bob").status_code == 302
    assert thief.get("/api/search").status_code == 200  # a copy works while bob is in
    bob.post("/logout")
    results = {
        "copied cookie, API": thief.get("/api/search").status_code,
        "copied cookie, page": thief.get("/").status_code,
        "other session, API": other_device.get("/api/search").status_code,
    }
    got_in = [k for k, code in results.items() if code not in (302, 401)]
    attacks.record("login: sessions after logout", tried=len(results), failed=len(got_in))
    assert results == {
        "copied cookie, API": 401,
        "copied cookie, page": 302,
        "other session, API": 401,
    }
    assert login(bob, "bob").status_code == 302  # logging in again works
    assert bob.get("/api/search").status_code == 200


def test_a_new_password_ends_old_sessions(make_app, tmp_path: Path, attacks) -> None:
    from flask_ui.users import add_user

    users_file = tmp_path / "users.json"
    add_user(users_file, "dora", "first password", ["science"])
    app = make_app()
    dora = app.test_client()
    assert login(dora, "dora", "first password").status_code == 302
    thief = _copy_cookie(dora, app)
    add_user(users_file, "dora", "second password", ["science"])  # `es-visual users add`
    codes = [thief.get("/api/search").status_code, dora.get("/api/search").status_code]
    attacks.record("login: sessions after a password change", tried=2, failed=codes.count(200))
    assert codes == [401, 401]
    assert login(dora, "dora", "second password").status_code == 302
