"""The cluster backends' pure parts, and bulk retries through the real client.

Responses below have the shape the Elasticsearch / OpenSearch docs show for
nested kNN with inner_hits (noida-db cannot produce them: no nested fields).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from es_visual.backends.cluster.backend import flatten_mapping, split_credentials
from es_visual.backends.cluster.mappings import template
from es_visual.backends.cluster.responses import parse_response
from es_visual.core import ir
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _inner(offset: int, score: float, **source) -> dict:
    return {
        "_index": "media",
        "_id": "v1",
        "_nested": {"field": "visual.frames", "offset": offset},
        "_score": score,
        "_source": source,
    }


def test_nested_frames_hit_becomes_children_and_timeline_segments() -> None:
    request = ir.SearchRequest(
        index="media",
        vector=ir.VectorQuery((1.0, 0.0), target="frames", k=1, min_similarity=0.5),
        size=1,
    )
    frames = [(0.0, 0.55), (1.0, 0.9), (2.0, 0.95), (3.0, 0.6), (4.0, 0.8)]  # (t, _score)
    resp = {
        "took": 3,
        "hits": {
            "total": {"value": 1, "relation": "eq"},
            "hits": [
                {
                    "_id": "v1",
                    "_score": 0.95,
                    "_source": {"title": "clip", "visual": {"duration": 5.0}},
                    "inner_hits": {
                        "frames": {
                            "hits": {"hits": [_inner(i, s, t=t) for i, (t, s) in enumerate(frames)]}
                        }
                    },
                }
            ],
        },
    }
    result = parse_response(resp, request, took_ms=1.0)
    (hit,) = result.hits
    assert hit.score == pytest.approx(0.9)  # 2 * 0.95 - 1
    assert hit.matched.kind == "frame" and hit.matched.t == 2.0 and hit.matched.index == 2
    # Children above the threshold (cos >= 0.5, i.e. _score >= 0.75), best first.
    assert [(c.t, round(c.score, 2)) for c in hit.children] == [(2.0, 0.9), (1.0, 0.8), (4.0, 0.6)]
    assert [(s.start, s.end) for s in hit.segments] == [(1.0, 3.0), (4.0, 5.0)]
    assert result.total is None and result.next_cursor is None  # vector searches: one page


def test_region_hit_carries_bbox_and_label() -> None:
    request = ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0,), target="regions"))
    inner = _inner(1, 0.9, kind="object", label="dog", bbox=[0.1, 0.2, 0.5, 0.6])
    inner["_nested"]["field"] = "visual.regions"
    resp = {
        "hits": {
            "hits": [
                {"_id": "a", "_score": 0.9, "_source": {},
                 "inner_hits": {"regions": {"hits": {"hits": [inner]}}}}
            ]
        }
    }  # fmt: skip
    matched = parse_response(resp, request).hits[0].matched
    assert (matched.kind, matched.label, matched.bbox, matched.index) == (
        "region",
        "dog",
        (0.1, 0.2, 0.5, 0.6),
        1,
    )


def test_metadata_page_gives_total_cursor_and_buckets() -> None:
    request = ir.SearchRequest(index="m", size=2, aggregations=("tags",))
    resp = {
        "hits": {
            "total": {"value": 7, "relation": "eq"},
            "hits": [
                {"_id": "a", "_score": 1.5, "_source": {"x": 1}, "sort": ["a", 3]},
                {"_id": "b", "_score": 1.2, "_source": {"x": 2}, "sort": ["b", 9]},
            ],
        },
        "aggregations": {"tags": {"buckets": [{"key": "cat", "doc_count": 4}]}},
    }
    result = parse_response(resp, request)
    from es_visual.core.cursor import decode_cursor

    assert result.total == 7 and decode_cursor(result.next_cursor) == ("b", 9)
    assert result.hits[0].score == 1.5  # relevance, untouched
    assert result.aggregations == {"tags": [("cat", 4)]}
    resp["hits"]["total"]["relation"] = "gte"
    assert parse_response(resp, request).total is None


def test_mapping_files_are_the_templates_the_code_applies() -> None:
    for engine in ("elasticsearch", "opensearch"):
        on_disk = json.loads((ROOT / "mappings" / f"{engine}.json").read_text())
        assert on_disk == template(engine), f"regenerate mappings/{engine}.json"
    es = template("elasticsearch")["mappings"]["properties"]["visual"]["properties"]
    assert es["scene"]["similarity"] == "cosine" and es["scene"]["index"] is True
    assert es["frames"]["type"] == "nested" and es["path"] == {"type": "keyword", "index": False}
    os_ = template("opensearch")
    assert os_["settings"] == {"index": {"knn": True}}
    scene = os_["mappings"]["properties"]["visual"]["properties"]["scene"]
    assert scene["type"] == "knn_vector" and scene["method"]["space_type"] == "cosinesimil"


def test_flatten_mapping_and_credentials_in_urls() -> None:
    mapping = {
        "properties": {
            "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            "acl": {"properties": {"read": {"type": "keyword"}}},
            "visual": {"properties": {"frames": {"type": "nested", "properties": {
                "t": {"type": "float"}}}}},
        }
    }  # fmt: skip
    assert flatten_mapping(mapping) == {
        "title": "text",
        "title.keyword": "keyword",
        "acl.read": "keyword",
        "visual.frames": "nested",
        "visual.frames.t": "float",
    }
    assert split_credentials("https://u:p%40ss@h:9200") == ("https://h:9200", "u", "p@ss")
    from es_visual.backends.cluster.opensearch import OpenSearchBackend

    with pytest.raises(ConfigError, match="API keys"):
        OpenSearchBackend("http://localhost:9200", api_key="k")


class _FlakyBulk(BaseHTTPRequestHandler):
    """A server that rejects item "b" with 429 once and item "c" for good (400)."""

    calls: ClassVar[list[list[str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        ids = [line["update"]["_id"] for line in lines if "update" in line]
        type(self).calls.append(ids)
        items = []
        for doc_id in ids:
            if doc_id == "b" and len(type(self).calls) == 1:
                status, error = 429, {"type": "es_rejected_execution_exception", "reason": "busy"}
            elif doc_id == "c":
                status, error = 400, {"type": "document_parsing_exception", "reason": "bad"}
            else:
                status, error = 200, None
            item = {"_index": "m", "_id": doc_id, "status": status}
            if error:
                item["error"] = error
            items.append({"update": item})
        out = json.dumps({"took": 1, "errors": True, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_PUT = do_POST  # the client sends bulk as PUT

    def do_GET(self) -> None:  # GET /: what the backend asks first
        out = json.dumps({"version": {"number": "9.2.0"}, "tagline": "You Know, for Search"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out.encode())

    def log_message(self, *args) -> None:
        pass


def test_bulk_retries_429_with_backoff_and_reports_the_rest() -> None:
    from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyBulk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        backend = ElasticsearchBackend(
            f"http://127.0.0.1:{server.server_port}", initial_backoff=0.01
        )
        result = backend.bulk_update("m", [DocUpdate(i, {"v": 1}) for i in ("a", "b", "c")])
    finally:
        server.shutdown()
    assert _FlakyBulk.calls == [["a", "b", "c"], ["b"]]  # only the 429 item is sent again
    assert result.written == 2
    (error,) = result.errors
    assert (error.id, error.status, error.retryable) == ("c", 400, False)
    assert "document_parsing_exception" in error.reason
