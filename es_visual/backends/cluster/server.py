"""What the server at the other end is, read once (``GET /``), and what it can do.

Every version-dependent choice in the cluster backends is a property here, named
for the capability and citing the release that brought it, so that a reader sees
in one place why a request differs between an OpenSearch 2.18 and a 3.x, or an
Elasticsearch 8 and a 9.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from es_visual.core.errors import BackendError

Distribution = Literal["elasticsearch", "opensearch"]

# The oldest servers es-visual runs on, and why:
# - Elasticsearch 8.11: nested kNN returns every child through inner_hits (8.11), kNN
#   with a pre-filter and cosine dense_vector (8.0+).
# - OpenSearch 2.12: efficient filtering and nested knn_vector on the Lucene engine
#   with cosinesimil, and the knn query's ``filter`` inside a ``nested`` query.
MINIMUM: dict[Distribution, tuple[int, int]] = {
    "elasticsearch": (8, 11),
    "opensearch": (2, 12),
}


@dataclass(frozen=True)
class ServerInfo:
    distribution: Distribution
    version: tuple[int, int, int]
    number: str  # as the server printed it, for messages

    @classmethod
    def from_root(cls, body: Any, url: str) -> ServerInfo:
        """From the body of ``GET /``; a server that is neither refuses clearly."""
        version = (body or {}).get("version") if isinstance(body, dict) else None
        if not isinstance(version, dict) or not isinstance(version.get("number"), str):
            raise BackendError(
                f"the server at {url} did not answer GET / like Elasticsearch or OpenSearch"
            )
        number = version["number"]
        dist: Distribution = (
            "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
        )
        return cls(dist, parse_version(number), number)

    @property
    def label(self) -> str:
        name = "OpenSearch" if self.distribution == "opensearch" else "Elasticsearch"
        return f"{name} {self.number}"

    def check_supported(self, expected: Distribution, url: str) -> None:
        """Refuse a server of the other distribution, or one older than ``MINIMUM``."""
        if self.distribution != expected:
            other = "opensearch" if expected == "elasticsearch" else "elasticsearch"
            raise BackendError(
                f"{url} is {self.label}, not {expected}: use --backend {other} for it"
            )
        low = MINIMUM[expected]
        if self.version[:2] < low:
            name = "OpenSearch" if expected == "opensearch" else "Elasticsearch"
            raise BackendError(
                f"{url} runs {self.label}; es-visual needs {name} {low[0]}.{low[1]} or later"
            )

    # --- OpenSearch --------------------------------------------------------------------

    @property
    def expand_nested_docs(self) -> bool:
        """The knn query scores every child of a nested hit (OpenSearch 2.19); before
        it, inner_hits hold only each document's best child."""
        return self.distribution == "opensearch" and self.version[:2] >= (2, 19)

    @property
    def knn_method_parameters(self) -> bool:
        """``method_parameters.ef_search`` on the knn query (OpenSearch 2.16): the search
        width that Elasticsearch calls ``num_candidates``."""
        return self.distribution == "opensearch" and self.version[:2] >= (2, 16)

    @property
    def joins_nested_filters(self) -> bool:
        """k-NN 3.5 joins a nested knn query's filter to the root documents itself
        (opensearch-project/k-NN#2990); before, a filter that *might* match nested
        documents was applied to the children as is."""
        return self.distribution == "opensearch" and self.version[:2] >= (3, 5)

    # --- Elasticsearch -----------------------------------------------------------------

    @property
    def compatible_with(self) -> int:
        """The major version to name in the client's ``compatible-with`` headers."""
        return self.version[0]

    @property
    def vectors_left_out_of_source(self) -> bool:
        """Elasticsearch 9.2 leaves dense_vector values out of ``_source`` by default
        (``index.mapping.exclude_source_vectors``); ``_source.exclude_vectors: false``
        brings them back."""
        return self.distribution == "elasticsearch" and self.version[:2] >= (9, 2)


def parse_version(number: str) -> tuple[int, int, int]:
    """``"2.19.1"`` -> (2, 19, 1); ``"9.0.0-SNAPSHOT"`` -> (9, 0, 0)."""
    parts = [int(p) for p in re.findall(r"\d+", number.split("-")[0])[:3]]
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]
