"""People: faces clustered into persons as they are ingested, named, merged and split.

* ``registry``: names and merges (a SQLite file in the data dir);
* ``assign``: the incremental clustering the ingest runs on every written batch;
* ``service``: listing and editing persons through any backend, always as the caller.
"""

from es_visual.people.registry import PeopleRegistry, is_person_id, new_person_id

__all__ = ["PeopleRegistry", "is_person_id", "new_person_id"]
