"""Act on duplicate groups: tag the copies, or delete them, with a journal to undo it.

Three steps, so a person (or a script) sees what will happen before it does:

* ``plan_actions(backend, report, action, writable=...)``: for each copy (never a
  keeper) in the report's groups, what will be done to it and why it is a copy, or
  why it is refused: the caller may not change it (``writable``, an ACL filter from
  ``AclPolicy.writable_filter``), it is not a copy in these groups, or its keeper is
  gone. The report was made as the caller, so it never holds a document they
  cannot read; an id asked for that is not in it is refused in words that do not
  say whether it exists.
* ``apply_plan(backend, plan, journal_dir=...)``: writes the journal first (one
  JSON line per asset with what it held before), then does it. ``dry_run`` does
  neither and returns what would happen.
* ``undo(backend, journal)``: tags: removes the tag from the assets it was added
  to (other tags added since are kept); deletes: writes the deleted documents back
  (vectors included) where nothing has taken their id since.

Deleting removes the *documents* from the index; the media files they point to
are left alone (the journal lists their paths).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from es_visual.core import ir, schema
from es_visual.core.documents import DocUpdate, value_at
from es_visual.core.errors import QueryError

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.duplicates import DuplicateReport, Member

Action = Literal["tag", "delete"]
ACTIONS: tuple[Action, ...] = ("tag", "delete")
DEFAULT_TAG = "duplicate"
JOURNAL_VERSION = 1
_CHECK_BATCH = 500

NOT_WRITABLE = "you may not change this asset (no write access)"
NOT_A_COPY = "not a copy in the current duplicate groups"
KEEPER = "the suggested keeper of its group is never changed"


@dataclass(frozen=True)
class PlannedItem:
    id: str
    keeper: str  # the asset it is a copy of
    why: str  # why it is a copy: "same bytes" / "near copy: ..."
    allowed: bool
    refused: str | None = None  # why not, when not allowed

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Plan:
    index: str
    action: Action
    tag: str
    tags_field: str
    items: tuple[PlannedItem, ...]

    @property
    def allowed(self) -> list[PlannedItem]:
        return [i for i in self.items if i.allowed]

    @property
    def refused(self) -> list[PlannedItem]:
        return [i for i in self.items if not i.allowed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "action": self.action,
            "tag": self.tag if self.action == "tag" else None,
            "will_change": len(self.allowed),
            "refused": len(self.refused),
            "items": [i.to_dict() for i in self.items],
        }


@dataclass
class ApplyResult:
    action: Action
    dry_run: bool
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already tagged / already gone
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    refused: list[tuple[str, str]] = field(default_factory=list)
    journal: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.refused

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "failed": [{"id": i, "reason": r} for i, r in self.failed],
            "refused": [{"id": i, "reason": r} for i, r in self.refused],
            "journal": self.journal,
        }


def plan_actions(
    backend: Backend,
    report: DuplicateReport,
    action: str,
    *,
    writable: ir.Node,
    ids: Iterable[str] | None = None,
    tag: str = DEFAULT_TAG,
    tags_field: str = "tags",
) -> Plan:
    """What ``action`` would do to the copies of ``report`` (only those in ``ids`` when
    given). ``writable`` selects the documents the caller may change."""
    if action not in ACTIONS:
        raise QueryError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if action == "tag" and not (tag and tag.strip()):
        raise QueryError("the tag cannot be empty")
    copies: dict[str, tuple[Member, str]] = {}
    keepers: set[str] = set()
    for group in report.groups:
        keepers.add(group.keeper.id)
        for member in group.members[1:]:
            copies[member.id] = (member, group.keeper.id)
    wanted = list(dict.fromkeys(ids)) if ids is not None else list(copies)
    may_write = existing_ids(backend, report.index, [i for i in wanted if i in copies], writable)
    items = []
    for doc_id in wanted:
        if doc_id in keepers:
            items.append(PlannedItem(doc_id, doc_id, "", False, KEEPER))
            continue
        if doc_id not in copies:
            items.append(PlannedItem(doc_id, "", "", False, NOT_A_COPY))
            continue
        member, keeper = copies[doc_id]
        ok = doc_id in may_write
        items.append(
            PlannedItem(doc_id, keeper, copy_reason(member), ok, None if ok else NOT_WRITABLE)
        )
    return Plan(report.index, action, tag.strip(), tags_field, tuple(items))  # type: ignore[arg-type]


def apply_plan(
    backend: Backend,
    plan: Plan,
    *,
    journal_dir: Path | str,
    writable: ir.Node,
    readable: ir.Node = ir.MatchAll(),
    dry_run: bool = False,
    by: str | None = None,
) -> ApplyResult:
    """Do what ``plan`` allows: journal first, then the writes. Permissions are checked
    again here (``writable``), and every keeper must still be there for the caller
    (``readable``): a copy is never removed while what it copies is gone."""
    result = ApplyResult(plan.action, dry_run)
    for item in plan.refused:
        result.refused.append((item.id, item.refused or NOT_WRITABLE))
    todo = plan.allowed
    may_write = existing_ids(backend, plan.index, [i.id for i in todo], writable)
    keepers = existing_ids(backend, plan.index, sorted({i.keeper for i in todo}), readable)
    ready = []
    for item in todo:
        if item.id not in may_write:
            result.refused.append((item.id, NOT_WRITABLE))
        elif item.keeper not in keepers:
            result.refused.append((item.id, f"its keeper {item.keeper!r} is gone"))
        else:
            ready.append(item)
    if not ready:
        return result
    sources = {
        doc_id: src
        for doc_id, src in backend.iter_docs(
            plan.index,
            filter=ir.and_(ir.Ids(tuple(i.id for i in ready)), writable),
            fields=None if plan.action == "delete" else [plan.tags_field, schema.PATH_FIELD],
            with_vectors=plan.action == "delete",
        )
    }
    entries = []
    updates = []
    for item in ready:
        source = sources.get(item.id)
        if source is None:
            result.unchanged.append(item.id)  # deleted since the plan was made
            continue
        if plan.action == "tag":
            before = value_at(source, plan.tags_field)
            tags = _as_list(before)
            if plan.tag in tags:
                result.unchanged.append(item.id)
                continue
            entries.append({"id": item.id, "keeper": item.keeper, "before": before})
            updates.append(
                DocUpdate(item.id, _set_path(plan.tags_field, [*tags, plan.tag]), upsert=False)
            )
        else:
            entries.append({"id": item.id, "keeper": item.keeper, "source": source})
    if dry_run:
        result.changed = [e["id"] for e in entries]
        return result
    if not entries:
        return result
    path = _write_journal(Path(journal_dir), plan, entries, by)
    result.journal = str(path)
    if plan.action == "tag":
        written = backend.bulk_update(plan.index, updates)
        bad = {e.id: e.reason for e in written.errors}
    else:
        gone = [e["id"] for e in entries]
        try:
            backend.delete(plan.index, gone)
            bad = {}
        except Exception as exc:  # the journal already says what was meant to go
            bad = {i: str(exc) for i in gone}
        if not bad:
            still = existing_ids(backend, plan.index, gone, ir.MatchAll())
            bad = {i: "still in the index after the delete" for i in still}
    for entry in entries:
        if entry["id"] in bad:
            result.failed.append((entry["id"], bad[entry["id"]]))
        else:
            result.changed.append(entry["id"])
    backend.refresh(plan.index)
    return result


@dataclass
class UndoResult:
    journal: str
    action: Action
    restored: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "journal": self.journal,
            "action": self.action,
            "restored": self.restored,
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
            "failed": [{"id": i, "reason": r} for i, r in self.failed],
        }


def undo(backend: Backend, journal: Path | str, *, writable: ir.Node = ir.MatchAll()) -> UndoResult:
    """Undo what a journal records (see the module doc). Tags are only taken back from
    assets the caller may still change; deleted documents are only written back where no
    document has taken their id since."""
    header, entries = read_journal(journal)
    action: Action = header["action"]
    index = header["index"]
    result = UndoResult(str(journal), action)
    ids = [e["id"] for e in entries]
    if action == "tag":
        tag, tags_field = header["tag"], header["tags_field"]
        current = {
            doc_id: src
            for doc_id, src in backend.iter_docs(
                index, filter=ir.and_(ir.Ids(tuple(ids)), writable), fields=[tags_field]
            )
        }
        updates = []
        for entry in entries:
            source = current.get(entry["id"])
            if source is None:
                result.skipped.append((entry["id"], "gone, or you may not change it"))
                continue
            tags = _as_list(value_at(source, tags_field))
            if tag not in tags:
                result.skipped.append((entry["id"], f"no longer tagged {tag!r}"))
                continue
            before = entry.get("before")
            value: Any = [t for t in tags if t != tag]
            if before is None and not value:
                value = None  # the field did not exist before: leave none behind
            elif isinstance(before, str) and value == [before]:
                value = before  # it was a single string: give it back as one
            updates.append(DocUpdate(entry["id"], _set_path(tags_field, value), upsert=False))
        _restore(backend, index, updates, result)
    else:
        present = existing_ids(backend, index, ids, ir.MatchAll())
        updates = []
        for entry in entries:
            if entry["id"] in present:
                result.skipped.append((entry["id"], "a document with this id exists again"))
                continue
            updates.append(DocUpdate(entry["id"], entry["source"], upsert=True))
        _restore(backend, index, updates, result)
    backend.refresh(index)
    return result


def read_journal(path: Path | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A journal's header and entries; ``QueryError`` naming the problem if it is not one."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QueryError(f"cannot read the journal {path}: {exc.strerror or exc}") from exc
    try:
        records = [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as exc:
        raise QueryError(f"{path} is not a duplicates journal: line {exc.lineno}") from exc
    if not records or not isinstance(records[0], dict) or "journal" not in records[0]:
        raise QueryError(f"{path} is not a duplicates journal (no header line)")
    header = records[0]
    if header.get("action") not in ACTIONS or not isinstance(header.get("index"), str):
        raise QueryError(f"{path}: the header names no action or index")
    entries = [r for r in records[1:] if isinstance(r, dict) and isinstance(r.get("id"), str)]
    return header, entries


def list_journals(journal_dir: Path | str) -> list[Path]:
    """Journals in ``journal_dir``, the newest first."""
    folder = Path(journal_dir)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("dups-*.jsonl"), reverse=True)


def _write_journal(folder: Path, plan: Plan, entries: list[dict[str, Any]], by: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"dups-{stamp}-{plan.action}-{uuid.uuid4().hex[:8]}.jsonl"
    header = {
        "journal": JOURNAL_VERSION,
        "action": plan.action,
        "index": plan.index,
        "tag": plan.tag if plan.action == "tag" else None,
        "tags_field": plan.tags_field,
        "by": by or "operator",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # Written and synced before anything changes: a crash mid-way still leaves the record.
    with open(path, "x", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        for entry in entries:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return path


def existing_ids(backend: Backend, index: str, ids: list[str], scope: ir.Node) -> set[str]:
    """Which of ``ids`` exist within ``scope`` (an ACL filter: which the caller may read,
    or may change)."""
    found: set[str] = set()
    for start in range(0, len(ids), _CHECK_BATCH):
        chunk = tuple(ids[start : start + _CHECK_BATCH])
        flt = ir.and_(ir.Ids(chunk), scope)
        found.update(doc_id for doc_id, _src in backend.iter_docs(index, filter=flt, fields=[]))
    return found


def copy_reason(member: Member) -> str:
    """Why ``member`` is a copy of its keeper, in words."""
    if member.exact:
        return "same bytes"
    m = member.match
    if m is None:
        return "near copy"
    if m.frames:
        return f"same video: {m.frames}, offset {m.offset or 0:+.1f} s"
    parts = [f"similarity {m.cosine:.3f}" if m.cosine is not None else None]
    if m.hamming is not None:
        parts.append(f"hash {m.hamming}/64 bits apart")
    if m.picture is not None:
        parts.append(f"pixels line up {m.picture:.2f}")
    if m.mirrored:
        parts.append("mirrored")
    return "near copy: " + ", ".join(p for p in parts if p)


def _restore(backend: Backend, index: str, updates: list[DocUpdate], result: UndoResult) -> None:
    """Write ``updates`` of an undo; each id lands in ``result.restored`` or ``failed``."""
    written = backend.bulk_update(index, updates)
    bad = {e.id: e.reason for e in written.errors}
    for update in updates:
        if update.id in bad:
            result.failed.append((update.id, bad[update.id]))
        else:
            result.restored.append(update.id)


def _set_path(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
