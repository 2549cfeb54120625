"""Duplicates in the UI: the groups on the index page and /api/duplicates (exact copies and
a near copy, keeper and why, a threshold, the caller's ACL), and acting on them: bulk
select, a confirmation listing what will happen, tag / delete only where the user may
write, never a document they cannot read, and undo from the journal."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.ui.conftest import DUP_USERS, login, make_settings

PUBLIC_CATS = ("dups/chelsea-a.png", "dups/chelsea-b.png", "dups/chelsea-small.jpg")
SECRET_CAT = "dups/chelsea-secret.png"


@pytest.fixture
def dups_client(dups_data, mobilenet):
    from flask_ui import create_app

    root, backend = dups_data
    app = create_app(
        make_settings(root, users=DUP_USERS),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
        },
    )
    return app.test_client()


def test_api_duplicates_groups_exact_and_near_copies(dups_client) -> None:
    login(dups_client, "alice")
    body = dups_client.get("/api/duplicates").get_json()
    assert body["total_groups"] == 1 and body["scanned"] == 4  # the secret copy is not read
    (group,) = body["groups"]
    assert group["kind"] == "near"  # exact copies plus a resized one
    assert group["keeper"] == "dups/chelsea-a.png"  # largest, then oldest, then by id
    assert group["keep_reason"]
    members = {m["id"]: m for m in group["members"]}
    assert set(members) == set(PUBLIC_CATS)
    assert members["dups/chelsea-b.png"]["exact"] and not members["dups/chelsea-small.jpg"]["exact"]
    small = members["dups/chelsea-small.jpg"]
    assert small["match"]["picture"] >= body["rule"]["picture"] and "near copy" in small["why"]
    assert group["reclaimable_bytes"] > 0 and members["dups/chelsea-a.png"]["keeper"]
    assert members["dups/chelsea-a.png"]["thumbnail_url"].startswith("/media/thumb/")

    # At similarity 1.0 only the byte-identical copies remain, as an exact group.
    (exact,) = dups_client.get("/api/duplicates?threshold=1").get_json()["groups"]
    assert exact["kind"] == "exact" and exact["size"] == 2
    # A where-expression narrows what is compared; a bad one is a clear 400.
    assert dups_client.get("/api/duplicates?where=id:dups/astro*").get_json()["groups"] == []
    bad = dups_client.get("/api/duplicates?where=id%3D(")
    assert bad.status_code == 400 and "column" in bad.get_json()["error"]["message"]


def test_duplicates_follow_the_callers_acl(dups_client) -> None:
    login(dups_client, "root")  # admin and science: sees the secret copy too
    (group,) = dups_client.get("/api/duplicates").get_json()["groups"]
    assert {m["id"] for m in group["members"]} == {*PUBLIC_CATS, SECRET_CAT}
    dups_client.post("/logout")
    login(dups_client, "bob")  # not an admin
    assert dups_client.get("/api/duplicates").status_code == 403
    assert dups_client.get("/index/").status_code == 403


def test_index_page_shows_groups_with_the_keeper(dups_client) -> None:
    login(dups_client, "alice")
    html = dups_client.get("/index/").get_data(as_text=True)
    assert 'id="duplicates"' in html and 'id="dup-threshold"' in html
    groups = re.findall(r'<article class="dup-group" data-kind="(\w+)" data-keeper="([^"]+)"', html)
    assert groups == [("near", "dups/chelsea-a.png")]
    keepers = re.findall(r'<div class="dup-member keeper" data-id="([^"]+)"', html)
    assert keepers == ["dups/chelsea-a.png"] and "Keep</span>" in html
    members = re.findall(r'<div class="dup-member[^"]*" data-id="([^"]+)"', html)
    assert sorted(members) == sorted(PUBLIC_CATS)
    assert "same bytes" in html and "near copy" in html and 'class="keep-reason' in html
    strict = dups_client.get("/index/?threshold=1").get_data(as_text=True)
    assert re.findall(r'data-kind="(\w+)"', strict) == ["exact"]
    assert 'value="1.00"' in strict
    none = dups_client.get("/index/?where=id:dups/astro*").get_data(as_text=True)
    assert "No duplicates at this similarity" in none


# --- acting on duplicates ------------------------------------------------------------

CAT = "acts/cat.png"  # the keeper: the most metadata
CAT_B = "acts/cat-b.png"  # same bytes; only ana may change it
CAT_SMALL = "acts/cat-small.jpg"  # half size; no write ACL: admins may change it
CAT_SECRET = "acts/cat-secret.png"  # same bytes; only the science group may read it


@pytest.fixture(scope="module")
def acts_seed(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet) -> Path:
    from PIL import Image

    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.config import Settings
    from es_visual.ingest.sources import iter_manifest
    from es_visual.workflows import ingest, load_pipeline

    root = tmp_path_factory.mktemp("acts")
    media = root / "media"
    media.mkdir()
    cat = skimage_dir / "chelsea.png"
    docs = {
        CAT: {"title": "Chelsea", "tags": ["cat"]},
        CAT_B: {"acl": {"read": ["public"], "write": ["user:ana"]}},
        CAT_SMALL: {},
        CAT_SECRET: {"acl": {"read": ["group:science"]}},
    }
    lines = []
    for doc_id, meta in docs.items():
        path = media / Path(doc_id).name
        if doc_id == CAT_SMALL:
            with Image.open(cat) as im:
                im.convert("RGB").resize((im.width // 2, im.height // 2)).save(path, quality=80)
        else:
            shutil.copyfile(cat, path)
        lines.append(json.dumps({"id": doc_id, "path": str(path), **meta}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    backend = EmbeddedBackend(root / "store")
    report = ingest(
        backend,
        "media",
        iter_manifest(root / "manifest.jsonl"),
        embedder=mobilenet,
        pipeline=load_pipeline(Settings(data_dir=root / "store", pipeline="offline")),
    )
    assert report.failed == 0, report.to_dict()
    backend.close()
    return root


@pytest.fixture
def acts(acts_seed: Path, tmp_path: Path, mobilenet):
    """(client, backend) on a fresh copy of the store: these tests change it."""
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    root = tmp_path / "acts"
    shutil.copytree(acts_seed, root)
    backend = EmbeddedBackend(root / "store")
    app = create_app(
        make_settings(root, users=DUP_USERS),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
        },
    )
    yield app.test_client(), backend
    backend.close()


def _rows(html: str, cls: str) -> list[str]:
    return re.findall(rf'<tr class="{cls}" data-id="([^"]+)"', html)


def test_only_copies_the_user_may_change_can_be_ticked(acts) -> None:
    client, _backend = acts
    login(client, "alice")
    html = client.get("/index/").get_data(as_text=True)
    assert re.findall(r'name="ids" value="([^"]+)"', html) == [CAT_SMALL]
    assert "you may not change this one" in html  # cat-b: only ana may
    assert CAT_SECRET not in html
    assert "richest metadata" in html  # why cat.png is kept
    assert 'id="dup-select-all"' in html and "dups.js" in html


def test_confirmation_lists_what_will_happen_and_changes_nothing(acts) -> None:
    client, backend = acts
    login(client, "alice")
    form = {"action": "tag", "tag": "dup", "ids": [CAT_SMALL, CAT_B, CAT, CAT_SECRET, "nope"]}
    page = client.post("/index/duplicates/confirm", data=form)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _rows(html, "plan-item") == [CAT_SMALL]
    assert "near copy" in html and f'<td class="mono">{CAT}</td>' in html  # copy of the keeper
    refused = dict(
        re.findall(
            r'<tr class="plan-refused" data-id="([^"]+)"><td[^>]*>[^<]*</td><td>([^<]+)</td>', html
        )
    )
    assert refused[CAT_B] == "you may not change this asset (no write access)"
    assert refused[CAT] == "the suggested keeper of its group is never changed"
    # Unreadable and unknown ids are refused alike: the page does not tell they differ.
    assert refused[CAT_SECRET] == refused["nope"] == "not a copy in the current duplicate groups"
    assert "Tag with “dup” 1" in html
    assert backend.get("media", CAT_SMALL).get("tags") is None  # nothing changed yet


def test_delete_after_confirming_then_undo(acts) -> None:
    client, backend = acts
    login(client, "alice")
    done = client.post(
        "/index/duplicates/apply", data={"action": "delete", "ids": [CAT_SMALL, CAT_B]}
    )
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "Deleted 1" in html
    assert backend.get("media", CAT_SMALL) is None and backend.get("media", CAT_B) is not None
    journal = re.search(r'name="journal" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    # Only who made a change may undo it from the UI.
    client.post("/logout")
    login(client, "root")
    assert client.post("/index/duplicates/undo", data={"journal": journal}).status_code == 403
    assert client.post("/index/duplicates/undo", data={"journal": "../x"}).status_code == 404
    client.post("/logout")
    login(client, "alice")
    undone = client.post("/index/duplicates/undo", data={"journal": journal})
    assert "Undone: 1 restored" in undone.get_data(as_text=True)
    assert backend.get("media", CAT_SMALL) is not None


def test_api_apply_dry_run_tag_and_permissions(acts) -> None:
    client, backend = acts
    login(client, "alice")
    dry = client.post(
        "/api/duplicates/apply", json={"action": "tag", "ids": [CAT_SMALL, CAT_B], "dry_run": True}
    ).get_json()
    assert dry["result"]["changed"] == [CAT_SMALL] and dry["result"]["journal"] is None
    assert [r["id"] for r in dry["result"]["refused"]] == [CAT_B]
    assert backend.get("media", CAT_SMALL).get("tags") is None
    done = client.post("/api/duplicates/apply", json={"action": "tag", "ids": [CAT_SMALL]})
    body = done.get_json()
    assert body["result"]["changed"] == [CAT_SMALL] and "/" not in body["result"]["journal"]
    assert backend.get("media", CAT_SMALL)["tags"] == ["duplicate"]
    bad = client.post("/api/duplicates/apply", json={"action": "burn", "ids": [CAT_SMALL]})
    assert bad.status_code == 400 and "action" in bad.get_json()["error"]["message"]
    client.post("/logout")
    login(client, "bob")
    assert (
        client.post("/api/duplicates/apply", json={"action": "tag", "ids": [CAT_SMALL]}).status_code
        == 403
    )
    assert client.post("/index/duplicates/confirm", data={"ids": [CAT_SMALL]}).status_code == 403


def test_an_admin_who_may_read_more_acts_on_more(acts) -> None:
    client, backend = acts
    login(client, "root")  # admin and science: reads the secret copy, which has no write ACL
    body = client.post(
        "/api/duplicates/apply", json={"action": "tag", "ids": [CAT_SECRET, CAT_SMALL]}
    ).get_json()
    assert sorted(body["result"]["changed"]) == [CAT_SECRET, CAT_SMALL]
    assert backend.get("media", CAT_SECRET)["tags"] == ["duplicate"]
