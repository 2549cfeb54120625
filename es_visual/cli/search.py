"""`es-visual search`: hybrid metadata + visual search from the command line.

The query options are shared with `es-visual explain` (``query_options`` and
``build_search``), so both always understand the same query.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app
from es_visual.cli.tables import render_table
from es_visual.core import schema
from es_visual.core.documents import value_at

if TYPE_CHECKING:
    from es_visual.query.fieldmap import FieldMap

# Source fields shown in the table when --fields is not given (those present in the hits).
DEFAULT_COLUMNS = (schema.MEDIA_TYPE_FIELD, "tags", "folder", "caption", "title")


def query_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that describe a query, shared by `search` and `explain`."""
    options = [
        click.option(
            "--image",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Rank by visual similarity to this image file.",
        ),
        click.option(
            "--text",
            help="Rank by these words: the concepts the scene model saw, your text fields "
            "and CLIP when the index has it, fused (works offline; combines with --image, "
            "--asset...).",
        ),
        click.option("--asset", help="Rank by similarity to this stored asset (by id)."),
        click.option(
            "--vector-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Rank by similarity to a vector: a .npy file or a JSON list of numbers.",
        ),
        click.option(
            "--bbox",
            help="With --asset: a region x0,y0,x1,y1 (normalized 0..1) of that asset's image.",
        ),
        click.option(
            "--region",
            metavar="ID:x0,y0,x1,y1",
            help="Rank by a region of a stored asset: a detected one or any box "
            "(normalized 0..1), e.g. trips/a1.jpg:0.1,0.2,0.6,0.9.",
        ),
        click.option(
            "--face",
            metavar="ID:N | N",
            help="Rank by face #N of a stored asset (ID:N, or N with --asset).",
        ),
        click.option(
            "--query-face",
            "query_face",
            type=click.IntRange(0),
            metavar="N",
            help="With --image --on faces: search by face #N of the picture (0 = the most "
            "confident) when it has several.",
        ),
        click.option(
            "--where",
            "where",
            help='Filter expression, e.g. "tags=kitten AND uploaded_at>7d" '
            "(see docs/query-language.md).",
        ),
        click.option(
            "--on",
            "on",
            type=click.Choice([*schema.TARGETS, "any"]),
            help=(
                "Which vectors to compare. Default: scene (frames with --media video); "
                "any for a box (--region, --bbox); faces for --face."
            ),
        ),
        click.option("--media", type=click.Choice(["image", "video"]), help="Only this media."),
        click.option(
            "--min-score",
            type=click.FloatRange(-1.0, 1.0),
            help="Drop visual matches below this cosine similarity.",
        ),
        click.option(
            "--limit", type=click.IntRange(1, 10_000), default=10, show_default=True,
            help="Number of hits.",
        ),
        click.option("--as-user", "as_user", help="Search as this user: only what they may read."),
        click.option(
            "--groups",
            multiple=True,
            help="With --as-user: the user's groups (comma-separated or repeated).",
        ),
        click.option(
            "--sort",
            "sorts",
            multiple=True,
            metavar="FIELD[:asc|desc]",
            help="Sort by a field (repeatable; default order asc).",
        ),
        click.option(
            "--aggregate",
            "aggregates",
            multiple=True,
            metavar="FIELD",
            help="Count hits per value of a keyword field (repeatable).",
        ),
        click.option(
            "--fields",
            multiple=True,
            help="Source fields to return (comma-separated or repeated); default: all.",
        ),
        click.option("--after", help="The next_cursor of a previous page."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


SIMILARITY_OPTIONS = "--image, --text, --asset, --vector-file, --region or --face"


def build_search(app: AppContext, opts: dict[str, Any]) -> Any:
    """The ``Search`` the query options describe. Every problem with the options is a
    ``click.UsageError`` (exit 2) in the CLI's own words, never the builder's."""
    from es_visual.core.errors import QueryError

    opts = _split_asset_refs(dict(opts))
    # --text fuses with any of these; among them only one picture can be compared.
    given = [k for k in ("image", "asset", "vector_file") if opts.get(k) is not None]
    if len(given) > 1:
        raise click.UsageError(
            "give one of --image, --asset, --vector-file, not "
            + ", ".join("--" + k.replace("_", "-") for k in given)
        )
    if (opts.get("bbox") or opts.get("face") is not None) and not opts.get("asset"):
        raise click.UsageError("--bbox and --face refer to an asset: add --asset ID")
    if opts.get("bbox") and opts.get("face") is not None:
        raise click.UsageError("give --bbox or --face, not both")
    _check_target(opts, bool(given) or opts.get("text") is not None)
    try:
        return _build(app, opts)
    except QueryError as exc:  # a value the builder refused: the user's input, in CLI words
        raise click.UsageError(cli_terms(str(exc))) from None


def _check_target(opts: dict[str, Any], similar: bool) -> None:
    """``--on`` and ``--min-score`` against what is compared, before anything runs."""
    on = opts.get("on")
    if not similar:
        for option, value in (("--on", on), ("--min-score", opts.get("min_score"))):
            if value is not None:
                raise click.UsageError(
                    f"{option} applies to a similarity search: add {SIMILARITY_OPTIONS}"
                )
        return
    if opts.get("face") is not None and on in schema.SCENE_SPACE_TARGETS:
        raise click.UsageError(
            f"--face compares faces (face-model vectors), not --on {on}: drop --on or use "
            "--on faces"
        )
    if opts.get("face") is None and on == "faces" and not opts.get("image"):
        raise click.UsageError(
            "--on faces needs --face ID:N or --image: faces hold face-model vectors, and "
            "--text, --asset, --vector-file and --region give scene-model ones"
        )
    if opts.get("query_face") is not None and not (opts.get("image") and on == "faces"):
        raise click.UsageError("--query-face picks a face of --image: add --image FILE --on faces")
    score = opts.get("min_score")
    if score is not None and score != score:  # NaN slips through click's FloatRange
        raise click.BadParameter("a number in [-1, 1], not nan", param_hint="--min-score")
    if opts.get("text") is not None and not opts["text"].strip():
        raise click.BadParameter("give some words to search for", param_hint="--text")
    if opts.get("asset") is not None and not opts["asset"]:
        raise click.BadParameter("an asset id, not an empty string", param_hint="--asset")


def cli_terms(message: str) -> str:
    """A builder or backend message in the CLI's words: the options, not the methods."""
    for kind, option in (
        ("image", "--image"),
        ("text", "--text"),
        ("vector", "--vector-file"),
        ("asset", "--asset"),
        ("region", "--region"),
        ("face", "--face"),
    ):
        message = message.replace(f"similar_to({kind}=...)", option)
    message = message.replace("similar_to(...)", SIMILARITY_OPTIONS)
    message = re.sub(r'\bon\("(\w+)"\)', r"--on \1", message)
    message = message.replace("on()", "--on").replace("min_score", "--min-score")
    return message.replace("num_candidates", "the candidate count")


def _build(app: AppContext, opts: dict[str, Any]) -> Any:
    from es_visual.query.params import SearchParams
    from es_visual.query.params import build_search as search_from_params

    groups = _split(opts.get("groups") or ())
    if groups and not opts.get("as_user"):
        raise click.UsageError("--groups needs --as-user")
    sort: list[tuple[str, Any]] = []
    for spec in opts.get("sorts") or ():
        name, _, order = spec.partition(":")
        if order not in ("", "asc", "desc"):
            raise click.BadParameter(f"{spec!r}: the order is asc or desc", param_hint="--sort")
        sort.append((name, order or "asc"))
    asset, bbox, face = opts.get("asset"), opts.get("bbox"), opts.get("face")
    region = (asset, _parse_bbox(bbox)) if asset and bbox else None
    face_ref = (asset, face) if asset and face is not None and not bbox else None
    params = SearchParams(
        where=opts.get("where") or "",
        media=opts.get("media"),
        text=opts.get("text") or None,
        image=opts.get("image"),
        query_face=opts.get("query_face") if opts.get("image") else None,
        vector=_read_vector(opts["vector_file"]) if opts.get("vector_file") else None,
        asset=asset if asset and region is None and face_ref is None else None,
        region=region,
        face=face_ref,
        on=opts.get("on"),
        min_score=opts.get("min_score"),
        user=opts.get("as_user"),
        groups=groups,
        sort=sort,
        aggregates=tuple(opts.get("aggregates") or ()),
        fields=_split(opts.get("fields") or ()),
        after=_checked_cursor(opts["after"]) if opts.get("after") else None,
        limit=opts.get("limit") or 10,
    )
    people = _people(app).resolver(app.settings.index)  # person:"Alice"
    return search_from_params(app.settings, app.backend(), params, people=people)


def _checked_cursor(cursor: str) -> str:
    from es_visual.core.cursor import check_cursor
    from es_visual.core.errors import CursorError

    try:
        check_cursor(cursor)
    except CursorError as exc:
        raise click.BadParameter(
            f"{exc}; give the next_cursor a previous page printed", param_hint="--after"
        ) from None
    return cursor


@click.command()
@query_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def search(app: AppContext, as_json: bool, **opts: Any) -> None:
    """Search the index by image, text, a stored asset and/or a filter expression.

    \b
    Examples:
      es-visual search --image query.jpg --limit 5
      es-visual search --text "cold night" --where "media_type:video AND uploaded_at>30d"
      es-visual search --asset trips/beach.jpg --on any --min-score 0.3
      es-visual search --where "tags=kitten" --sort uploaded_at:desc --aggregate folder
      es-visual search --image q.jpg --as-user alice --groups design,ops --json
      es-visual search --image group.jpg --on faces --query-face 1
      es-visual search --where 'person:"Alice" AND media_type:video'
    """
    from es_visual.core.errors import AmbiguousFaceError, CursorError, QueryError

    s = build_search(app, opts)
    backend = app.require_index()
    try:
        result = s.execute(backend)
    except CursorError as exc:  # a cursor of another search: known only once it runs
        raise click.BadParameter(str(exc), param_hint="--after") from None
    except AmbiguousFaceError as exc:
        if as_json:
            emit_json({"error": "several_faces", "faces": exc.faces})
        raise click.UsageError(_choose_a_face(exc.faces)) from None
    except QueryError as exc:
        if type(exc) is not QueryError:
            raise
        raise QueryError(cli_terms(str(exc))) from None  # exit 1, in the CLI's words
    names = _person_names(app, result)
    note = _empty_target_note(app, s, backend, result)
    if as_json:
        emit_json(_with_note(_with_person_names(result.to_dict(), names), note))
        return
    click.echo(render_result(result, _split(opts.get("fields") or ()), s.field_map, names))
    if note:
        click.echo(f"note: {note}", err=True)


def _people(app: AppContext) -> Any:
    from es_visual.people.registry import PeopleRegistry

    return PeopleRegistry.in_data_dir(app.settings.data_dir)


def _choose_a_face(faces: list[dict[str, Any]]) -> str:
    lines = [f"the picture has {len(faces)} faces; choose one with --query-face N:"]
    for f in faces:
        box = ",".join(f"{v:.2f}" for v in f["bbox"])
        lines.append(f"  --query-face {f['index']}   box [{box}]  detector score {f['score']}")
    return "\n".join(lines)


def _person_names(app: AppContext, result: Any) -> dict[str, str]:
    """Names of the persons the hits' faces belong to (those that have one)."""
    ids = {
        m.person
        for h in result.hits
        for m in (h.matched, *h.children)
        if m is not None and getattr(m, "person", None)
    }
    return _people(app).names(app.settings.index, sorted(ids)) if ids else {}


def _with_person_names(body: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    for hit in body.get("hits", []):
        matched = hit.get("matched") or {}
        if matched.get("person") in names:
            matched["person_name"] = names[matched["person"]]
    return body


def _empty_target_note(app: AppContext, s: Any, backend: Any, result: Any) -> str | None:
    """When a search of regions, faces or frames found nothing because the index holds
    no such vectors: the sentence that says so and names the presets that add them."""
    target = s.resolved_target
    if result.hits or target not in schema.CHILD_TARGETS:
        return None
    from es_visual.ingest.preset_targets import empty_target_note

    return empty_target_note(backend, app.settings.index, target, app.settings)


def _with_note(body: dict[str, Any], note: str | None) -> dict[str, Any]:
    return {**body, "note": note} if note else body


def render_result(
    result: Any, fields: Sequence[str], field_map: FieldMap, names: dict[str, str] | None = None
) -> str:
    """The hits as a table (``fields`` named as the search's ``field_map`` knows them),
    then the next-page cursor and the aggregations."""
    columns = [field_map.index_field(f) for f in fields] or [
        c for c in DEFAULT_COLUMNS if any(value_at(h.source, c) is not None for h in result.hits)
    ]
    rows = [
        (i, h.id, h.score, describe_match(h, names), *(value_at(h.source, c) for c in columns))
        for i, h in enumerate(result.hits, 1)
    ]
    lines = [render_table(["#", "id", "score", "matched", *columns], rows)]
    footer = f"{len(result.hits)} hit(s)"
    if result.total is not None:
        footer += f" of {result.total}"
    lines.append(f"\n{footer} in {result.took_ms:.1f} ms")
    if result.next_cursor:
        lines.append(f"next page: --after {result.next_cursor}")
    for name, buckets in result.aggregations.items():
        lines.append(f"\n{name}:")
        lines.extend(f"  {key}  {count}" for key, count in buckets)
    return "\n".join(lines)


def describe_match(hit: Any, names: dict[str, str] | None = None) -> str:
    """``scene``, ``region #2 dog [0.10,0.20,0.50,0.60]``, ``face #0``, ``frame 12.5s``;
    a text search's hit first says which signals found it (``labels: tabby 0.71 | text``)."""
    signals = " | ".join(
        f"{s.signal}: {s.detail}" if s.detail else s.signal for s in getattr(hit, "signals", ())
    )
    m = hit.matched
    if m is None:
        return signals
    kind = m.kind if m.index is None or m.kind == "scene" else f"{m.kind} #{m.index}"
    text = (signals + " | " if signals else "") + kind
    if m.label:
        text += f" {m.label}"
    if m.bbox:
        text += " [" + ",".join(f"{v:.2f}" for v in m.bbox) + "]"
    if m.t is not None:
        text += f" {m.t:.1f}s"
    if getattr(m, "same_person", None) is not None:
        text += " same person" if m.same_person else " similar"
        person = getattr(m, "person", None)
        if person:
            text += f" ({(names or {}).get(person, person)})"
    if hit.segments:
        text += " (" + ", ".join(f"{s.start:.1f}-{s.end:.1f}s" for s in hit.segments) + ")"
    return text


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _split_asset_refs(opts: dict[str, Any]) -> dict[str, Any]:
    """``--region ID:box`` and ``--face ID:N`` name their asset inline; turn them into
    ``--asset`` + ``--bbox`` / ``--face N`` (ids may contain ':', so split on the last)."""
    if opts.get("region"):
        asset, sep, box = opts["region"].rpartition(":")
        if not sep or not asset:
            raise click.BadParameter("expected ID:x0,y0,x1,y1", param_hint="--region")
        if opts.get("asset") and opts["asset"] != asset:
            raise click.UsageError("--region names its own asset: drop --asset")
        opts.update(asset=asset, bbox=box)
    face = opts.get("face")
    if isinstance(face, str):
        asset, sep, number = face.rpartition(":")
        if sep and asset:
            if opts.get("asset") and opts["asset"] != asset:
                raise click.UsageError("--face ID:N names its own asset: drop --asset")
            opts["asset"] = asset
        if not number.isdigit():
            raise click.BadParameter(f"{face!r} is not ID:N or N", param_hint="--face")
        opts["face"] = int(number)
    return opts


def _parse_bbox(text: str) -> list[float]:
    try:
        box = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        box = []
    if len(box) != 4:
        raise click.BadParameter(f"{text!r} is not x0,y0,x1,y1", param_hint="--bbox / --region")
    x0, y0, x1, y1 = box
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):  # NaN fails here too
        raise click.BadParameter(
            f"{text!r}: a box is x0,y0,x1,y1 in 0..1 of the picture's width and height, "
            "with x0 < x1 and y0 < y1",
            param_hint="--bbox / --region",
        )
    return box


def _read_vector(path: Path) -> list[float]:
    try:
        if path.suffix == ".npy":
            import numpy as np

            data: Any = np.load(path, allow_pickle=False).astype(float).ravel().tolist()
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                data = data.get("vector")
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--vector-file") from exc
    if (
        not isinstance(data, list)
        or not data
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in data)
    ):
        raise click.BadParameter(
            f'{path}: expected a list of numbers (or {{"vector": [...]}})',
            param_hint="--vector-file",
        )
    try:
        vector = [float(x) for x in data]
    except OverflowError:  # an integer too large for a float
        vector = [math.inf]
    if not all(math.isfinite(x) for x in vector) or not any(vector):
        raise click.BadParameter(
            f"{path}: the vector must hold finite numbers, not all zeros",
            param_hint="--vector-file",
        )
    return vector
