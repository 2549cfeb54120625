"""The CLI, the search page and the JSON API build one query from one input: both go
through ``SearchParams -> build_search`` and ``FieldMap.for_index`` (issue 17, item 4).

On a cluster the field map comes from the index's mapping, so a user's own field
(``owner=team-b``) works with no configuration in every front end alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from live_backends import open_cluster
from live_engines import ENGINES

from tests.ui.conftest import login, make_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VECTOR = [0.6, 0.8, 0.0]


def _ui_search(app: Any, args: dict[str, str], user: str = "bob") -> Any:
    """The Search the page and ``/api/search`` run for ``args`` (both call build_search)."""
    from flask_ui.queries import Query, build_search
    from flask_ui.users import User

    with app.test_request_context("/api/search", query_string=args):
        search, _vector = build_search(
            app.extensions["es_visual"], User(user), Query.from_args(args)
        )
    return search


def _cli_search(settings: Any, backend: Any, opts: dict[str, Any]) -> Any:
    from es_visual.cli.context import AppContext
    from es_visual.cli.search import build_search

    # The backend already open, as the UI holds it.
    return build_search(AppContext(settings=settings, _backend=backend), opts)


def _same(ui: Any, cli: Any, backend: Any) -> Any:
    """Both searches' requests (and, on a cluster, the Query DSL bodies) are equal."""
    ui_request = ui.to_request(vector=VECTOR, now=NOW)
    cli_request = cli.to_request(vector=VECTOR, now=NOW)
    assert ui_request == cli_request
    compile_body = getattr(backend, "_compile", None)
    if compile_body is not None:
        assert compile_body(ui_request) == compile_body(cli_request)
    return ui_request


def _app(settings: Any, backend: Any) -> Any:
    from flask_ui import create_app

    return create_app(
        settings,
        test_config={"TESTING": True, "WTF_CSRF_ENABLED": False, "ES_VISUAL_BACKEND": backend},
    )


def test_same_query_on_the_embedded_store(ui_data) -> None:
    data_dir, backend = ui_data
    settings = make_settings(data_dir)
    args = {
        "similar": "animals/chelsea.png",
        "where": "tags=cat OR folder=people",
        "media": "image",
        "on": "regions",
        "min_score": "0.25",
        "limit": "7",
    }
    opts = {
        "asset": "animals/chelsea.png",
        "where": "tags=cat OR folder=people",
        "media": "image",
        "on": "regions",
        "min_score": 0.25,
        "limit": 7,
        "as_user": "bob",
    }
    request = _same(
        _ui_search(_app(settings, backend), args), _cli_search(settings, backend, opts), backend
    )
    assert request.vector is not None and request.vector.target == "regions"
    assert request.size == 7 and request.vector.min_similarity == 0.25


@pytest.mark.parametrize("engine", list(ENGINES))
def test_same_query_on_a_users_cluster_index(engine: str, live_engine_url, tmp_path: Path) -> None:
    """A user's index with its own ``owner`` field, which no setting names: the field
    map is read from the mapping, by the CLI and the UI alike."""
    from es_visual.core import ir
    from es_visual.core.documents import VisualSpec
    from es_visual.core.errors import UnknownFieldError
    from es_visual.query.fieldmap import FieldMap

    backend = open_cluster(engine, live_engine_url(engine))
    index = f"same-query-{engine}"
    backend.client.indices.delete(index=index, ignore_unavailable=True)
    # The user's own index, extended by es-visual (as `es-visual init` does); OpenSearch
    # needs index.knn at creation for the vectors es-visual adds.
    knn = {"index": {"knn": True}} if ENGINES[engine].family == "opensearch" else {}
    backend.client.indices.create(
        index=index,
        body={
            "settings": knn,
            "mappings": {"properties": {"owner": {"type": "keyword"}, "title": {"type": "text"}}},
        },
    )
    try:
        backend.ensure_index(index, VisualSpec("test-model@1", len(VECTOR)))
        backend.client.index(index=index, id="u1", body={"owner": "team-b", "title": "a boat"})
        backend.refresh(index)
        settings = make_settings(
            tmp_path, backend=ENGINES[engine].family, url=backend.url, index=index
        )
        with pytest.raises(UnknownFieldError):  # what the configured map alone would say
            FieldMap.from_settings(settings).resolve("owner")
        args = {"similar": "u1", "where": "owner=team-b"}
        opts = {"asset": "u1", "where": "owner=team-b", "as_user": "bob", "limit": 24}
        app = _app(settings, backend)
        request = _same(_ui_search(app, args), _cli_search(settings, backend, opts), backend)
        # And the API answers it (it raised UnknownFieldError when the UI read only settings).
        client = app.test_client()
        assert login(client, "bob").status_code == 302
        found = client.get("/api/search?where=owner%3Dteam-b")
        assert found.status_code == 200, found.get_data(as_text=True)
        assert [h["id"] for h in found.get_json()["hits"]] == ["u1"]
        assert repr(ir.Term("owner", "team-b")) in repr(request.filter), request.filter
    finally:
        backend.client.indices.delete(index=index, ignore_unavailable=True)
        backend.close()
