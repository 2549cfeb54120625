"""A manifest's metadata is never dropped, never stale, and a bad date costs its line only.

A folder is ingested; then a manifest for the same (unchanged) files gives them tags,
captions, dates and ACLs. The media are not re-embedded, but every line's metadata is
stored and searchable. Editing the manifest later changes exactly what it says:
changed values replace the old ones (an ACL object is replaced, not merged), removed
fields are removed, untouched lines are not rewritten. A date field holding
"yesterday" is an error on its line, in JSONL and in CSV, and the rest is written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli
from es_visual.query.search import Search

SCENE_ONLY = "model: mobilenet-v2\nmax_side: 160\nfaces: {enabled: false}\n"


def _ingest(store: Path, preset: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(store), "ingest", *args, "--pipeline", str(preset), "--json"]
    )
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def _write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _docs(store: Path) -> dict[str, dict[str, Any]]:
    with EmbeddedBackend(store) as backend:
        return {i: d for i, d in backend.iter_docs("media", with_vectors=True)}


def _ids(store: Path, search: Search) -> list[str]:
    with EmbeddedBackend(store) as backend:
        return sorted(h.id for h in search.limit(50).execute(backend).hits)


def test_metadata_on_unchanged_media_is_applied_replaced_and_removed(
    tmp_path: Path, good_folder: Path, mobilenet, tally
) -> None:
    store, preset = tmp_path / "store", tmp_path / "scene.yaml"
    preset.write_text(SCENE_ONLY)
    code, first = _ingest(store, preset, str(good_folder))
    assert code == 0 and first["written"] == 5
    before = _docs(store)
    time.sleep(1.1)  # a rewritten indexed_at would differ

    lines = [
        {"path": "astronaut.png", "id": "astronaut.png", "tags": ["space", "person"],
         "caption": "a woman in a space suit", "uploaded_at": "2024-05-01",
         "acl": {"read": ["group:science"], "write": ["user:ana"]}},
        {"path": "chelsea.png", "id": "chelsea.png", "tags": ["cat"], "folder": "pets",
         "uploaded_at": "2024-05-02T10:00:00Z"},
        {"path": "coffee.png", "id": "coffee.png", "tags": ["cup"], "caption": "coffee"},
        {"path": "rocket.jpg", "id": "rocket.jpg", "tags": ["space"],
         "created_at": "2023-01-01T00:00:00+02:00"},
        {"path": "camera.png", "id": "camera.png", "tags": ["person"], "uploaded_at": "yesterday"},
    ]  # fmt: skip
    manifest = _write_jsonl(good_folder / "assets.jsonl", lines)
    code, report = _ingest(store, preset, "--manifest", str(manifest))
    problems: list[str] = []
    if (report["written"], report["skipped"], report["metadata_updated"]) != (0, 4, 4):
        problems.append(
            f"first manifest: expected 0 written, 4 unchanged with new metadata: {report}"
        )
    failures = report["failures"]
    if code != 3 or len(failures) != 1 or failures[0]["origin"] != "assets.jsonl:5":
        problems.append(f"the bad date should fail line 5 only: {failures}")
    elif "'uploaded_at'" not in failures[0]["reason"] or "yesterday" not in failures[0]["reason"]:
        problems.append(f"the bad date's error does not name field and value: {failures[0]}")
    docs = _docs(store)
    for line in lines[:4]:
        doc = docs[line["id"]]
        for key, value in line.items():
            if key not in ("path", "id") and doc.get(key) != value:
                problems.append(f"{line['id']}: {key} = {doc.get(key)!r}, manifest says {value!r}")
        old, new = before[line["id"]]["visual"], doc["visual"]
        if new["scene"] != old["scene"] or new["indexed_at"] != old["indexed_at"]:
            problems.append(f"{line['id']}: re-embedded for a metadata change")
    if "tags" in docs["camera.png"]:
        problems.append("the line with a bad date was partly written")
    if _ids(store, Search("media").where("tags=space")) != ["astronaut.png", "rocket.jpg"]:
        problems.append("the new tags are not searchable")
    if _ids(store, Search("media").where("uploaded_at>=2024-05-02")) != ["chelsea.png"]:
        problems.append("the new dates are not searchable")
    science = Search("media").where("tags=space").as_user("bob", groups=["science"])
    if _ids(store, science) != ["astronaut.png", "rocket.jpg"]:
        problems.append("the ACL from the manifest does not let its group read")

    # The manifest changes: values replaced, fields removed, an ACL object replaced whole.
    time.sleep(1.1)
    lines[0] = {"path": "astronaut.png", "id": "astronaut.png", "tags": ["space"],
                "acl": {"read": ["group:design"]}}  # fmt: skip
    lines[1] = {**lines[1], "folder": "cats"}
    lines[4] = {**lines[4], "uploaded_at": "2024-05-03"}
    _write_jsonl(manifest, lines)
    code, report = _ingest(store, preset, "--manifest", str(manifest))
    if (code, report["metadata_updated"], report["failed"]) != (0, 3, 0):
        problems.append(f"second manifest: expected 3 metadata updates, no failure: {report}")
    after = _docs(store)
    astronaut = after["astronaut.png"]
    if "caption" in astronaut or "uploaded_at" in astronaut:
        problems.append(f"removed fields are still there: {sorted(astronaut)}")
    if astronaut.get("acl") != {"read": ["group:design"]}:
        problems.append(f"the ACL was merged, not replaced: {astronaut.get('acl')}")
    if after["chelsea.png"].get("folder") != "cats" or after["camera.png"].get("tags") != [
        "person"
    ]:
        problems.append("changed values were not replaced")
    if after["coffee.png"] != docs["coffee.png"] or after["rocket.jpg"] != docs["rocket.jpg"]:
        problems.append("untouched lines were rewritten")
    if _ids(store, science) != ["rocket.jpg"]:
        problems.append("the old ACL still lets the science group read astronaut.png")
    if _ids(store, Search("media").where("caption:suit")):
        problems.append("a removed caption is still searchable")

    # The same manifest again: nothing to do.
    _, again = _ingest(store, preset, "--manifest", str(manifest))
    if (again["written"], again["metadata_updated"], again["skipped"]) != (0, 0, 5):
        problems.append(f"an unchanged manifest rewrote metadata: {again}")
    if _docs(store) != after:
        problems.append("an unchanged manifest changed documents")
    tally.record("manifest metadata: applied, replaced, removed", tried=14, failed=len(problems))
    assert not problems, "\n".join(problems)


def test_a_bad_date_in_a_csv_manifest_fails_its_line(
    tmp_path: Path, good_folder: Path, mobilenet, tally
) -> None:
    store, preset = tmp_path / "store", tmp_path / "scene.yaml"
    preset.write_text(SCENE_ONLY)
    manifest = good_folder / "assets.csv"
    manifest.write_text(
        "path,tags,uploaded_at,created_at\n"
        "astronaut.png,space,2024-05-01,\n"
        "chelsea.png,cat,05/01/2024,\n"
        "coffee.png,cup,,last tuesday\n"
        "rocket.jpg,space,2024-02-30,\n"
        "camera.png,person,2024-05-01T10:00:00+02:00,2020-01-01\n"
    )
    code, report = _ingest(store, preset, "--manifest", str(manifest))
    bad = {f["origin"]: f["reason"] for f in report["failures"]}
    problems = []
    if code != 3 or report["written"] != 2:
        problems.append(f"expected 2 written and 3 failed lines: {report}")
    for line, field in (("assets.csv:3", "uploaded_at"), ("assets.csv:4", "created_at"),
                        ("assets.csv:5", "uploaded_at")):  # fmt: skip
        if field not in bad.get(line, "") or "ISO 8601" not in bad.get(line, ""):
            problems.append(f"{line}: expected a date error on {field}, got {bad.get(line)!r}")
    docs = _docs(store)
    if sorted(docs) != ["astronaut.png", "camera.png"]:
        problems.append(f"only the good lines should be documents: {sorted(docs)}")
    tally.record("manifest dates (JSONL, CSV)", tried=5, failed=len(problems))
    assert not problems, "\n".join(problems)
