"""What the server at the other end is, read once (``GET /``), and what it can do.

Every version-dependent choice in the cluster backends is a property here, named
for the capability and citing the release that brought it, so that a reader sees
in one place why a request differs between an OpenSearch 2.18 and a 3.x, or an
Elasticsearch 8 and a 9.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from es_visual.backends.base import Capabilities
from es_visual.core.errors import BackendError

Distribution = Literal["elasticsearch", "opensearch"]
# Who fuses a text search's rankings (``ServerInfo.fusion``).
Fusion = Literal["rrf_retriever", "hybrid_rrf", "client"]
# Elasticsearch licenses that include the rrf retriever (x-pack rank-rrf's
# ``RANK_RRF_FEATURE``: Enterprise; a trial includes everything).
RRF_LICENSES = frozenset({"enterprise", "trial"})

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
    # Plugins and modules installed on every node (``GET /_nodes/plugins``), and the
    # active license type (Elasticsearch ``GET /_license``); read only when a choice
    # needs them (``with_extensions``), None until then.
    extensions: frozenset[str] | None = None
    license: str | None = None

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

    def with_extensions(self, nodes: Any, license_body: Any = None) -> ServerInfo:
        """With the plugins and modules every node has, from the body of ``GET
        /_nodes/plugins`` (a capability counts only when all nodes have it), and the
        license from ``GET /_license`` (None: no license API, or not active)."""
        names: set[str] | None = None
        for node in ((nodes or {}).get("nodes") or {}).values():
            have = {
                str(p.get("name"))
                for kind in ("plugins", "modules")
                for p in (node.get(kind) or [])
                if isinstance(p, dict)
            }
            names = have if names is None else names & have
        lic = (license_body or {}).get("license") if isinstance(license_body, dict) else None
        active = isinstance(lic, dict) and lic.get("status") == "active"
        kind = str(lic.get("type")).lower() if active and isinstance(lic, dict) else None
        return replace(self, extensions=frozenset(names or ()), license=kind)

    def capabilities(self) -> Capabilities:
        """What callers above the backend choose by (``Backend.capabilities``)."""
        return Capabilities(store=self.label, search_workers=8)

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

    @property
    def hybrid_rrf(self) -> bool:
        """The ``hybrid`` query fused by a search pipeline's ``score-ranker-processor``
        with ``technique: rrf`` (neural-search 2.19). Before 2.19 the pipeline only
        normalizes scores (min-max, L2) and combines them: another ranking than the
        reciprocal rank every other backend fuses with, so es-visual fuses there itself."""
        return (
            self.distribution == "opensearch"
            and self.version[:2] >= (2, 19)
            and "opensearch-neural-search" in (self.extensions or ())
        )

    # --- Elasticsearch -----------------------------------------------------------------

    @property
    def rrf_retriever(self) -> bool:
        """The ``rrf`` retriever (generally available in 8.16), from x-pack's
        ``rank-rrf`` module, licensed Enterprise (or a trial)."""
        return (
            self.distribution == "elasticsearch"
            and self.version[:2] >= (8, 16)
            and "rank-rrf" in (self.extensions or ())
            and self.license in RRF_LICENSES
        )

    # --- both ----------------------------------------------------------------------------

    @property
    def rank_features(self) -> bool:
        """The ``rank_features`` field type and the ``rank_feature`` query, from the
        ``mapper-extras`` module that every distribution of both engines ships; a node
        built without it (Elasticsearch from Maven artifacts: the module is not
        published there since 7.x) ranks labels through es-visual. Unknown extensions
        (not read yet) count as the distribution's default."""
        if self.extensions is None:
            return True
        return any("mapper-extras" in n or "MapperExtras" in n for n in self.extensions)

    @property
    def fusion(self) -> Fusion:
        """Who fuses a text search's rankings: the engine where it can rank by reciprocal
        rank (the same formula as ``query.ranking.rrf``), else es-visual."""
        if self.rrf_retriever:
            return "rrf_retriever"
        if self.hybrid_rrf:
            return "hybrid_rrf"
        return "client"

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
