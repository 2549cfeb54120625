"""An index keeps the model it was built with: ingesting or querying with another is refused
with a message that names both models and dims, and nothing is written.

The second model is a real, tiny embedder (an 8x8 grey thumbnail as a 64-dim vector):
a different model with different dims, fast enough to build an index in a test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from es_visual.cli import cli
from es_visual.core import ir
from es_visual.core.errors import ModelMismatchError
from es_visual.core.vectors import l2_normalize
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.sources import iter_folder
from es_visual.query.search import Search
from es_visual.workflows import ingest


class ThumbnailEmbedder:
    name, version, dims, supports_text = "thumb", "1", 64, False

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = [
            np.asarray(im.convert("L").resize((8, 8)), np.float32).ravel() - 127.5 for im in images
        ]
        return l2_normalize(np.stack(rows))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


def _checks(backend, index: str, folder: Path, mobilenet) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """(what, problem or None) for every refusal this backend must make."""
    thumb = ThumbnailEmbedder()
    config = PipelineConfig(name="test", model="thumb")
    report = ingest(backend, index, iter_folder(folder), embedder=thumb, pipeline=config)
    assert report.written == 5, report.failures
    backend.refresh(index)
    before = sorted(i for i, _ in backend.iter_docs(index))
    out: list[tuple[str, str | None]] = []

    def refused(what: str, fn, *needles: str) -> None:  # type: ignore[no-untyped-def]
        try:
            fn()
        except ModelMismatchError as exc:
            missing = [n for n in needles if n not in str(exc)]
            out.append((what, f"message lacks {missing}: {exc}" if missing else None))
            return
        out.append((what, "was not refused"))

    refused(
        "ingest with another model",
        lambda: ingest(
            backend,
            index,
            iter_folder(folder),
            embedder=mobilenet,
            pipeline=PipelineConfig(name="test"),
        ),
        "thumb@1",
        "64",
        mobilenet.tag,
        "1280",
    )
    after = sorted(i for i, _ in backend.iter_docs(index))
    out.append(("nothing written by the refused ingest", None if after == before else "written"))
    some = folder / "coffee.png"
    refused(
        "query image embedded by another model",
        lambda: Search(index).similar_to(image=some).execute(backend, embedder=mobilenet),
        "thumb@1",
        mobilenet.tag,
    )
    refused(
        "query vector of other dims",
        lambda: Search(index).similar_to(vector=[0.1] * 1280).execute(backend),
        "1280",
        "64",
    )
    request = ir.SearchRequest(
        index=index, vector=ir.VectorQuery(vector=(0.1,) * 64, model=mobilenet.tag)
    )
    refused("query vector tagged with another model", lambda: backend.search(request), "thumb@1")
    return out


def _record(tally, area: str, results: list[tuple[str, str | None]]) -> None:  # type: ignore[no-untyped-def]
    problems = [f"{what}: {p}" for what, p in results if p]
    tally.record(area, tried=len(results), failed=len(problems))
    assert not problems, "\n".join(problems)


def test_embedded_refuses_another_model(tmp_path: Path, good_folder: Path, mobilenet, tally):
    from es_visual.backends.embedded import EmbeddedBackend

    store = tmp_path / "store"
    with EmbeddedBackend(store) as backend:
        results = _checks(backend, "media", good_folder, mobilenet)

    # The CLI says the same in one line and exits 1 (mobilenet-v2 is its default model).
    runner = CliRunner()
    res = runner.invoke(cli, ["--data-dir", str(store), "ingest", str(good_folder)])
    ok = res.exit_code == 1 and "thumb@1" in res.output and "mobilenet-v2" in res.output
    results.append(("CLI ingest", None if ok else f"exit {res.exit_code}: {res.output}"))
    vec = tmp_path / "q.json"
    vec.write_text(json.dumps([0.1] * 1280))
    res = runner.invoke(cli, ["--data-dir", str(store), "search", "--vector-file", str(vec)])
    ok = res.exit_code == 1 and "1280 dims" in res.output
    results.append(("CLI search", None if ok else f"exit {res.exit_code}: {res.output}"))
    _record(tally, "model/dims mismatch: embedded", results)


def test_elasticsearch_api_refuses_another_model(
    noida_url: str, good_folder: Path, mobilenet, tally
):
    from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(noida_url, timeout=30)
    index = "mismatch-" + good_folder.parent.name.lower().replace("_", "-")[-20:]
    try:
        results = _checks(backend, index, good_folder, mobilenet)
    finally:
        backend.client.indices.delete(index=index, ignore_unavailable=True)
        backend.close()
    _record(tally, "model/dims mismatch: noida-db", results)
