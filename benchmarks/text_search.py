"""Search by text with the offline models: recall@3 of everyday phrasings, per signal and fused,
on a tuning split and three held-out splits (``text_search_data.py`` says what is in each).

recall@3 = |relevant in the top 3| / min(3, |relevant|), averaged over a split's queries.
Each split is its own index on the embedded store, ingested with the product's default
pipeline (the offline preset: MobileNetV2 with its labels, faces and their concepts); every
search runs with the product's defaults, the user's text being the default text fields
(caption, title, description, tags). Rankings compared:

* concepts: the query matched to the scene model's labels and to the WordNet kinds
  above them (MiniLM), no user text;
* text: BM25 over those fields, the query's own words only;
* meaning: those fields ranked by MiniLM similarity to the query (their stored vectors);
* fused: every signal ``Search.text`` uses (those three and BM25 for the best
  concepts' names), by reciprocal rank: what users get.

    python benchmarks/text_search.py [--keep DIR] [--split tuning|held-out|held-out-2|held-out-3]
                                      [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from text_search_data import build_split, default_cache, fetch_opencv, splits

# The user's text a search ranks: the product's default text fields (caption, title,
# description, tags), which ingest also gives a stored text vector.
USER_TEXT: tuple[str, ...] = ("caption", "title", "description", "tags")


def recall_at(ranked: list[str], relevant: set[str], k: int = 3) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))


def ingest_split(backend: Any, index: str, manifest: Path) -> float:
    """Ingest once (a kept store is reused); returns seconds spent."""
    from es_visual.config import Settings
    from es_visual.ingest.sources import iter_manifest
    from es_visual.models.registry import get_embedder
    from es_visual.workflows import ingest, load_pipeline

    expected = sum(1 for line in manifest.read_text(encoding="utf-8").splitlines() if line)
    if backend.index_exists(index) and backend.stats(index).documents >= expected:
        return 0.0
    started = time.perf_counter()
    pipeline = load_pipeline(Settings())  # what `es-visual ingest` runs: the offline preset
    report = ingest(
        backend,
        index,
        iter_manifest(manifest),
        embedder=get_embedder(pipeline.model),
        pipeline=pipeline,
    )
    if report.failures:
        print("ingest failures:", [f.reason for f in report.failures], file=sys.stderr)
    return time.perf_counter() - started


def rankers(backend: Any, index: str) -> dict[str, Callable[[str], list[str]]]:
    """Signal name -> query -> top 3 asset ids."""
    from es_visual.core.errors import QueryError
    from es_visual.query.fieldmap import FieldMap
    from es_visual.query.ranking import RankRequest, TextRank, query_words, run_rank
    from es_visual.query.search import Search

    concepts_only = Search(index, field_map=FieldMap.default(text_fields=()))
    fused = Search(index, field_map=FieldMap.default())
    assert FieldMap.default().text_fields == USER_TEXT, "the defaults moved: update USER_TEXT"

    def by_concepts(q: str) -> list[str]:
        try:
            return [h.id for h in concepts_only.text(q).limit(3).execute(backend).hits]
        except QueryError:  # no concept near the words: nothing ranks them
            return []

    def by_text(q: str) -> list[str]:
        request = RankRequest(index, TextRank(USER_TEXT, query_words(q)), size=3)
        return [h.id for h in run_rank(backend, request).hits]

    def by_meaning(q: str) -> list[str]:
        from es_visual.core import ir
        from es_visual.query.meaning import rank_by_meaning

        hits = rank_by_meaning(
            backend, index, q, USER_TEXT, filter=ir.MatchAll(), acl=ir.MatchAll(), size=3
        )
        return [h.id for h in hits]

    def by_fused(q: str) -> list[str]:
        return [h.id for h in fused.text(q).limit(3).execute(backend).hits]

    return {"concepts": by_concepts, "text": by_text, "meaning": by_meaning, "fused": by_fused}


def evaluate(
    backend: Any, index: str, queries: list[tuple[str, str]], content: dict[str, set[str]]
) -> tuple[list[dict[str, Any]], list[float]]:
    rows = []
    latencies = []
    for phrase, key in queries:
        relevant = {a for a, keys in content.items() if key in keys}
        row: dict[str, Any] = {"query": phrase, "relevant": len(relevant)}
        for name, rank in rankers(backend, index).items():
            t0 = time.perf_counter()
            top = rank(phrase)
            if name == "fused":
                latencies.append(time.perf_counter() - t0)
                row["top3"] = top
            row[name] = recall_at(top, relevant)
        rows.append(row)
    return rows, latencies


SIGNALS = ("concepts", "text", "meaning", "fused")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="build (or reuse) the collections here")
    parser.add_argument(
        "--split", choices=("tuning", "held-out", "held-out-2", "held-out-3"), action="append"
    )
    parser.add_argument("--json", action="store_true", help="print the per-query rows as JSON")
    args = parser.parse_args()

    from faces_data import fetch as fetch_faces

    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.models.concepts import get_concept_matcher

    cache = default_cache()
    fetch_faces(cache / "faces")
    fetch_opencv(cache)
    root = args.keep or Path(tempfile.mkdtemp(prefix="es-visual-text-"))
    root.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict[str, float]] = {}
    try:
        backend = EmbeddedBackend(root / "data")
        started = time.perf_counter()
        get_concept_matcher()  # the first use embeds the concepts (cached on disk)
        matcher_s = time.perf_counter() - started
        for name, split in splits().items():
            if args.split and name not in args.split:
                continue
            manifest, content = build_split(split, root / name, cache)
            index = f"bench-{name}"
            ingest_s = ingest_split(backend, index, manifest)
            rows, latencies = evaluate(backend, index, split.queries, content)
            if args.json:
                print(json.dumps(rows, indent=1))
            n = len(rows)
            mean = {k: sum(r[k] for r in rows) / n for k in SIGNALS}
            videos = sum(1 for a in content if a.endswith((".mp4", ".avi")))
            print(f"\n== {name}: {len(content)} assets ({videos} videos), {n} queries; "
                  f"ingest {ingest_s:.0f} s (0: kept)")  # fmt: skip
            print(f"{'query':40s} {'rel':>3s} " + " ".join(f"{s:>8s}" for s in SIGNALS))
            for r in rows:
                print(f"{r['query']:40s} {r['relevant']:3d} "
                      + " ".join(f"{r[s]:8.2f}" for s in SIGNALS))  # fmt: skip
            print(f"{'recall@3':40s} {'':3s} " + " ".join(f"{mean[s]:8.3f}" for s in SIGNALS))
            latencies.sort()
            print(f"fused query latency: median {1000 * latencies[n // 2]:.0f} ms, "
                  f"max {1000 * latencies[-1]:.0f} ms")  # fmt: skip
            summary[name] = {**mean, "latency_median_ms": 1000 * latencies[n // 2]}
        print(f"\nconcept vectors {matcher_s:.1f} s (about 0 when cached)")
        print(f"{platform.machine()}, Python {platform.python_version()}, "
              f"{datetime.now(UTC):%Y-%m-%d}")  # fmt: skip
        print("| ranking | " + " | ".join(summary) + " |")
        print("| --- | " + " | ".join("---:" for _ in summary) + " |")
        for s in SIGNALS:
            print(f"| {s} | " + " | ".join(f"{summary[k][s]:.2f}" for k in summary) + " |")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
