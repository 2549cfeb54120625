"""`es-visual dups`: groups of exact and near-duplicate media, each with a suggested keeper
and why; `--apply tag|delete` acts on the copies (journaled), `--undo` takes it back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app, show_progress
from es_visual.cli.tables import render_table

EXIT_PARTIAL = 3


@click.command()
@click.option(
    "--threshold",
    type=click.FloatRange(-1.0, 1.0),
    help="Cosine similarity of the scene vectors from which two pictures may be copies "
    "(default: the index model's, e.g. 0.75 for mobilenet-v2). The perceptual-hash and "
    "pixel checks always apply too; see docs/duplicates.md.",
)
@click.option("--mirrored", is_flag=True, help="Also count a left-right mirror image as a copy.")
@click.option(
    "--where", "where", help='Only assets matching this expression, e.g. "folder:trips/*".'
)
@click.option("--as-user", "as_user", help="Only assets this user may read (and change).")
@click.option(
    "--groups",
    multiple=True,
    help="With --as-user: the user's groups (comma-separated or repeated).",
)
@click.option(
    "--limit-groups",
    type=click.IntRange(0, None),
    help="Show (and act on) at most this many groups (the largest first).",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Neighbours looked up per asset. Larger groups still form: candidates join through "
    "neighbours, then every member is checked against its keeper.",
)
@click.option(
    "--apply",
    "action",
    type=click.Choice(["tag", "delete"]),
    help="Act on every copy (never a keeper): add a tag, or delete its document from the "
    "index (the media file is left alone). Journaled; see --undo.",
)
@click.option(
    "--tag",
    default="duplicate",
    show_default=True,
    help="With --apply tag: the tag added to each copy.",
)
@click.option(
    "--tags-field", default="tags", show_default=True, help="With --apply tag: the field."
)
@click.option(
    "--dry-run", is_flag=True, help="With --apply: list what would be done, change nothing."
)
@click.option("--yes", is_flag=True, help="With --apply delete: do not ask for confirmation.")
@click.option(
    "--undo",
    "undo_journal",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take back what a journal written by --apply records, then stop.",
)
@click.option(
    "--journal-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where --apply writes its journals (default: <data dir>/journal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def dups(
    app: AppContext,
    threshold: float | None,
    mirrored: bool,
    where: str | None,
    as_user: str | None,
    groups: tuple[str, ...],
    limit_groups: int | None,
    k: int,
    action: str | None,
    tag: str,
    tags_field: str,
    dry_run: bool,
    yes: bool,
    undo_journal: Path | None,
    journal_dir: Path | None,
    as_json: bool,
) -> None:
    """Find duplicate media: identical files and copies of the same picture.

    Exact duplicates have the same content hash. A near duplicate is the same
    picture resized, re-encoded, cropped a little or lightly edited (mirrored
    only with --mirrored): its scene vector is at least --threshold alike, its
    perceptual hash close, and its pixels line up with the keeper's. Two
    different photos of one scene or person are not copies. Videos are compared
    with videos, frame by frame (re-encoded or trimmed copies).

    Each group suggests a keeper, with the reason: the largest resolution, then
    (videos) the longest, the original format, the richest metadata, the oldest.

    --apply tag|delete acts on every other member, only where you may change it
    (with --as-user: the document's acl.write holds the user or a group; the
    admin group also changes documents without one). A journal is written first;
    --undo JOURNAL takes tags off again and writes deleted documents back.

    \b
    Examples:
      es-visual dups
      es-visual dups --where "folder:uploads/*" --limit-groups 20
      es-visual dups --as-user alice --groups design --apply tag --dry-run
      es-visual dups --apply delete --yes --json
      es-visual dups --undo ~/.local/share/es-visual/journal/dups-...-tag-1a2b3c4d.jsonl
    """
    from es_visual.duplicates import find_duplicates
    from es_visual.query.acl import AclPolicy
    from es_visual.query.params import SearchParams, build_search

    group_names = [g.strip() for item in groups for g in item.split(",") if g.strip()]
    if group_names and not as_user:
        raise click.UsageError("--groups needs --as-user")
    if (dry_run or yes) and not action:
        raise click.UsageError("--dry-run and --yes go with --apply")
    if undo_journal and action:
        raise click.UsageError("--undo and --apply cannot be used together")
    policy = AclPolicy.from_settings(app.settings)
    writable = policy.writable_filter(as_user, group_names)

    if undo_journal:
        from es_visual.dup_actions import undo

        undone = undo(app.backend(), undo_journal, writable=writable)
        if as_json:
            emit_json(undone.to_dict())
        else:
            click.echo(
                f"undo {undone.action}: {len(undone.restored)} restored, "
                f"{len(undone.skipped)} skipped, {len(undone.failed)} failed"
            )
            for doc_id, why in [*undone.skipped, *undone.failed]:
                click.echo(f"  {doc_id}: {why}")
        if undone.failed:
            sys.exit(EXIT_PARTIAL)
        return

    # The same SearchParams -> Search as `search` and the UI: one field map, one ACL rule.
    params = SearchParams(where=where or "", user=as_user, groups=group_names)
    s = build_search(app.settings, app.backend(), params)

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
            mirrored=mirrored,
            k=k,
            limit_groups=limit_groups,
            progress=progress,
        )

    if not action:
        if as_json:
            emit_json(report.to_dict())
        else:
            click.echo(render_report(report))
        return

    from es_visual.dup_actions import apply_plan, plan_actions

    plan = plan_actions(
        app.backend(), report, action, writable=writable, tag=tag, tags_field=tags_field
    )
    if action == "delete" and not (dry_run or yes or as_json):
        click.echo(render_plan(plan))
        if plan.allowed and not click.confirm(
            f"Delete {len(plan.allowed)} document(s) from index {plan.index!r}?", err=True
        ):
            raise click.Abort()
    elif action == "delete" and as_json and not (dry_run or yes):
        raise click.UsageError("--apply delete --json needs --yes or --dry-run (no prompt)")
    result = apply_plan(
        app.backend(),
        plan,
        journal_dir=journal_dir or Path(app.settings.data_dir) / "journal",
        writable=writable,
        readable=s.acl,
        dry_run=dry_run,
        by=as_user,
    )
    if as_json:
        emit_json({"report": report.to_dict(), "plan": plan.to_dict(), "result": result.to_dict()})
    else:
        if dry_run or action != "delete":
            click.echo(render_plan(plan))
        click.echo(render_result(result, plan))
    if result.failed or result.refused:
        sys.exit(EXIT_PARTIAL)


def render_report(report: Any) -> str:
    lines = []
    for n, group in enumerate(report.groups, 1):
        lines.append(
            f"\ngroup {n}: {group.kind}, {len(group.members)} members, keep {group.keeper.id} "
            f"({group.keep_reason})"
            + (f", {_size(group.reclaimable_bytes)} to reclaim" if group.reclaimable_bytes else "")
        )
        rows = [
            (
                "keep" if m.keeper else "",
                m.id,
                f"{m.width}x{m.height}" if m.width and m.height else "",
                (m.format or "").upper(),
                _size(m.bytes) if m.bytes is not None else "",
                m.indexed_at,
                _how(m),
            )
            for m in group.members
        ]
        lines.append(
            render_table(["", "id", "size", "format", "bytes", "indexed at", "match"], rows)
        )
    shown = len(report.groups)
    more = f" (showing {shown})" if shown < report.total_groups else ""
    rule = report.rule
    checks = (
        f"cosine >= {rule.cosine:.2f}, hash <= {rule.hamming} bits, pixels >= {rule.picture:.2f}"
        if rule
        else f"threshold {report.threshold:.2f}"
    )
    lines.append(
        f"\n{report.total_groups} group(s){more}, {report.duplicates} duplicate(s) shown, among "
        f"{report.scanned} asset(s) of {report.index!r}; {checks}"
        f"{', mirrors count' if report.mirrored else ''} ({report.model}), "
        f"{report.queries} kNN queries in {report.seconds:.1f}s"
    )
    if report.without_prints:
        lines.append(
            f"{report.without_prints} picture(s) have no perceptual hash (ingested before it "
            "existed): only exact copies of them are found; re-ingest with --force to compare them"
        )
    return "\n".join(lines).lstrip("\n")


def render_plan(plan: Any) -> str:
    verb = f"tag {plan.tag!r}" if plan.action == "tag" else "delete"
    rows = [
        (verb if i.allowed else "refused", i.id, i.keeper, i.why if i.allowed else i.refused)
        for i in plan.items
    ]
    head = f"{len(plan.allowed)} to {verb}, {len(plan.refused)} refused"
    if not rows:
        return head
    return render_table(["action", "id", "copy of", "why"], rows) + "\n" + head


def render_result(result: Any, plan: Any) -> str:
    if result.dry_run:
        return f"dry run: {len(result.changed)} would change; nothing was written"
    lines = [
        f"{plan.action}: {len(result.changed)} changed, {len(result.unchanged)} already done, "
        f"{len(result.refused)} refused, {len(result.failed)} failed"
    ]
    for doc_id, why in [*result.refused, *result.failed]:
        lines.append(f"  {doc_id}: {why}")
    if result.journal:
        lines.append(f"journal: {result.journal}  (undo: es-visual dups --undo {result.journal})")
    return "\n".join(lines)


def _how(m: Any) -> str:
    if m.keeper:
        return "keeper"
    if m.exact:
        return "same bytes"
    match = m.match
    if match is None:
        return f"{m.similarity:.3f}"
    if match.frames:
        return f"{match.frames}, offset {match.offset or 0:+.1f}s"
    text = f"cos {match.cosine:.3f}, {match.hamming} bits, pixels {match.picture:.2f}"
    return text + (", mirrored" if match.mirrored else "")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
