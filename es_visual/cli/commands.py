"""Every subcommand of `es-visual`, in the order `--help` lists them."""

from __future__ import annotations

from es_visual.cli.config_cmd import config
from es_visual.cli.demo import demo
from es_visual.cli.explain import explain
from es_visual.cli.ingest import ingest
from es_visual.cli.search import search
from es_visual.cli.stats import stats

ALL = [demo, ingest, search, explain, stats, config]
