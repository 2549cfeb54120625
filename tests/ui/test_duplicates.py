"""Duplicates on the index page and /api/duplicates: exact copies (same bytes) and a
near copy (resized, re-encoded), keeper marked, a threshold, and the caller's ACL."""

from __future__ import annotations

import re

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
    members = {m["id"]: m for m in group["members"]}
    assert set(members) == set(PUBLIC_CATS)
    assert members["dups/chelsea-b.png"]["exact"] and not members["dups/chelsea-small.jpg"]["exact"]
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
    keepers = re.findall(r'<a class="dup-member keeper" data-id="([^"]+)"', html)
    assert keepers == ["dups/chelsea-a.png"] and "Keep</span>" in html
    members = re.findall(r'<a class="dup-member[^"]*" data-id="([^"]+)"', html)
    assert sorted(members) == sorted(PUBLIC_CATS)
    assert "same bytes" in html and "similar" in html
    strict = dups_client.get("/index/?threshold=1").get_data(as_text=True)
    assert re.findall(r'data-kind="(\w+)"', strict) == ["exact"]
    assert 'value="1.00"' in strict
    none = dups_client.get("/index/?where=id:dups/astro*").get_data(as_text=True)
    assert "No duplicates at this similarity" in none
