"""Load the models a first search needs while the server starts, in the background.

Without it, the first search after a start waits for the scene model to load and
run once (several seconds on a CPU), and the first face or text search for
theirs. ``start`` runs each step on a daemon thread right after the app is
made: the index's scene embedder (loaded through ``AppState.embedder``, whose
lock a search arriving meanwhile waits on, instead of loading a second copy),
one forward pass, the face model when the index holds faces, and the concept
matcher when the model has labels. A step that fails is noted and the rest go
on: the search that needs it then says why, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask_ui.state import AppState

log = logging.getLogger(__name__)


@dataclass
class Warmup:
    state: str = "off"  # off | running | ready
    seconds: dict[str, float] = field(default_factory=dict)  # step -> time it took
    errors: dict[str, str] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "errors": dict(self.errors),
        }


def steps(state: AppState) -> list[tuple[str, Callable[[], Any]]]:
    """What a first search of this index would load, in the order a search meets it."""
    spec = state.backend().cached_spec(state.index)
    if spec is None:  # nothing indexed yet: the first ingest loads its own model
        return []
    out: list[tuple[str, Callable[[], Any]]] = [("scene model", lambda: _embed_once(state))]
    if spec.face_model is not None:
        out.append(("face model", _faces_once))
    from es_visual.models.labels import has_labeler

    if has_labeler(spec.model):
        out.append(("concept words", _concepts_once))
    return out


def _embed_once(state: AppState) -> None:
    from PIL import Image

    # The first forward pass is the slow one (allocations, kernel choice): do it now.
    state.embedder().embed_images([Image.new("RGB", (64, 64), (128, 128, 128))])


def _faces_once() -> None:
    from PIL import Image

    from es_visual.models.faces import get_face_model

    get_face_model().detect(Image.new("RGB", (64, 64), (128, 128, 128)))


def _concepts_once() -> None:
    from es_visual.models.concepts import get_concept_matcher

    get_concept_matcher().match("a photo")


def start(state: AppState, warmup: Warmup) -> threading.Thread:
    def run() -> None:
        try:
            todo = steps(state)
        except Exception as exc:  # the store is unreachable: searches will say so
            warmup.errors["index"] = f"{type(exc).__name__}: {exc}"
            todo = []
        for name, step in todo:
            began = time.perf_counter()
            try:
                step()
            except Exception as exc:  # noted; the search that needs it says why
                log.warning("warm-up: %s failed: %s", name, exc)
                warmup.errors[name] = f"{type(exc).__name__}: {exc}"
            warmup.seconds[name] = time.perf_counter() - began
        warmup.state = "ready"
        warmup.done.set()

    warmup.state = "running"
    thread = threading.Thread(target=run, name="es-visual-warmup", daemon=True)
    thread.start()
    return thread
