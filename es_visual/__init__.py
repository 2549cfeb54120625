"""es-visual: visual search for media that already lives in Elasticsearch or OpenSearch."""

__version__ = "0.1.0"
