"""Duplicates: the perceptual prints, find_duplicates on real pictures and videos ingested
with the real model, keepers and their reasons, acting on copies (tag / delete, dry run,
journal, undo, write permission) and `es-visual dups` on the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageEnhance

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli
from es_visual.config import Settings
from es_visual.core.errors import QueryError
from es_visual.dup_actions import apply_plan, plan_actions, read_journal, undo
from es_visual.duplicates import default_threshold, find_duplicates, near_rule
from es_visual.media.phash import (
    decode_thumb,
    hamming,
    hash_of_thumb,
    parse_hash,
    picture_print,
    same_picture_score,
)
from es_visual.query.acl import AclPolicy
from es_visual.query.search import Search

POLICY = AclPolicy()
ALICE_WRITES = {"read": ["public"], "write": ["user:alice"]}


def _crop(im: Image.Image, keep: float) -> Image.Image:
    w, h = im.size
    cw, ch = round(w * keep), round(h * keep)
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return im.crop((x0, y0, x0 + cw, y0 + ch))


def _print(im: Image.Image) -> tuple[np.ndarray, tuple[int, int], int]:
    p = picture_print(im)
    thumb = decode_thumb(p.to_visual()["phash_thumb"])
    assert thumb is not None
    return thumb, im.size, int(p.phash, 16)


# --- the prints ----------------------------------------------------------------------


def test_prints_tell_a_copy_from_a_second_photo_of_the_scene(skimage_dir: Path) -> None:
    cat = Image.open(skimage_dir / "chelsea.png").convert("RGB")
    small = cat.resize((cat.width // 2, cat.height // 2), Image.Resampling.LANCZOS)
    a, size_a, hash_a = _print(cat)
    b, size_b, hash_b = _print(small)
    assert hamming(hash_a, hash_b) <= 4
    assert same_picture_score(a, size_a, b, size_b) > 0.95
    # A 90% crop lines up once aligned; a 70% one is more than "a little" and does not.
    c, size_c, _ = _print(_crop(cat, 0.9))
    assert same_picture_score(a, size_a, c, size_c) > 0.85
    d, size_d, _ = _print(_crop(cat, 0.7))
    assert same_picture_score(a, size_a, d, size_d) < near_rule(None).picture
    # The stereo pair: one scene, two cameras. Its hashes are close (what fooled a hash-only
    # check); the pixels do not line up.
    left = Image.open(skimage_dir / "motorcycle_left.png").convert("RGB")
    right = Image.open(skimage_dir / "motorcycle_right.png").convert("RGB")
    lt, ls, lh = _print(left)
    rt, rs, rh = _print(right)
    assert hamming(lh, rh) <= 8
    assert same_picture_score(lt, ls, rt, rs) < near_rule("mobilenet-v2@x").picture


def test_mirror_hash_comes_from_the_thumb(skimage_dir: Path) -> None:
    im = Image.open(skimage_dir / "astronaut.png").convert("RGB")
    thumb, size, bits = _print(im)
    mirrored = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    m_thumb, m_size, m_bits = _print(mirrored)
    assert hash_of_thumb(thumb) == bits
    assert hamming(hash_of_thumb(thumb, mirror=True), m_bits) <= 2
    assert hamming(bits, m_bits) > near_rule(None).hamming  # a mirror is not a copy by default
    assert same_picture_score(thumb, size, m_thumb, m_size, mirror=True) > 0.95


def test_malformed_prints_are_none() -> None:
    assert parse_hash("xyz") is None and parse_hash(None) is None and parse_hash("0" * 15) is None
    assert parse_hash("f" * 16) == 2**64 - 1
    assert decode_thumb("not base64!") is None and decode_thumb("AAAA") is None


# --- a real index --------------------------------------------------------------------

IMAGES: dict[str, tuple[str, Any, dict[str, Any]]] = {}


def _pictures(skimage_dir: Path) -> dict[str, tuple[Image.Image, str, dict[str, Any]]]:
    """id -> (picture, save format, metadata)."""
    cat = Image.open(skimage_dir / "chelsea.png").convert("RGB")
    astro = Image.open(skimage_dir / "astronaut.png").convert("RGB")
    coffee = Image.open(skimage_dir / "coffee.png").convert("RGB")
    boxed = astro.copy()
    ImageDraw.Draw(boxed).rectangle((360, 450, 500, 495), fill="white")
    c86 = _crop(coffee, 0.86)
    return {
        "cat.png": (cat, "PNG", {"title": "Chelsea", "tags": ["cat"], "folder": "cats"}),
        "cat-copy.png": (cat, "PNG", {"folder": "cats"}),  # the same bytes, less metadata
        "cat.jpg": (cat, "JPEG", {"tags": ["cat"], "folder": "cats"}),  # same size, lossy
        "cat-small.jpg": (
            cat.resize((cat.width // 2, cat.height // 2), Image.Resampling.LANCZOS),
            "JPEG",
            {"acl": ALICE_WRITES, "folder": "cats"},
        ),
        "cat-crop.png": (_crop(cat, 0.92), "PNG", {"acl": ALICE_WRITES, "folder": "cats"}),
        "cat-mirror.png": (
            cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            "PNG",
            {"folder": "cats"},
        ),
        "moto-left.png": (
            Image.open(skimage_dir / "motorcycle_left.png").convert("RGB"),
            "PNG",
            {},
        ),
        "moto-right.png": (
            Image.open(skimage_dir / "motorcycle_right.png").convert("RGB"),
            "PNG",
            {},
        ),
        "astro.png": (astro, "PNG", {"folder": "astro"}),
        "astro-edited.jpg": (
            ImageEnhance.Brightness(boxed).enhance(1.1),
            "JPEG",
            {"folder": "astro"},
        ),
        # A chain: coffee ~ 86% crop ~ 74% crop, but coffee is not ~ its 74% crop.
        "coffee.png": (coffee, "PNG", {"folder": "coffee"}),
        "coffee-86.png": (c86, "PNG", {"folder": "coffee"}),
        "coffee-74.png": (_crop(c86, 0.86), "PNG", {"folder": "coffee"}),
        "secret-cat.png": (cat, "PNG", {"acl": {"read": ["user:carol"]}, "folder": "private"}),
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet) -> Path:
    """A store folder with the pictures above ingested (closed again: tests copy it)."""
    from es_visual.ingest.sources import iter_manifest
    from es_visual.workflows import ingest, load_pipeline

    root = tmp_path_factory.mktemp("dups")
    media = root / "media"
    media.mkdir()
    lines = []
    for doc_id, (im, fmt, meta) in _pictures(skimage_dir).items():
        path = media / doc_id
        if doc_id == "cat-copy.png":
            shutil.copyfile(media / "cat.png", path)
        else:
            im.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        lines.append(json.dumps({"id": doc_id, "path": str(path), **meta}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    settings = Settings(data_dir=root / "store", index="media", pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    report = ingest(
        backend,
        "media",
        iter_manifest(root / "manifest.jsonl"),
        embedder=mobilenet,
        pipeline=load_pipeline(settings),
    )
    assert report.failed == 0, report.to_dict()
    backend.close()
    return root / "store"


@pytest.fixture
def store(seeded: Path, tmp_path: Path):
    folder = tmp_path / "store"
    shutil.copytree(seeded, folder)
    backend = EmbeddedBackend(folder)
    yield backend
    backend.close()


def _groups(report) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    return sorted((g.kind, [m.id for m in g.members]) for g in report.groups)


def test_ingest_writes_the_prints(store) -> None:
    visual = store.get("media", "cat.jpg")["visual"]
    assert parse_hash(visual["phash"]) is not None
    assert decode_thumb(visual["phash_thumb"]) is not None
    assert visual["format"] == "jpeg"


def test_copies_are_grouped_and_look_alikes_are_not(store) -> None:
    report = find_duplicates(store, "media")
    assert _groups(report) == [
        ("near", ["astro.png", "astro-edited.jpg"]),
        (
            "near",
            [
                "cat.png",
                "cat-copy.png",
                "secret-cat.png",  # the operator reads everything
                "cat.jpg",
                "cat-crop.png",
                "cat-small.jpg",
            ],
        ),
        ("near", ["coffee.png", "coffee-86.png"]),
    ]
    assert report.rule == near_rule(report.model) and report.without_prints == 0
    # The stereo pair scores like a copy on the embedding; the pixel check turns it down.
    assert report.rejected >= 1
    cat = next(g for g in report.groups if g.keeper.id == "cat.png")
    members = {m.id: m for m in cat.members}
    assert members["cat-copy.png"].exact and members["cat-copy.png"].match is None
    near = members["cat-small.jpg"].match
    assert near is not None and near.picture is not None and near.picture >= report.rule.picture
    assert near.hamming is not None and near.hamming <= report.rule.hamming
    # The mirror image is left out unless asked for.
    assert "cat-mirror.png" not in members


def test_no_chains(store) -> None:
    """coffee ~ coffee-86 ~ coffee-74, but coffee-74 is cropped too much to be a copy of
    coffee: it joins no group, although the chain would have put it in one."""
    report = find_duplicates(store, Search("media").where("folder:coffee"))
    assert _groups(report) == [("near", ["coffee.png", "coffee-86.png"])]
    alone = find_duplicates(store, Search("media").where("folder:coffee AND NOT id=coffee.png"))
    assert _groups(alone) == [("near", ["coffee-86.png", "coffee-74.png"])]


def test_mirrored_copies_only_when_asked(store) -> None:
    report = find_duplicates(store, Search("media").where("folder:cats"), mirrored=True)
    (group,) = report.groups
    mirror = next(m for m in group.members if m.id == "cat-mirror.png")
    assert mirror.match is not None and mirror.match.mirrored
    assert report.mirrored and report.to_dict()["mirrored"] is True


def test_keeper_reasons(store) -> None:
    report = find_duplicates(store, "media")
    reasons = {g.keeper.id: g.keep_reason for g in report.groups}
    # Same size and format as its byte-identical copy, more metadata.
    assert reasons["cat.png"] == "richest metadata: 3 fields (next: 1)"
    assert reasons["astro.png"].startswith("original format: PNG (lossless; the others: JPEG)")
    assert reasons["coffee.png"] == "largest resolution: 600x400 (next: 516x344)"
    data = report.to_dict()["groups"][0]
    assert data["keep_reason"] and data["members"][0]["keeper"]


def test_acl_scopes_every_group(store) -> None:
    """Carol's private copy of the cat is never shown to anyone else, nor grouped for them."""
    bob = find_duplicates(store, Search("media").as_user("bob"))
    assert all(m.id != "secret-cat.png" for g in bob.groups for m in g.members)
    carol = find_duplicates(
        store, Search("media").as_user("carol").where("folder:cats OR folder:private")
    )
    assert any(m.id == "secret-cat.png" for g in carol.groups for m in g.members)


def test_errors(store) -> None:
    assert default_threshold("mobilenet-v2@imagenet1k-v1") == near_rule("mobilenet-v2").cosine
    assert near_rule("unknown@1").cosine == 0.90
    with pytest.raises(QueryError, match="no visual vectors"):
        find_duplicates(store, "nothing-here")
    with pytest.raises(QueryError, match="threshold"):
        find_duplicates(store, "media", threshold=1.5)


def test_pictures_without_prints_are_exact_duplicates_only(store) -> None:
    """An index ingested before the prints existed: exact copies still group, near ones
    do not (no guessing from the embedding alone), and the report says how many lack them."""
    from es_visual.core.documents import DocUpdate

    ids = [i for i, _src in store.iter_docs("media")]
    updates = [
        DocUpdate(i, {"visual": {"phash": None, "phash_thumb": None}}, upsert=False) for i in ids
    ]
    assert store.bulk_update("media", updates).ok
    store.refresh("media")
    report = find_duplicates(store, Search("media").where("folder:cats"))
    assert _groups(report) == [("exact", ["cat.png", "cat-copy.png"])]
    assert report.without_prints == 6


# --- acting on copies ----------------------------------------------------------------


def test_tag_dry_run_apply_and_undo(store, tmp_path: Path) -> None:
    report = find_duplicates(store, Search("media").where("folder:cats"))
    writable = POLICY.writable_filter(None)  # the operator
    plan = plan_actions(store, report, "tag", writable=writable)
    assert {i.id for i in plan.allowed} == {
        "cat-copy.png",
        "cat.jpg",
        "cat-crop.png",
        "cat-small.jpg",
    }
    assert all(i.keeper == "cat.png" for i in plan.items)
    journals = tmp_path / "journal"
    dry = apply_plan(store, plan, journal_dir=journals, writable=writable, dry_run=True)
    assert sorted(dry.changed) == sorted(i.id for i in plan.allowed) and dry.journal is None
    assert not journals.exists() and store.get("media", "cat.jpg")["tags"] == ["cat"]

    done = apply_plan(store, plan, journal_dir=journals, writable=writable)
    assert done.ok and sorted(done.changed) == sorted(dry.changed)
    assert store.get("media", "cat.jpg")["tags"] == ["cat", "duplicate"]
    assert store.get("media", "cat-small.jpg")["tags"] == ["duplicate"]
    assert store.get("media", "cat.png")["tags"] == ["cat"]  # the keeper is never touched
    header, entries = read_journal(done.journal)  # type: ignore[arg-type]
    assert header["action"] == "tag" and len(entries) == 4
    # Applying again changes nothing: they are tagged already.
    again = apply_plan(store, plan, journal_dir=journals, writable=writable)
    assert again.changed == [] and len(again.unchanged) == 4

    # Someone adds another tag meanwhile: undo takes ours off and keeps theirs.
    from es_visual.core.documents import DocUpdate

    store.bulk_update("media", [DocUpdate("cat.jpg", {"tags": ["cat", "duplicate", "best"]})])
    undone = undo(store, done.journal)  # type: ignore[arg-type]
    assert sorted(undone.restored) == sorted(done.changed)
    assert store.get("media", "cat.jpg")["tags"] == ["cat", "best"]
    assert store.get("media", "cat-small.jpg").get("tags") is None


def test_delete_and_put_back(store, tmp_path: Path) -> None:
    report = find_duplicates(store, Search("media").where("folder:coffee"))
    writable = POLICY.writable_filter(None)
    plan = plan_actions(store, report, "delete", writable=writable)
    assert [i.id for i in plan.allowed] == ["coffee-86.png"]
    done = apply_plan(store, plan, journal_dir=tmp_path, writable=writable)
    assert done.changed == ["coffee-86.png"] and store.get("media", "coffee-86.png") is None
    assert store.get("media", "coffee.png") is not None
    undone = undo(store, done.journal)  # type: ignore[arg-type]
    assert undone.restored == ["coffee-86.png"]
    back = store.get("media", "coffee-86.png", with_vectors=True)
    assert back is not None and len(back["visual"]["scene"]) == 1280
    assert _groups(find_duplicates(store, Search("media").where("folder:coffee"))) == [
        ("near", ["coffee.png", "coffee-86.png"])
    ]


def test_only_what_the_user_may_write(store, tmp_path: Path) -> None:
    """alice may change the two copies whose acl.write names her; bob none; neither is ever
    offered carol's private copy, and a keeper is never changed."""
    alice = Search("media").as_user("alice").where("folder:cats OR folder:private")
    report = find_duplicates(store, alice)
    writable = POLICY.writable_filter("alice")
    asked = ["cat-small.jpg", "cat-crop.png", "cat.jpg", "cat.png", "secret-cat.png"]
    plan = plan_actions(store, report, "delete", writable=writable, ids=asked)
    verdict = {i.id: (i.allowed, i.refused) for i in plan.items}
    assert verdict["cat-small.jpg"] == (True, None) and verdict["cat-crop.png"] == (True, None)
    assert verdict["cat.jpg"][1] == "you may not change this asset (no write access)"
    assert verdict["cat.png"][1] == "the suggested keeper of its group is never changed"
    # Not readable: refused in the same words as any id outside the groups.
    assert verdict["secret-cat.png"][1] == "not a copy in the current duplicate groups"
    done = apply_plan(store, plan, journal_dir=tmp_path, writable=writable, readable=alice.acl)
    assert sorted(done.changed) == ["cat-crop.png", "cat-small.jpg"] and len(done.refused) == 3
    assert store.get("media", "cat.jpg") is not None

    bob = find_duplicates(store, Search("media").as_user("bob"))
    plan = plan_actions(store, bob, "tag", writable=POLICY.writable_filter("bob"))
    assert plan.items and not plan.allowed
    # The admin group changes documents nobody was given write access to.
    admin = POLICY.writable_filter("root", ["admin"])
    plan = plan_actions(store, bob, "tag", writable=admin)
    assert {i.id for i in plan.allowed} >= {"cat.jpg", "astro-edited.jpg"}


def test_a_copy_whose_keeper_is_gone_is_left(store, tmp_path: Path) -> None:
    report = find_duplicates(store, Search("media").where("folder:astro"))
    writable = POLICY.writable_filter(None)
    plan = plan_actions(store, report, "delete", writable=writable)
    store.delete("media", ["astro.png"])
    done = apply_plan(store, plan, journal_dir=tmp_path, writable=writable)
    assert done.changed == [] and "keeper" in done.refused[0][1]
    assert store.get("media", "astro-edited.jpg") is not None


# --- videos --------------------------------------------------------------------------


def _transcode(src: Path, dest: Path, *, start: float = 0.0, size: tuple[int, int], fps: int):
    """Re-encode ``src`` from ``start`` seconds on at another size and frame rate (PyAV)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "30"}
        n = 0
        for frame in inp.decode(video=0):
            t = float(frame.time or 0.0)
            if t + 1e-6 < start or t - start < n / fps - 1e-6:
                continue  # before the cut, or between the output frame rate's ticks
            picture = frame.to_image().resize(size)
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                out.mux(packet)
            n += 1
        for packet in stream.encode():
            out.mux(packet)
    return dest


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet):
    from es_visual.demo import write_slideshow
    from es_visual.ingest.sources import iter_manifest
    from es_visual.workflows import ingest, load_pipeline

    root = tmp_path_factory.mktemp("dup-videos")
    shots = [skimage_dir / n for n in ("horse.png", "motorcycle_left.png", "coffee.png")]
    original = write_slideshow(root / "show.mp4", shots, secs=2.0, size=(320, 208))
    files = {
        "show.mp4": original,
        "show-small.mp4": _transcode(original, root / "small.mp4", size=(224, 144), fps=5),
        "show-trimmed.mp4": _transcode(
            original, root / "trim.mp4", start=2.0, size=(320, 208), fps=10
        ),
        # The same shots in another order: a different video.
        "reordered.mp4": write_slideshow(root / "re.mp4", shots[::-1], secs=2.0, size=(320, 208)),
        "horse.png": skimage_dir / "horse.png",  # a still of the first shot
    }
    lines = [json.dumps({"id": i, "path": str(p)}) for i, p in files.items()]
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    settings = Settings(data_dir=root / "store", index="media", pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    report = ingest(
        backend,
        "media",
        iter_manifest(root / "manifest.jsonl"),
        embedder=mobilenet,
        pipeline=load_pipeline(settings),
    )
    assert report.failed == 0, report.to_dict()
    yield backend
    backend.close()


def test_video_copies_by_frame_sequence(videos) -> None:
    frames = videos.get("media", "show.mp4")["visual"]["frames"]
    assert frames and all(parse_hash(f.get("phash")) is not None for f in frames)
    report = find_duplicates(videos, "media")
    # show and its trimmed copy have the same size: the longer one is kept.
    assert _groups(report) == [("near", ["show.mp4", "show-trimmed.mp4", "show-small.mp4"])]
    (group,) = report.groups
    assert group.keep_reason == "longest: 6 s (next: 4 s)"
    members = {m.id: m for m in group.members}
    trimmed = members["show-trimmed.mp4"].match
    assert trimmed is not None and trimmed.frames and trimmed.offset == pytest.approx(2.0, abs=1.1)
    # Never a video and a still, never the same shots in another order.
    assert "horse.png" not in members and "reordered.mp4" not in members


# --- the command line ----------------------------------------------------------------


def test_cli_report_apply_and_undo(seeded: Path, tmp_path: Path) -> None:
    folder = tmp_path / "store"
    shutil.copytree(seeded, folder)
    runner = CliRunner()
    base = ["--data-dir", str(folder), "dups"]
    res = runner.invoke(cli, [*base, "--where", "folder:cats"])
    assert res.exit_code == 0, res.output
    assert "keep cat.png (richest metadata: 3 fields (next: 1))" in res.output
    assert "same bytes" in res.output and "bits" in res.output

    res = runner.invoke(cli, [*base, "--where", "folder:cats", "--apply", "tag", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "dry run: 4 would change" in res.output

    res = runner.invoke(
        cli,
        [*base, "--as-user", "alice", "--where", "folder:cats", "--apply", "tag", "--json"],
    )
    assert res.exit_code == 3, res.output  # partial: alice may change two of the four
    data = json.loads(res.output)
    assert sorted(data["result"]["changed"]) == ["cat-crop.png", "cat-small.jpg"]
    journal = data["result"]["journal"]
    assert Path(journal).parent == folder / "journal"

    res = runner.invoke(cli, [*base, "--undo", journal, "--json"])
    assert res.exit_code == 0, res.output
    assert sorted(json.loads(res.output)["restored"]) == ["cat-crop.png", "cat-small.jpg"]

    res = runner.invoke(cli, [*base, "--where", "folder:coffee", "--apply", "delete"], input="n\n")
    assert res.exit_code == 1 and "Delete 1 document(s)" in res.output
    res = runner.invoke(cli, [*base, "--where", "folder:coffee", "--apply", "delete", "--yes"])
    assert res.exit_code == 0 and "delete: 1 changed" in res.output, res.output

    for bad in (["--dry-run"], ["--groups", "g"], ["--undo", journal, "--apply", "tag"]):
        res = runner.invoke(cli, [*base, *bad])
        assert res.exit_code == 2, (bad, res.output)
    res = runner.invoke(cli, [*base, "--undo", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 2 and "does not exist" in res.output
    (tmp_path / "notes.jsonl").write_text("hello\n")
    res = runner.invoke(cli, [*base, "--undo", str(tmp_path / "notes.jsonl")])
    assert res.exit_code == 1 and "not a duplicates journal" in res.output
