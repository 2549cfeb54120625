"""Browsing like a library: sort, group by date, page both ways, counts the caller may see.

Sorting applies to browsing and filtering (no similarity): a similarity or text
search ranks by score. "Date" is the index's own ``date`` field when the field
map names one (``fields = {date = "taken_at"}`` in the settings), else when the
asset was ingested; "name" and "size" are the file's (``visual.filename``,
``visual.bytes``, written at ingest: an asset ingested before they existed
sorts last until it is ingested again with ``--force``).

Pages are keyset pages (``after`` = a cursor). "Previous" works because each
page's URL carries the cursors of the pages before it (``back``), the first
page's being empty; past ``MAX_BACK`` pages the oldest are dropped and
"Previous" from there leads to the first page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import url_for

from es_visual.core import schema

if TYPE_CHECKING:
    from es_visual.core.results import SearchResult
    from es_visual.query.search import Search
    from flask_ui.queries import Query
    from flask_ui.state import AppState
    from flask_ui.users import User


@dataclass(frozen=True)
class SortChoice:
    label: str
    key: str  # "date", "name", "size" or "score"
    order: str  # "asc" | "desc"


SORTS: dict[str, SortChoice] = {
    "score": SortChoice("Best match", "score", "desc"),
    "newest": SortChoice("Newest first", "date", "desc"),
    "oldest": SortChoice("Oldest first", "date", "asc"),
    "name": SortChoice("Name A–Z", "name", "asc"),
    "name-desc": SortChoice("Name Z–A", "name", "desc"),
    "largest": SortChoice("Largest first", "size", "desc"),
    "smallest": SortChoice("Smallest first", "size", "asc"),
}
GROUPS: dict[str, str] = {"day": "Day", "month": "Month", "year": "Year"}
NAME_FIELD, SIZE_FIELD, INGESTED_FIELD = (
    schema.FILENAME_FIELD,
    schema.BYTES_FIELD,
    schema.INDEXED_AT_FIELD,
)
MAX_BACK = 40  # pages "Previous" can walk back through exactly
CURSOR_SEP = "."  # not in the cursors' URL-safe base64 alphabet


def effective_sort(query: Query) -> str:
    """The sort a page uses: the chosen one, else newest first when browsing and best
    match for a similarity search (which ranks by score whatever is chosen)."""
    if query.kind != "browse":
        return "score"
    return query.sort if query.sort in SORTS and query.sort != "score" else "newest"


def date_field(search: Search) -> str:
    """The index field "date" sorts and groups by."""
    info = search.field_map.get("date")
    return info.field if info is not None and info.type == "date" else INGESTED_FIELD


def sort_search(search: Search, query: Query) -> Search:
    choice = SORTS[effective_sort(query)]
    if choice.key == "score":
        return search
    field = {"date": date_field(search), "name": NAME_FIELD, "size": SIZE_FIELD}[choice.key]
    return search.sort_by(field, choice.order)  # type: ignore[arg-type]


# --- group by date ------------------------------------------------------------------


def group_key(value: Any, group: str) -> tuple[str, str] | None:
    """(key, label) of the day, month or year a date value falls in; None if undated."""
    when = _parse_date(value)
    if when is None:
        return None
    if group == "year":
        return f"{when:%Y}", f"{when:%Y}"
    if group == "month":
        return f"{when:%Y-%m}", f"{when:%B %Y}"
    return f"{when:%Y-%m-%d}", f"{when:%A} {when.day} {when:%B %Y}"


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:  # epoch milliseconds, as Elasticsearch stores dates
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def source_value(source: dict[str, Any], field: str) -> Any:
    value: Any = source
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def with_groups(
    cards: list[dict[str, Any]], hits: Any, query: Query, field: str
) -> list[dict[str, Any]]:
    """Each card with ``group`` (key, label) when the page is grouped by date."""
    grouped = query.group in GROUPS and SORTS[effective_sort(query)].key == "date"
    for card, hit in zip(cards, hits, strict=True):
        found = group_key(source_value(hit.source or {}, field), query.group) if grouped else None
        card["group"] = found or (("undated", "No date") if grouped else None)
    return cards


# --- paging ---------------------------------------------------------------------------


def pager(query: Query, result: SearchResult, shown: int) -> dict[str, Any]:
    """Links and numbers for the page: previous / next / first, "25–48 of 57"."""
    back = [c for c in query.back.split(CURSOR_SEP) if c] if query.after else []
    prev_url = next_url = first_url = None
    if query.after:
        earlier = back[-1] if back else ""
        page = max(1, query.page - 1) if earlier else 1
        prev_url = url_for(
            "search.home",
            **query.to_args(after=earlier, back=CURSOR_SEP.join(back[:-1]), page=page),
        )
        first_url = url_for("search.home", **query.to_args(after="", back="", page=1))
    if result.next_cursor:
        trail = [*back, query.after] if query.after else []
        next_url = url_for(
            "search.home",
            **query.to_args(
                after=result.next_cursor,
                back=CURSOR_SEP.join(trail[-MAX_BACK:]),
                page=query.page + 1,
            ),
        )
    start = (query.page - 1) * query.limit + 1 if shown else 0
    return {
        "page": query.page,
        "start": start,
        "end": start + shown - 1 if shown else 0,
        "total": result.total,
        "more": bool(result.next_cursor),
        "prev_url": prev_url,
        "next_url": next_url,
        "first_url": first_url if prev_url != first_url else None,
    }


# --- counts -------------------------------------------------------------------------------


def media_counts(state: AppState, user: User, query: Query) -> dict[str, int] | None:
    """How many assets of each media type the caller may see under the page's filter
    (the media toggle's counts); None for a similarity search or a bad filter."""
    if query.kind != "browse":
        return None
    from es_visual.core.errors import EsVisualError
    from es_visual.query.search import Search

    search = Search.for_index(state.settings, state.backend(), state.index)
    try:
        if query.where:
            from flask_ui.queries import people_registry

            search = search.with_people(people_registry(state).resolver(state.index))
            search = search.where(query.where)
        search = search.as_user(user.name, groups=list(user.groups))
        result = search.aggregate("media_type", size=10).limit(1).execute(state.backend())
    except EsVisualError:
        return None
    counts = {str(value): n for value, n in result.aggregations.get(schema.MEDIA_TYPE_FIELD, [])}
    total = result.total if result.total is not None else sum(counts.values())
    return {"all": total, "image": counts.get("image", 0), "video": counts.get("video", 0)}
