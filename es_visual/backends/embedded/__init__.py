"""The embedded store: the ``Backend`` protocol on one machine, no server (``backend.py``).

``EmbeddedBackend`` and ``VectorConfig`` are the package's public names; the modules
beneath are its parts (see docs/architecture.md).
"""

from es_visual.backends.embedded.backend import EmbeddedBackend
from es_visual.backends.embedded.vectors import VectorConfig

__all__ = ["EmbeddedBackend", "VectorConfig"]
