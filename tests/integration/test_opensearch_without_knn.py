"""An OpenSearch index created without ``index.knn`` (the setting is fixed at creation):
the error names the way out, and that way works end to end on the real engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from live_backends import open_cluster

from es_visual.core.errors import BackendError
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.query.search import Search
from es_visual.reindex import plan_reindex, run_reindex
from es_visual.workflows import spec_for

NAMES = ["astronaut.png", "chelsea.png", "coffee.png"]


@pytest.fixture(params=["opensearch", "opensearch3"])
def cluster(request: pytest.FixtureRequest, live_engine_url):
    backend = open_cluster(request.param, live_engine_url(request.param))
    yield backend
    backend.close()


def test_an_index_without_knn_is_copied_into_one_with_it(
    cluster, tmp_path: Path, skimage_dir: Path, mobilenet
) -> None:
    index = f"plain-{tmp_path.name[-8:].lower().replace('_', '-')}"
    cluster.client.indices.create(index=index, body={"mappings": {"properties": {
        "media": {"type": "keyword"}, "caption": {"type": "text"}}}})  # fmt: skip
    try:
        for n, name in enumerate(NAMES):
            shutil.copy(skimage_dir / name, tmp_path / name)
            body = {"media": str(tmp_path / name), "caption": f"photo {n}"}
            cluster.client.index(index=index, id=name, body=body)
        cluster.refresh(index)
        with pytest.raises(BackendError, match=r"es-visual reindex --index .* --path-field"):
            cluster.ensure_index(index, spec_for(mobilenet))

        plan = plan_reindex(cluster, index, mobilenet, path_field="media")
        assert (plan.documents, plan.to_embed) == (3, 3)
        report = run_reindex(
            cluster,
            plan,
            mobilenet,
            PipelineConfig(name="scene-only", max_side=160),
            path_field="media",
            replace_original=True,
        )
        assert report.swapped and report.failed == 0
        assert cluster.resolve_index(index) == plan.target  # the alias took its name
        hits = Search(index).similar_to(asset="coffee.png").limit(2).execute(cluster).hits
        assert len(hits) == 2 and "coffee.png" not in {h.id for h in hits}
        assert cluster.get(index, "chelsea.png")["caption"] == "photo 1"  # user fields kept
    finally:
        for name in cluster.client.indices.get(index=f"{index}*"):
            cluster.client.indices.delete(index=name)
