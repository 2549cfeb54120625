"""ACL values fail closed: at query time on the store, and at ingest (a per-item error).

Before the fix, a document whose ``acl.read`` was ``[]``, null, or blocked by a
non-object ``acl`` read as "no ACL" and so was public under the default
``missing_acl_public``; the embedded store kept ``"acl.read": [...]`` literally,
so that ACL was not seen either.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from es_visual.cli import cli
from es_visual.query.search import Search
from tests.security.attacks import ACL_CASES, acl_value_attacks, dotted_key_attacks


def test_malformed_acls_are_never_public(backend: Any, attacks) -> None:
    outcome = acl_value_attacks(backend)
    attacks.record(f"ACL values at query time ({backend.name})", **_counts(outcome))
    assert not outcome.problems, "\n".join(outcome.problems)


def test_a_dotted_acl_key_means_the_nested_object(backend: Any, attacks) -> None:
    outcome = dotted_key_attacks(backend)
    attacks.record(f"dotted ACL keys ({backend.name})", **_counts(outcome))
    assert not outcome.problems, "\n".join(outcome.problems)


def test_an_old_row_holding_a_literal_dotted_acl_is_not_public(tmp_path: Path, attacks) -> None:
    """Rows written before the store nested dotted keys keep them literally: such a row
    must still not read as "no ACL"."""
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.core.documents import DocUpdate
    from tests.security.attacks import SPEC

    with EmbeddedBackend(tmp_path / "store") as backend:
        backend.ensure_index("media", SPEC)
        backend.bulk_update("media", [DocUpdate("old", {"tags": ["x"]})])
        handle = backend._open("media", create=False)
        with handle.store.write() as conn:  # what an older version stored
            conn.execute(
                "UPDATE docs SET source = ? WHERE id = 'old'",
                (json.dumps({"tags": ["x"], "acl.read": ["group:secret"]}),),
            )
        hits = Search("media").as_user("mallory").execute(backend).hits
        attacks.record("ACL values at query time (embedded legacy rows)", tried=1)
        assert [h.id for h in hits] == []


@pytest.fixture
def manifest(tmp_path: Path, skimage_dir: Path) -> Path:
    """One good line, one line per malformed ACL, and good lines after them."""
    image = tmp_path / "cat.png"
    shutil.copyfile(skimage_dir / "chelsea.png", image)
    lines = [{"id": "good-first", "path": str(image), "acl": {"read": ["group:secret"]}}]
    for i, (label, acl, _readers) in enumerate(ACL_CASES):
        if label.startswith("control") or label == "dotted secret":
            continue
        lines.append({"id": f"bad-{i:02d}", "path": str(image), **acl})
    lines.append({"id": "good-dotted", "path": str(image), "acl.read": ["group:secret"]})
    lines.append({"id": "good-public", "path": str(image)})
    path = tmp_path / "assets.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def test_ingest_refuses_a_malformed_acl_per_line(tmp_path: Path, manifest: Path, attacks) -> None:
    store = tmp_path / "store"
    result = CliRunner().invoke(
        cli, ["--data-dir", str(store), "ingest", "--manifest", str(manifest), "--json"]
    )
    assert result.exit_code == 3, result.output  # finished; some lines need attention
    report = json.loads(result.stdout)
    bad = [json.loads(line)["id"] for line in manifest.read_text().splitlines()]
    bad = [doc_id for doc_id in bad if doc_id.startswith("bad-")]
    failures = {f["id"]: f for f in report["failures"]}
    problems = []
    for doc_id in bad:
        failure = failures.get(doc_id)
        if failure is None:
            problems.append(f"{doc_id}: no per-item error")
            continue
        # The line number and the field are named, in the user's words.
        if not failure["origin"].startswith("assets.jsonl:") or "acl" not in failure["reason"]:
            problems.append(f"{doc_id}: unclear error {failure}")
    attacks.record("ACL values at ingest", tried=len(bad), failed=len(problems))
    assert not problems, problems
    assert report["written"] == 3 and report["failed"] == len(bad)

    from es_visual.backends.embedded import EmbeddedBackend

    with EmbeddedBackend(store) as backend:
        # Nothing at all is stored for a refused line; the good ones are, nested.
        stored = {doc_id for doc_id, _ in backend.iter_docs("media")}
        assert stored == {"good-first", "good-dotted", "good-public"}
        assert backend.get("media", "good-dotted")["acl"] == {"read": ["group:secret"]}
        hits = Search("media").as_user("mallory").execute(backend).hits
        assert [h.id for h in hits] == ["good-public"]


def test_a_malformed_acl_never_replaces_a_good_one(
    tmp_path: Path, manifest: Path, skimage_dir: Path
) -> None:
    """Re-ingesting a line with a broken ACL leaves the stored ACL as it was."""
    image = tmp_path / "cat.png"
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps({"id": "a", "path": str(image), "acl.read": ["user:ana"]}) + "\n")
    second = tmp_path / "second.jsonl"
    second.write_text(json.dumps({"id": "a", "path": str(image), "acl": {"read": []}}) + "\n")
    store = tmp_path / "store"
    runner = CliRunner()
    first_run = runner.invoke(cli, ["--data-dir", str(store), "ingest", "--manifest", str(first)])
    assert first_run.exit_code == 0, first_run.output
    result = runner.invoke(cli, ["--data-dir", str(store), "ingest", "--manifest", str(second)])
    assert result.exit_code == 3 and "second.jsonl:1" in result.output
    from es_visual.backends.embedded import EmbeddedBackend

    with EmbeddedBackend(store) as backend:
        assert backend.get("media", "a")["acl"] == {"read": ["user:ana"]}


def _counts(outcome: Any) -> dict[str, int]:
    return {"tried": outcome.tried, "failed": len(outcome.problems)}
