"""The Elasticsearch and OpenSearch backends, and everything only they use.

- ``backend``: what both clusters share (the whole ``Backend`` protocol over REST);
- ``elasticsearch`` / ``opensearch``: the client, its errors and the search body;
- ``server``: what the server is (distribution, version) and what it can do;
- ``dsl``, ``compile_es``, ``compile_opensearch``: IR -> Query DSL bodies;
- ``mapping``: the ``visual`` mapping and reading an index's mapping back;
- ``responses``: search responses -> ``SearchResult``.
"""
