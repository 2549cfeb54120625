#!/usr/bin/env bash
# Live checks against a running cluster (curl + python3 only; no project venv):
#   smoke.sh http://127.0.0.1:9200 [expected-nodes]
# 2-shard index with dense_vector (cosine) and a nested dense_vector; bulk;
# top-level kNN with a filter; nested kNN with inner_hits; point in time +
# search_after on _shard_doc; where dense_vector shows up (or not) in _source.
# Creates and deletes the index es-visual-smoke. Exit 0 = every check passed.
set -euo pipefail
url="${1:-http://127.0.0.1:9200}"
nodes="${2:-2}"
exec python3 - "$url" "$nodes" <<'EOF'
import json, sys, urllib.request, urllib.error

url, want_nodes = sys.argv[1].rstrip("/"), int(sys.argv[2])
index = "es-visual-smoke"
failures = []

def call(method, path, body=None, ndjson=False, headers=None):
    data = None
    h = {"Content-Type": "application/x-ndjson" if ndjson else "application/json"}
    h.update(headers or {})
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw), dict(e.headers)
        except ValueError:
            return e.code, raw.decode(errors="replace"), dict(e.headers)

def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f"  -- {detail}" if detail else ""))
    if not ok:
        failures.append(name)

st, root, _ = call("GET", "/")
version = root["version"]["number"] if st == 200 else "?"
major = int(version.split(".")[0]) if version != "?" else 0
check("GET / answers with the version", st == 200, f"{version} lucene {root['version']['lucene_version'] if st == 200 else root}")

st, h, _ = call("GET", f"/_cluster/health?wait_for_status=green&wait_for_nodes={want_nodes}&timeout=60s")
check(f"cluster green with {want_nodes} nodes", st == 200 and h["status"] == "green" and h["number_of_nodes"] == want_nodes,
      f"status={h.get('status')} nodes={h.get('number_of_nodes')}")

call("DELETE", f"/{index}")
vec = {"type": "dense_vector", "dims": 3, "similarity": "cosine", "index": True}
st, r, _ = call("PUT", f"/{index}", {
    "settings": {"number_of_shards": 2, "number_of_replicas": min(1, want_nodes - 1)},
    "mappings": {"properties": {
        "tag": {"type": "keyword"}, "vec": vec,
        "regions": {"type": "nested", "properties": {"label": {"type": "keyword"}, "vec": vec}},
    }},
})
check("create index (2 shards, replicas min(1, nodes-1), dense_vector + nested dense_vector)", st == 200, str(r)[:300])
call("GET", f"/_cluster/health/{index}?wait_for_status=green&timeout=60s")
st, s, _ = call("GET", f"/{index}/_settings?include_defaults=true&flat_settings=true")
flat = {**s[index]["settings"], **s[index].get("defaults", {})}
print(f"     index.mapping.exclude_source_vectors = {flat.get('index.mapping.exclude_source_vectors', '(no such setting)')}")
st, m, _ = call("GET", f"/{index}/_mapping")
print(f"     vec mapping as stored: {json.dumps(m[index]['mappings']['properties']['vec'])}")

docs = {
    "1": {"tag": "a", "vec": [1, 0, 0], "regions": [{"label": "x", "vec": [1, 0, 0]}, {"label": "y", "vec": [0, 1, 0]}]},
    "2": {"tag": "a", "vec": [0.9, 0.1, 0], "regions": [{"label": "x", "vec": [0, 0, 1]}]},
    "3": {"tag": "b", "vec": [0, 1, 0], "regions": [{"label": "z", "vec": [0.7, 0.7, 0]}]},
    "4": {"tag": "b", "vec": [0, 0, 1], "regions": []},
    "5": {"tag": "a", "vec": [0.5, 0.5, 0.5], "regions": [{"label": "x", "vec": [0.9, 0, 0.1]}]},
    "6": {"tag": "c", "vec": [1, 1, 0]},
}
lines = "".join(json.dumps({"index": {"_index": index, "_id": i}}) + "\n" + json.dumps(d) + "\n" for i, d in docs.items())
st, r, _ = call("POST", "/_bulk?refresh=true", lines, ndjson=True)
check("bulk 6 documents", st == 200 and not r["errors"], "" if st == 200 and not r["errors"] else str(r)[:300])

# top-level kNN with a filter
st, r, _ = call("POST", f"/{index}/_search", {
    "knn": {"field": "vec", "query_vector": [1, 0, 0], "k": 3, "num_candidates": 10, "filter": {"term": {"tag": "a"}}},
    "_source": ["tag"],
})
got = [(x["_id"], round(x["_score"], 4)) for x in r["hits"]["hits"]] if st == 200 else r
check("kNN + filter: only tag=a, best first", st == 200 and [i for i, _ in got] == ["1", "2", "5"], str(got))

# nested kNN with inner_hits
st, r, _ = call("POST", f"/{index}/_search", {
    "knn": {"field": "regions.vec", "query_vector": [1, 0, 0], "k": 3, "num_candidates": 10,
            "inner_hits": {"size": 2, "_source": False, "fields": ["regions.label"]}},
    "_source": ["tag"],
})
if st == 200:
    got = [(x["_id"], round(x["_score"], 4),
            [(ih["_nested"]["offset"], round(ih["_score"], 4)) for ih in x["inner_hits"]["regions"]["hits"]["hits"]])
           for x in r["hits"]["hits"]]
else:
    got = r
check("nested kNN + inner_hits: parents 1,5,3; doc 1 has both regions", st == 200 and [g[0] for g in got] == ["1", "5", "3"]
      and [o for o, _ in got[0][2]] == [0, 1], str(got))

# nested kNN with a filter on a parent field
st, r, _ = call("POST", f"/{index}/_search", {
    "knn": {"field": "regions.vec", "query_vector": [1, 0, 0], "k": 3, "num_candidates": 10,
            "filter": {"term": {"tag": "b"}}, "inner_hits": {"size": 1}},
    "_source": ["tag"],
})
got = [(x["_id"], x["inner_hits"]["regions"]["hits"]["hits"][0]["_source"]) for x in r["hits"]["hits"]] if st == 200 else r
check("nested kNN + parent filter (tag=b): only doc 3", st == 200 and [g[0] for g in got] == ["3"], str(got))

# point in time + search_after on _shard_doc; a write after opening is not seen
st, r, _ = call("POST", f"/{index}/_pit?keep_alive=1m")
check("open point in time", st == 200, str(r)[:200])
pit = r["id"]
call("POST", "/_bulk?refresh=true", json.dumps({"index": {"_index": index, "_id": "7"}}) + "\n" + json.dumps({"tag": "late"}) + "\n", ndjson=True)
seen, after, pages = [], None, 0
while True:
    body = {"size": 2, "pit": {"id": pit, "keep_alive": "1m"}, "sort": [{"_shard_doc": "asc"}], "_source": False}
    if after is not None:
        body["search_after"] = after
    st, r, _ = call("POST", "/_search", body)
    if st != 200:
        check("PIT page", False, str(r)[:300])
        break
    pit = r.get("pit_id", pit)
    hits = r["hits"]["hits"]
    if not hits:
        break
    pages += 1
    seen += [x["_id"] for x in hits]
    after = hits[-1]["sort"]
check("PIT + search_after(_shard_doc): every doc once, later write unseen", sorted(seen) == sorted(docs) and len(seen) == len(set(seen)),
      f"{pages} pages {seen}, last sort {after}")
st, r, _ = call("DELETE", "/_pit", {"id": pit})
check("close point in time", st == 200 and r.get("succeeded"), str(r))

# where do vectors show up?
def src(path, body=None, method="GET", headers=None):
    st, r, _ = call(method, path, body, headers=headers)
    if st != 200:
        return f"HTTP {st}: {str(r)[:160]}"
    if "hits" in r:
        h = r["hits"]["hits"][0]
        return {k: h[k] for k in ("_source", "fields") if k in h}
    if "docs" in r:
        return r["docs"][0].get("_source")
    return r.get("_source")

print("     -- dense_vector in responses (doc 6 was indexed with vec [1, 1, 0]):")
probes = [
    ("GET _doc", f"/{index}/_doc/6", None, "GET", None),
    ("GET _doc ?_source_exclude_vectors=false", f"/{index}/_doc/6?_source_exclude_vectors=false", None, "GET", None),
    ("search default", f"/{index}/_search", {"query": {"ids": {"values": ["6"]}}}, "POST", None),
    ("search _source.exclude_vectors=false", f"/{index}/_search", {"query": {"ids": {"values": ["6"]}}, "_source": {"exclude_vectors": False}}, "POST", None),
    ("search _source: [\"vec\"]", f"/{index}/_search", {"query": {"ids": {"values": ["6"]}}, "_source": ["vec"]}, "POST", None),
    ("search fields: [\"vec\"]", f"/{index}/_search", {"query": {"ids": {"values": ["6"]}}, "fields": ["vec"], "_source": False}, "POST", None),
    ("search docvalue_fields: [\"vec\"]", f"/{index}/_search", {"query": {"ids": {"values": ["6"]}}, "docvalue_fields": ["vec"], "_source": False}, "POST", None),
    ("_mget default", f"/{index}/_mget", {"ids": ["6"]}, "POST", None),
    ("GET _doc, Accept compatible-with=8", f"/{index}/_doc/6", None, "GET",
     {"Accept": "application/vnd.elasticsearch+json; compatible-with=8"}),
]
vector_default = None
for name, path, body, method, headers in probes:
    out = src(path, body, method, headers)
    print(f"     {name:45s} {json.dumps(out) if not isinstance(out, str) else out}")
    if name == "GET _doc":
        vector_default = isinstance(out, dict) and "vec" in out
print(f"     vectors in _source by default: {vector_default}")

# REST compatibility headers: what this server accepts
for v in (7, 8, 9):
    st, r, hdr = call("GET", "/_cluster/health", headers={
        "Accept": f"application/vnd.elasticsearch+json; compatible-with={v}",
        "Content-Type": f"application/vnd.elasticsearch+json; compatible-with={v}"})
    reason = "" if st == 200 else r["error"]["caused_by"]["reason"] if isinstance(r, dict) and "caused_by" in r.get("error", {}) else str(r)[:160]
    print(f"     compatible-with={v}: HTTP {st} {reason}")
st, r, hdr = call("GET", "/_cluster/health")
print(f"     X-elastic-product: {hdr.get('X-elastic-product')}")

call("DELETE", f"/{index}")
print(f"{'PASS' if not failures else 'FAIL'}: Elasticsearch {version} at {url}" + (f" ({len(failures)} failed: {failures})" if failures else ""))
sys.exit(1 if failures else 0)
EOF
