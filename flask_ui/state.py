"""What the app opens once and shares between requests: the backend, the embedder,
recent uploads (flask_ui/uploads.py), the thumbnail cache and the jobs.

Flask serves requests on several threads and jobs ingest on their own. The
backend is shared without a lock: the embedded store is thread-safe (a SQLite
connection per thread, a lock per vector target) and so are the cluster
clients, so a search no longer waits for an ingest job's bulk writes. Each
embedder gets its own lock: the built-in models already run one forward pass at
a time, the lock keeps a third-party embedder that does not just as safe.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app

from es_visual.config import Settings
from flask_ui.uploads import UploadCache

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.models.base import Embedder
    from flask_ui.jobrunner import JobManager
    from flask_ui.users import UserStore


class LockedEmbedder:
    """One call of the wrapped embedder at a time (its own lock, not the app's)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._embedder, attr)
        # prepare_image is thread-safe by contract: locking it would make an ingest job's
        # reader threads wait for the forward pass they are meant to overlap with.
        if not callable(target) or attr == "prepare_image":
            return target

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return target(*args, **kwargs)

        return locked


class AppState:
    def __init__(self, settings: Settings, users: UserStore, jobs: JobManager) -> None:
        from flask_ui.sessions import SESSIONS_FILE, SessionEpochs
        from flask_ui.throttle import LoginThrottle

        self.settings = settings
        self.users = users
        self.jobs = jobs
        self.uploads = UploadCache()
        from flask_ui.warmup import Warmup

        self.warmup = Warmup()  # flask_ui/warmup.py, started by create_app
        from flask_ui.thumbcache import ThumbCache

        self.throttle = LoginThrottle()
        self.sessions = SessionEpochs(Path(settings.data_dir) / SESSIONS_FILE)
        self.thumbs = ThumbCache(
            self.cache_dir / "thumbs",
            max_bytes=settings.thumb_cache_mb * 1024 * 1024,
            max_files=settings.thumb_cache_files,
        )
        self.lock = threading.RLock()  # opening the backend and loading models only
        self._backend: Backend | None = None
        self._embedders: dict[str, LockedEmbedder] = {}

    @property
    def index(self) -> str:
        return self.settings.index

    @property
    def cache_dir(self) -> Path:
        return Path(self.settings.data_dir) / "ui-cache"

    def set_backend(self, backend: Backend) -> None:
        self._backend = backend

    def backend(self) -> Backend:
        if self._backend is not None:  # no lock once open: a model load must not block it
            return self._backend
        with self.lock:
            if self._backend is None:
                from es_visual.backends import open_backend

                self._backend = open_backend(self.settings)
            return self._backend

    def set_embedder(self, embedder: Embedder) -> None:
        wrapped = LockedEmbedder(embedder)
        self._embedders[embedder.tag] = wrapped
        self._embedders[embedder.name] = wrapped

    def embedder(self, name: str | None = None) -> Embedder:
        """The embedder that made the index's vectors (or the model ``name``), loaded once."""
        tag = None
        if name is None:
            spec = self.backend().cached_spec(self.index)
            if spec is not None:
                tag = spec.model
            else:
                name = self.settings.model
        key = tag or name or ""
        with self.lock:
            found = self._embedders.get(key) or self._embedders.get(key.split("@", 1)[0])
            if found is not None and (tag is None or found.tag == tag):
                return found  # type: ignore[return-value]
            from es_visual.models.registry import get_embedder, get_embedder_for_tag

            loaded = get_embedder_for_tag(tag) if tag else get_embedder(key)
            self._embedders[key] = LockedEmbedder(loaded)
            return self._embedders[key]  # type: ignore[return-value]

    def close(self) -> None:
        self.jobs.shutdown()
        if self._backend is not None:
            self._backend.close()


def get_state() -> AppState:
    return current_app.extensions["es_visual"]
