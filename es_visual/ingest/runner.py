"""The ingest loop: source -> analyze (threads) -> embed (batched) -> write.

Each stage is replaceable and timed. Analysis of the next assets runs in a
thread pool while the model embeds the current batch (Pillow, PyAV and hashing
release the GIL), so decoding overlaps with inference. A bad asset is recorded
(on its document as ``visual.error`` and in the report) and never stops the
batch. Unchanged assets (same content hash, model and pipeline, no earlier
error) are skipped, which makes a re-run idempotent and an interrupted run
resumable; a manifest's metadata is still applied to them when it changed.
With ``text_fields``, each written document also gets the meaning of its text
(``ingest.text_vectors``: one sentence-model call per chunk, after the pictures'),
made again only when that text changed.
Ctrl-C stops the run between writes: ``IngestInterrupted`` carries the report
of what was written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from es_visual.core import schema
from es_visual.core.batching import batched
from es_visual.core.documents import BulkResult, DocUpdate
from es_visual.core.errors import EsVisualError, MediaError
from es_visual.ingest.analyze import Analysis, analyze
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.report import Failure, IngestInterrupted, IngestReport, Note
from es_visual.ingest.sources import Asset, SourceError
from es_visual.models.base import Embedder, ImagePreparer

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

STATE_FIELDS = (
    schema.CONTENT_HASH_FIELD,
    schema.MODEL_FIELD,
    schema.PIPELINE_FIELD,
    schema.ERROR_FIELD,
    # What a manifest last wrote: a hash of its metadata and the top-level fields it owns.
    schema.METADATA_HASH_FIELD,
    schema.METADATA_FIELDS_FIELD,
    # What the stored text vector was made from (ingest.text_vectors).
    schema.TEXT_HASH_FIELD,
    schema.TEXT_MODEL_FIELD,
    schema.TEXT_FIELDS_FIELD,
)


class Writer(Protocol):
    def __call__(self, updates: Sequence[DocUpdate]) -> BulkResult: ...


# ids -> {id: stored document (at least STATE_FIELDS)} for those that exist.
Lookup = Callable[[Sequence[str]], dict[str, dict[str, Any]]]
Progress = Callable[[int], None]
OnFailure = Callable[[Failure], None]


# Pictures (crops and sampled frames, at the model's input size: ~150 kB each at 224 px)
# that analysed assets may hold before the model embeds them. Without a bound, two chunks
# of long videos (600 frames each) held ~5.8 GB; with it, ~0.6 GB plus one asset.
MAX_HELD_PICTURES = 4096


def run_ingest(
    source: Iterable[Asset | SourceError],
    *,
    embedder: Embedder,
    config: PipelineConfig,
    write: Writer,
    lookup: Lookup,
    index: str = "",
    batch_size: int = 32,
    workers: int = 2,
    force: bool = False,
    progress: Progress | None = None,
    on_failure: OnFailure | None = None,
    max_held_pictures: int = MAX_HELD_PICTURES,
    text_fields: Sequence[str] = (),
) -> IngestReport:
    """Ingest every asset of ``source``; returns what happened. Never raises for a
    bad asset; raises only when the store itself fails (``BackendError``).

    ``on_failure`` is called with each per-item ``Failure`` as soon as its chunk is
    written (before ``progress``), so a caller can show errors while the run goes on.

    Memory: analyses wait to start while ``max_held_pictures`` pictures are analysed
    but not yet embedded, and a chunk is embedded and written in parts when its
    pictures reach that bound, so a folder of long videos runs in bounded memory.

    Ctrl-C (``KeyboardInterrupt``) raises ``IngestInterrupted`` with the report so far:
    every part is one write, counted only once it is stored, so the report's
    ``written`` is exact and a re-run resumes after it.

    ``text_fields``: the fields whose joined text gets a stored text vector
    (``ingest.text_vectors``); ``lookup`` should then return them too, so that the text
    of a document whose media is ingested again (``--from-index``) is known."""
    report = IngestReport(index=index, model=embedder.tag, pipeline=config.name)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="analyze")
    budget = PictureBudget(max_held_pictures)

    def finish(pending: _Pending) -> None:
        # In submission order, embedding and writing whenever the held pictures reach the
        # bound: an analysis waiting for room is always behind the ones collected here
        # (the pool starts tasks in order), so waiting on the next one cannot deadlock.
        part: list[_Outcome] = list(pending.outcomes)
        held = 0
        for future in pending.futures:
            outcome = future.result()
            part.append(outcome)
            held += outcome.pictures
            if held >= budget.limit:
                _finish(part, embedder, write, report, progress, on_failure, config, text_fields)
                budget.release(held)
                part, held = [], 0
        if part:
            _finish(part, embedder, write, report, progress, on_failure, config, text_fields)
            budget.release(held)

    try:
        pending: _Pending | None = None
        for chunk in batched(source, batch_size):
            # Start analysing this chunk before embedding the previous one.
            upcoming = _submit_chunk(pool, chunk, embedder, config, lookup, report, force, budget)
            if pending is not None:
                finish(pending)
            pending = upcoming
        if pending is not None:
            finish(pending)
    except KeyboardInterrupt:
        report.interrupted = True
        raise IngestInterrupted(report) from None
    finally:
        # Stopped early (Ctrl-C, a store failure): queued analyses are dropped, one already
        # decoding finishes in its thread, one waiting for room is let go. Done: every
        # analysis was collected anyway.
        budget.close()
        pool.shutdown(wait=False, cancel_futures=True)
    return report


class PictureBudget:
    """How many pictures analysed assets hold until the model embeds them.

    An analysis cannot know its count before it runs (a video's frames), so it waits
    while the held count is at the limit, then adds what it made: the bound is soft by
    at most the pictures of the assets analysing at once."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.held = 0
        self.peak = 0
        self._closed = False
        self._room = threading.Condition()

    def wait_for_room(self) -> bool:
        """Block while the budget is full; False once the run has stopped."""
        with self._room:
            self._room.wait_for(lambda: self._closed or self.held < self.limit)
            return not self._closed

    def add(self, pictures: int) -> None:
        with self._room:
            self.held += pictures
            self.peak = max(self.peak, self.held)

    def release(self, pictures: int) -> None:
        with self._room:
            self.held -= pictures
            self._room.notify_all()

    def close(self) -> None:
        with self._room:
            self._closed = True
            self._room.notify_all()


class _Pending:
    """A chunk being analysed: its source errors now, its assets' futures in order."""

    __slots__ = ("futures", "outcomes")

    def __init__(self, outcomes: list[_Outcome], futures: list[Future[_Outcome]]) -> None:
        self.outcomes, self.futures = outcomes, futures


class _Outcome:
    """One asset after analysis: an Analysis, a Failure, or skipped (both None).

    ``unset``: the fields an earlier manifest line gave this document, removed before its
    metadata is written again; ``metadata_only``: unchanged media whose manifest
    metadata changed (written without re-embedding)."""

    __slots__ = ("analysis", "asset", "failure", "metadata_only", "stored", "unset")

    def __init__(
        self,
        asset: Asset | None,
        analysis: Analysis | None,
        failure: Failure | None,
        *,
        unset: tuple[str, ...] = (),
        metadata_only: bool = False,
    ):
        self.asset, self.analysis, self.failure = asset, analysis, failure
        self.unset, self.metadata_only = unset, metadata_only
        # The document as stored (``lookup``'s fields), or None for a new one.
        self.stored: dict[str, Any] | None = None

    @property
    def pictures(self) -> int:
        """Pictures this outcome holds for the model (counted in the ``PictureBudget``)."""
        return len(self.analysis.crops) if self.analysis is not None else 0


def _submit_chunk(
    pool: ThreadPoolExecutor,
    chunk: list[Asset | SourceError],
    embedder: Embedder,
    config: PipelineConfig,
    lookup: Lookup,
    report: IngestReport,
    force: bool,
    budget: PictureBudget,
) -> _Pending:
    """Queue the chunk's analyses, each started when the budget has room."""
    assets = [a for a in chunk if isinstance(a, Asset)]
    outcomes: list[_Outcome] = []
    for bad in chunk:
        if isinstance(bad, SourceError):
            outcomes.append(_Outcome(None, None, Failure(bad.id, bad.origin, "source", bad.reason)))
    with report.timed("lookup"):
        existing = lookup([a.id for a in assets]) if assets else {}

    def analyse(asset: Asset) -> _Outcome:
        if not budget.wait_for_room():
            failure = Failure(asset.id, asset.origin, "analyze", "stopped before analysis")
            return _Outcome(asset, None, failure)
        outcome = _analyze_one(asset, embedder, config, existing.get(asset.id), force)
        outcome.stored = existing.get(asset.id)
        budget.add(outcome.pictures)
        return outcome

    return _Pending(outcomes, [pool.submit(analyse, a) for a in assets])


def _analyze_one(
    asset: Asset,
    embedder: Embedder,
    config: PipelineConfig,
    stored: dict[str, Any] | None,
    force: bool,
) -> _Outcome:
    from es_visual.media.image import content_hash

    unset = _owned_fields(stored) if asset.owns_metadata else ()
    try:
        digest = content_hash(asset.path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if str(asset.path) not in asset.origin:  # a manifest line: say which file it named
            reason = f"{reason}: {asset.path}"
        failure = Failure(asset.id, asset.origin, "read", reason)
        return _Outcome(asset, None, failure, unset=unset)
    if not force and _unchanged(stored, digest, embedder.tag, config.name):
        changed = asset.owns_metadata and _stored_hash(stored) != metadata_hash(asset.metadata)
        return _Outcome(asset, None, None, unset=unset, metadata_only=changed)
    # Child lists and the error are written explicitly: a partial update merges objects,
    # so anything left out would survive from the previous ingest of this asset.
    base: dict[str, Any] = {
        "model": embedder.tag,
        "pipeline": config.name,
        "content_hash": digest,
        "path": str(asset.path),
        # What a media library sorts by besides dates (the web UI's name and size).
        "filename": Path(asset.path).name,
        "bytes": _file_bytes(asset.path),
        "error": None,
        "regions": [],
        "faces": [],
        "frames": [],
    }
    try:
        analysis = analyze(asset, config, base)
        analysis.crops = [
            (slot, fit_for_model(embedder, img, config.max_side)) for slot, img in analysis.crops
        ]
        return _Outcome(asset, analysis, None, unset=unset)
    except EsVisualError as exc:
        reason = exc.reason if isinstance(exc, MediaError) else str(exc)
        failure = Failure(asset.id, asset.origin, "analyze", reason)
        return _Outcome(asset, None, failure, unset=unset)
    except Exception as exc:  # a decoder bug must cost one asset, not the batch
        log.exception("unexpected error analysing %s", asset.origin)
        reason = f"{type(exc).__name__}: {exc}"
        failure = Failure(asset.id, asset.origin, "analyze", reason)
        return _Outcome(asset, None, failure, unset=unset)


def fit_for_model(embedder: Embedder, image: Image.Image, max_side: int) -> Image.Image:
    """A picture ready to wait for the model: the model's own resize where it has one
    (``prepare_image``: done here, in a reader thread, it overlaps with inference), else a
    shrink to ``max_side``, so a batch of 40-megapixel photos never holds gigabytes."""
    if isinstance(embedder, ImagePreparer):
        return embedder.prepare_image(image)
    if max(image.size) <= max_side:
        return image
    copy = image.copy()
    copy.thumbnail((max_side, max_side))
    return copy


def metadata_hash(metadata: dict[str, Any]) -> str:
    """A manifest line's metadata, hashed: equal metadata, equal hash (key order aside)."""
    raw = json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


_NO_METADATA = metadata_hash({})


def _stored_hash(stored: dict[str, Any] | None) -> str:
    # A document no manifest wrote has no metadata of ours: that of an empty line.
    return schema.visual_of(stored).get("metadata_hash") or _NO_METADATA


def _owned_fields(stored: dict[str, Any] | None) -> tuple[str, ...]:
    fields = schema.visual_of(stored).get("metadata_fields") or []
    return tuple(str(f) for f in fields) if isinstance(fields, list) else ()


def _document(asset: Asset, visual: dict[str, Any]) -> dict[str, Any]:
    """The partial document for ``asset``: its metadata beside ``visual``; a manifest's
    metadata also leaves its hash and field names, to compare and remove them next time."""
    if asset.owns_metadata:
        owned = sorted(k for k in asset.metadata if k != schema.ROOT)
        stamp = {"metadata_hash": metadata_hash(asset.metadata), "metadata_fields": owned}
        visual = {**visual, **stamp}
    return {**asset.metadata, schema.ROOT: visual}


def _file_bytes(path: Any) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:  # read a moment ago: gone again, the hash was still taken
        return None


def _unchanged(stored: dict[str, Any] | None, digest: str, model: str, pipeline: str) -> bool:
    visual = schema.visual_of(stored)
    return (
        visual.get("content_hash") == digest
        and visual.get("model") == model
        and visual.get("pipeline") == pipeline
        and not visual.get("error")
    )


def _finish(
    outcomes: list[_Outcome],
    embedder: Embedder,
    write: Writer,
    report: IngestReport,
    progress: Progress | None,
    on_failure: OnFailure | None = None,
    config: PipelineConfig | None = None,
    text_fields: Sequence[str] = (),
) -> None:
    reported = len(report.failures)
    analyses = [o.analysis for o in outcomes if o.analysis is not None]
    failures = [o.failure for o in outcomes if o.failure is not None]
    report.seen += len(outcomes)
    report.skipped += sum(1 for o in outcomes if o.analysis is None and o.failure is None)
    analyses, embed_failures = _embed(analyses, embedder, report)
    failures += embed_failures
    if config is not None and analyses:
        from es_visual.ingest.labels import label_analyses

        with report.timed("labels"):  # concept labels, read off the vectors just made
            label_analyses(analyses, embedder.tag, config)
    by_id = {o.asset.id: o for o in outcomes if o.asset is not None}
    # Unchanged media whose manifest line changed: the metadata alone, no re-embedding.
    refreshed = [o.asset for o in outcomes if o.metadata_only and o.asset is not None]
    texts: dict[str, dict[str, Any]] = {}
    if text_fields and (analyses or refreshed):
        with report.timed("text"):  # the meaning of each document's text, one model call
            texts = _text_changes([a.asset for a in analyses] + refreshed, by_id, text_fields)

    now = datetime.now(UTC).isoformat(timespec="seconds")
    updates = [
        DocUpdate(
            a.asset.id,
            _document(a.asset, {**a.visual, "indexed_at": now, **texts.get(a.asset.id, {})}),
            upsert=not a.asset.in_index,
            unset=by_id[a.asset.id].unset,
        )
        for a in analyses
    ]
    for asset in refreshed:
        updates.append(
            DocUpdate(
                asset.id,
                _document(asset, texts.get(asset.id, {})),
                upsert=not asset.in_index,
                unset=by_id[asset.id].unset,
            )
        )
    # A failed asset still gets a document, so the failure is visible in the index and
    # the next run retries it; its metadata is kept, its old vectors are not touched.
    for f in failures:
        if f.id is not None and f.stage != "source":
            visual = {"error": f"{f.stage}: {f.reason}"}
            failed = by_id.get(f.id)
            if failed is None or failed.asset is None:
                updates.append(DocUpdate(f.id, {schema.ROOT: visual}))
            else:
                doc = _document(failed.asset, visual)
                updates.append(
                    DocUpdate(f.id, doc, upsert=not failed.asset.in_index, unset=failed.unset)
                )
    report.failures.extend(failures)
    if updates:
        # Ctrl-C waits for the write to be stored and counted: the report stays exact.
        with _sigint_deferred(), report.timed("write"):
            result = write(updates)
            failed_ids = {e.id for e in result.errors}
            report.written += sum(1 for a in analyses if a.asset.id not in failed_ids)
            report.metadata_updated += sum(1 for a in refreshed if a.id not in failed_ids)
            for err in result.errors:
                report.failures.append(Failure(err.id, err.id, "write", err.reason))
            for a in analyses:
                if a.asset.id not in failed_ids:
                    notes = dict.fromkeys(a.notes)
                    report.notes.extend(Note(a.asset.id, a.asset.origin, n) for n in notes)
    if on_failure:
        for failure in report.failures[reported:]:
            on_failure(failure)
    if progress:
        progress(len(outcomes))


def _text_changes(
    assets: list[Asset], by_id: dict[str, _Outcome], fields: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """id -> the text vector fields to write into its ``visual`` (only where they change):
    the document's text is its stored one with this asset's metadata on top (a
    manifest line's former fields removed)."""
    from es_visual.ingest.text_vectors import merged_text, text_changes

    docs = []
    for asset in assets:
        outcome = by_id[asset.id]
        text = merged_text(outcome.stored, asset.metadata, fields, outcome.unset)
        docs.append((text, schema.visual_of(outcome.stored)))
    changes = text_changes(docs, fields)
    return {a.id: c for a, c in zip(assets, changes, strict=True) if c}


def _embed(
    analyses: list[Analysis], embedder: Embedder, report: IngestReport
) -> tuple[list[Analysis], list[Failure]]:
    """Embed every queued picture of the batch in one model call; if that call fails,
    retry asset by asset so one poisonous picture cannot sink its neighbours."""
    crops = [(a, slot, img) for a in analyses for slot, img in a.crops]
    if not crops:
        return analyses, []
    try:
        with report.timed("embed"):
            vectors = embedder.embed_images([img for _, _, img in crops])
    except Exception:
        log.warning("batch embedding failed; retrying asset by asset", exc_info=True)
        return _embed_one_by_one(analyses, embedder, report)
    for (analysis, slot, img), vector in zip(crops, vectors, strict=True):
        analysis.place(slot, vector.tolist())
        _tone(analysis, slot, img)
    for a in analyses:
        a.crops.clear()
    return analyses, []


def _tone(analysis: Analysis, slot: Any, image: Any) -> None:
    """The tone concepts of a scene or frame picture, while it is at hand."""
    from es_visual.models.tone_concepts import tone_labels

    if slot[0] in ("scene", "frames"):
        analysis.tones[slot] = tone_labels(image)


def _embed_one_by_one(
    analyses: list[Analysis], embedder: Embedder, report: IngestReport
) -> tuple[list[Analysis], list[Failure]]:
    good: list[Analysis] = []
    failures: list[Failure] = []
    for a in analyses:
        try:
            with report.timed("embed"):
                vectors = embedder.embed_images([img for _, img in a.crops])
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            failures.append(Failure(a.asset.id, a.asset.origin, "embed", reason))
            continue
        for (slot, img), vector in zip(a.crops, vectors, strict=True):
            a.place(slot, vector.tolist())
            _tone(a, slot, img)
        a.crops.clear()
        good.append(a)
    return good, failures


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a first Ctrl-C until the block is done (then raise it); a second one stops at
    once. Only the main thread receives signals: elsewhere (a UI job) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []

    def hold(signum: int, frame: Any) -> None:
        if caught:
            raise KeyboardInterrupt
        caught.append((signum, frame))

    try:
        previous = signal.signal(signal.SIGINT, hold)
    except ValueError:  # signals unavailable here (an embedding host's own loop)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        if callable(previous):
            previous(*caught[0])
        elif previous == signal.SIG_DFL:
            raise KeyboardInterrupt
