"""Every subcommand of `es-visual`, in the order `--help` lists them."""

from __future__ import annotations

from es_visual.cli.config_cmd import config
from es_visual.cli.demo import demo
from es_visual.cli.dups import dups
from es_visual.cli.explain import explain
from es_visual.cli.ingest import ingest
from es_visual.cli.init_cmd import init
from es_visual.cli.labels import labels
from es_visual.cli.people import people
from es_visual.cli.pipelines import pipelines
from es_visual.cli.reindex import reindex
from es_visual.cli.search import search
from es_visual.cli.serve import serve
from es_visual.cli.stats import stats
from es_visual.cli.users import users
from es_visual.cli.watch import watch

ALL = [
    demo, init, ingest, watch, search, explain, dups, labels, people, reindex, stats, pipelines,
    serve, users, config,
]  # fmt: skip
