"""`es-visual dups`: groups of exact and near-duplicate media, each with a suggested keeper."""

from __future__ import annotations

import sys
from typing import Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app, show_progress
from es_visual.cli.tables import render_table


@click.command()
@click.option(
    "--threshold",
    type=click.FloatRange(-1.0, 1.0),
    help="Cosine similarity from which two pictures are near duplicates "
    "(default: the index model's, e.g. 0.75 for mobilenet-v2; see docs/duplicates.md).",
)
@click.option(
    "--where", "where", help='Only assets matching this expression, e.g. "folder:trips/*".'
)
@click.option("--as-user", "as_user", help="Only assets this user may read.")
@click.option(
    "--groups",
    multiple=True,
    help="With --as-user: the user's groups (comma-separated or repeated).",
)
@click.option(
    "--limit-groups",
    type=click.IntRange(0, None),
    help="Show at most this many groups (the largest first).",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Neighbours looked up per asset; larger groups still join through chains.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@pass_app
def dups(
    app: AppContext,
    threshold: float | None,
    where: str | None,
    as_user: str | None,
    groups: tuple[str, ...],
    limit_groups: int | None,
    k: int,
    as_json: bool,
) -> None:
    """Find duplicate media: identical files and visually near-identical copies.

    Exact duplicates have the same content hash; near duplicates (resized,
    re-encoded, slightly cropped or mirrored copies) have scene vectors at least
    --threshold alike. Each group lists its members with size, file bytes and
    when they were indexed, and suggests a keeper: the largest resolution, then
    the oldest. Nothing is deleted.

    \b
    Examples:
      es-visual dups
      es-visual dups --threshold 0.95 --where "folder:uploads/*" --limit-groups 20
      es-visual dups --as-user alice --groups design --json
    """
    from es_visual.duplicates import find_duplicates
    from es_visual.query.search import Search

    group_names = [g.strip() for item in groups for g in item.split(",") if g.strip()]
    if group_names and not as_user:
        raise click.UsageError("--groups needs --as-user")
    s = Search.from_settings(app.settings)
    if where:
        s = s.where(where)
    if as_user:
        s = s.as_user(as_user, groups=group_names)

    with click.progressbar(
        length=1,
        label="looking for duplicates",
        file=sys.stderr,
        hidden=not show_progress() or as_json,
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        report = find_duplicates(
            app.backend(),
            s,
            threshold=threshold,
            k=k,
            limit_groups=limit_groups,
            progress=progress,
        )

    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(render_report(report))


def render_report(report: Any) -> str:
    lines = []
    for n, group in enumerate(report.groups, 1):
        lines.append(
            f"\ngroup {n}: {group.kind}, {len(group.members)} members, keep {group.keeper.id}"
            + (f", {_size(group.reclaimable_bytes)} to reclaim" if group.reclaimable_bytes else "")
        )
        rows = [
            (
                "keep" if m.keeper else "",
                m.id,
                f"{m.width}x{m.height}" if m.width and m.height else "",
                _size(m.bytes) if m.bytes is not None else "",
                m.indexed_at,
                "keeper" if m.keeper else "exact" if m.exact else f"{m.similarity:.3f}",
            )
            for m in group.members
        ]
        lines.append(render_table(["", "id", "size", "bytes", "indexed at", "similarity"], rows))
    shown = len(report.groups)
    more = f" (showing {shown})" if shown < report.total_groups else ""
    lines.append(
        f"\n{report.total_groups} group(s){more}, {report.duplicates} duplicate(s) shown, among "
        f"{report.scanned} asset(s) of {report.index!r}; threshold {report.threshold:.2f} "
        f"({report.model}), {report.queries} kNN queries in {report.seconds:.1f}s"
    )
    return "\n".join(lines).lstrip("\n")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
