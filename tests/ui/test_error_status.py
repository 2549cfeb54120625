"""One error-to-status table (flask_ui/errors.py) for the JSON API and the pages, checked
on real failures: a cluster URL nobody listens on, a store file that is not a store, a
bad expression, an asset that is not there."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.ui.conftest import login, make_settings


def _closed_port() -> int:
    """A local port with nothing listening on it (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _app(settings, **config):
    from flask_ui import create_app

    return create_app(settings, test_config={"TESTING": True, "WTF_CSRF_ENABLED": False, **config})


@pytest.fixture(params=["opensearch", "elasticsearch"])
def down_client(request, tmp_path: Path):
    """Logged in as bob on an app whose cluster URL has nothing listening."""
    settings = make_settings(
        tmp_path,
        backend=request.param,
        url=f"http://127.0.0.1:{_closed_port()}",
        request_timeout=5.0,
    )
    client = _app(settings).test_client()
    assert login(client, "bob").status_code == 302
    return client


def test_a_cluster_that_is_down_is_503_for_the_api_and_the_pages(down_client) -> None:
    api = down_client.get("/api/search?where=tags%3Dcat")
    assert api.status_code == 503, api.get_data(as_text=True)
    assert api.get_json()["error"]["type"] == "unavailable"
    assert api.headers["Retry-After"].isdigit()
    # Where the cluster is, is the server's business: the log has it, the caller not.
    assert "127.0.0.1" not in api.get_json()["error"]["message"]
    page = down_client.get("/?where=tags%3Dcat")
    assert page.status_code == 503
    assert "cannot be reached" in page.get_data(as_text=True)
    assert down_client.get("/api/assets/people/astronaut.png").status_code == 503


def test_a_store_that_answers_an_error_is_502(tmp_path: Path) -> None:
    from es_visual.backends.embedded import EmbeddedBackend

    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    # Not a database: the store fails on opening it (a store error, not the caller's).
    (settings.data_dir / "media.sqlite").write_bytes(b"not a sqlite database, " * 100)
    backend = EmbeddedBackend(settings.data_dir)
    try:
        client = _app(settings, ES_VISUAL_BACKEND=backend).test_client()
        assert login(client, "bob").status_code == 302
        api = client.get("/api/search?where=tags%3Dcat")
        assert api.status_code == 502, api.get_data(as_text=True)
        assert api.get_json()["error"]["type"] == "backend_error"
        assert "Retry-After" not in api.headers
        assert client.get("/").status_code == 502
    finally:
        backend.close()


def test_a_bad_expression_is_400_for_the_api(as_bob) -> None:
    api = as_bob.get("/api/search?where=tags%3Dcat%20AND%20(")
    assert api.status_code == 400
    err = api.get_json()["error"]
    assert err["type"] == "syntax_error" and err["pos"] == 14
    # The page shows it under the box, with the form to correct it (no error status:
    # the browser would count the page itself as a failed load).
    page = as_bob.get("/?where=tags%3Dcat%20AND%20(")
    assert page.status_code == 200
    assert 'class="dsl-error"' in page.get_data(as_text=True)
    assert as_bob.get("/api/search?where=tags%3Dcat").status_code == 200


def test_an_unknown_asset_is_404_for_the_api_and_the_pages(as_bob) -> None:
    for url in (
        "/api/similar/no/such.png",
        "/api/assets/no/such.png",
        "/api/search?similar=no/such.png",
        "/?similar=no/such.png",
        "/assets/no/such.png",
        # Forbidden to bob reads exactly like missing.
        "/api/similar/space/rocket.jpg",
        "/?similar=space/rocket.jpg",
    ):
        response = as_bob.get(url)
        assert response.status_code == 404, url
    assert as_bob.get("/api/similar/no/such.png").get_json()["error"]["type"] == "not_found"


def test_a_bad_cursor_is_400(as_bob) -> None:
    api = as_bob.get("/api/search?where=tags%3Dcat&after=not-a-cursor")
    assert api.status_code == 400
    assert api.get_json()["error"]["type"] == "CursorError"


def test_admin_only_routes_are_403(as_bob) -> None:
    for url in ("/api/jobs", "/api/index", "/api/duplicates"):
        response = as_bob.get(url)
        assert response.status_code == 403, url
        assert response.get_json()["error"]["type"] == "forbidden"


def test_every_table_row_is_reachable_and_ordered() -> None:
    """A row behind a row for one of its base classes would never be used."""
    from flask_ui.errors import STATUS_TABLE

    for i, (cls, _) in enumerate(STATUS_TABLE):
        for earlier, _ in STATUS_TABLE[:i]:
            assert not issubclass(cls, earlier), f"{cls.__name__} is shadowed by {earlier.__name__}"
