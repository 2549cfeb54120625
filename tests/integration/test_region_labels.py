"""Region labels in the DSL (``regions.label:dog``) on every store: a document-level filter
in any search, and inside a kNN over regions the filter of which regions compete
(``es_visual.core.nested``). The embedded store and each live engine get the same data.

The pictures are made so that the two levels give different answers: "cats-and-dog" has
a cat region right at the query and a dog region far from it; "dog" has one dog region
fairly near. Filtering documents only would rank cats-and-dog first (by its cat) and
report the cat as matched; filtering regions ranks dog first and reports dogs only.
"""

from __future__ import annotations

import pytest

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.query.fieldmap import FieldMap
from es_visual.query.parser import parse
from es_visual.query.search import Search

SPEC = VisualSpec(model="live@1", dims=3)
QUERY = (1.0, 0.0, 0.0)


def _region(label: str, vector: list[float], t: float | None = None) -> dict:
    region = {"kind": "object", "label": label, "score": 0.9, "bbox": [0.1, 0.1, 0.6, 0.6]}
    if t is not None:
        region["t"] = t
    return {**region, "vector": vector}


def _doc(media_type: str, regions: list[dict], **visual) -> dict:
    base = {"model": SPEC.model, "pipeline": "objects", "media_type": media_type,
            "scene": [0.0, 0.0, 1.0]}  # fmt: skip
    return {"visual": {**base, **visual, "regions": regions}}


def _docs() -> list[DocUpdate]:
    return [
        DocUpdate("cats-and-dog", _doc("image", [_region("cat", [1.0, 0.0, 0.0]),
                                                 _region("dog", [0.2, 1.0, 0.0])])),
        DocUpdate("dog", _doc("image", [_region("dog", [0.9, 0.3, 0.0])])),
        DocUpdate("cat", _doc("image", [_region("cat", [0.99, 0.05, 0.0])])),
        DocUpdate("no-regions", _doc("image", [])),
        # A video: dogs at 1 s and 2 s (near the query), a cat at 3 s (nearer still).
        DocUpdate("video", _doc("video", [_region("dog", [0.95, 0.2, 0.0], t=1.0),
                                          _region("dog", [0.96, 0.2, 0.0], t=2.0),
                                          _region("cat", [1.0, 0.01, 0.0], t=3.0)],
                                duration=4.0,
                                frames=[{"t": float(t), "vector": [0.0, 0.0, 1.0]}
                                        for t in range(4)])),
    ]  # fmt: skip


@pytest.fixture
def media(backend, index_name):
    backend.ensure_index(index_name, SPEC)
    result = backend.bulk_update(index_name, _docs())
    assert result.ok, result.errors
    backend.refresh(index_name)
    return index_name


def _search(backend, index: str, where: str | None, *, on: str | None = "regions", size=10):
    s = Search(index, field_map=FieldMap.default())
    if where:
        s = s.where(where)
    if on is not None:
        s = s.similar_to(vector=QUERY).on(on)
    return s.limit(size).execute(backend)


def test_the_dsl_names_region_fields() -> None:
    node = parse("regions.label:dog AND regions.score>=0.5 AND regions.kind:object")
    assert [c.field for c in node.children] == [  # type: ignore[union-attr]
        "visual.regions.label",
        "visual.regions.score",
        "visual.regions.kind",
    ]


def test_region_label_filters_documents_in_a_metadata_search(backend, media) -> None:
    ids = lambda where: sorted(h.id for h in _search(backend, media, where, on=None).hits)  # noqa: E731
    assert ids("regions.label:dog") == ["cats-and-dog", "dog", "video"]
    assert ids("regions.label:cat AND NOT regions.label:dog") == ["cat"]
    assert ids("regions.label:dog OR regions.label:cat") == ["cat", "cats-and-dog", "dog", "video"]
    assert ids("regions.label:bird") == []


def test_region_label_picks_the_competing_regions_of_a_knn(backend, media) -> None:
    result = _search(backend, media, "regions.label:dog")
    assert [h.id for h in result.hits] == ["video", "dog", "cats-and-dog"]
    for hit in result.hits:
        assert hit.matched is not None and hit.matched.kind == "region"
        assert hit.matched.label == "dog", (hit.id, hit.matched)
        assert {c.label for c in hit.children} == {"dog"}, hit.id
    by_id = {h.id: h for h in result.hits}
    # Scored by its dog, not by its cat (which is the query itself: 1.0).
    assert by_id["cats-and-dog"].score < 0.5
    # The video's matched dog carries its time; its timeline is made of dog moments only.
    assert by_id["video"].matched.t in (1.0, 2.0)


def test_without_a_label_every_region_competes(backend, media) -> None:
    result = _search(backend, media, None)
    by_id = {h.id: h for h in result.hits}
    assert by_id["cats-and-dog"].matched.label == "cat"
    assert by_id["cats-and-dog"].score == pytest.approx(1.0, abs=1e-3)
    assert "no-regions" not in by_id


def test_a_condition_mixing_levels_filters_documents_only(backend, media) -> None:
    # "a dog region OR a video": a document condition; every region of them competes.
    result = _search(backend, media, "regions.label:dog OR media_type:video")
    by_id = {h.id: h for h in result.hits}
    assert set(by_id) == {"cats-and-dog", "dog", "video"}
    assert by_id["cats-and-dog"].matched.label == "cat"


def test_vector_origins_count_documents_per_preset(backend, media) -> None:
    """What `stats` shows per target: the documents holding its vectors, by preset."""
    from es_visual.ingest.preset_targets import vector_origins

    assert vector_origins(backend, media) == {
        "scene": {"objects": 5},
        "regions": {"objects": 4},
        "frames": {"objects": 1},
    }
