"""Every file under an ingested folder is accounted for, and a symlink loop costs only itself.

A folder holds a picture in every format the installed Pillow can write (plus a
hand-made Photoshop file, which Pillow only reads), short videos in containers
PyAV writes, files that are not media, hidden files, a symlinked folder and three
symlink loops (one link to itself, two links to each other, a folder link to its
parent). One `es-visual ingest --json` run must:

* write every picture and video (a scene vector of the model's dims);
* fail each looping link alone, with a per-item error saying so;
* list every other file (and the folders it did not enter) as ignored, with a reason;
* so that written + failed + ignored covers every path under the folder.

The manifest and the web UI's folder job meet the same loops: one bad line or one
bad file, the rest written.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.sources import Ignored, iter_folder, iter_manifest
from es_visual.workflows import ingest

SCENE_ONLY = "model: mobilenet-v2\nmax_side: 160\nfaces: {enabled: false}\n"
# File name -> the Pillow format that writes it, from a real photo (.pgm and .pbm are
# Pillow's PPM writer in grey and bilevel modes).
PILLOW_WRITES = {
    "photo.ppm": "PPM",
    "grey.pgm": "PPM",
    "bilevel.pbm": "PPM",
    "photo.tga": "TGA",
    "icon.ico": "ICO",
    "photo.jp2": "JPEG2000",
    "photo.avif": "AVIF",
    "photo.webp": "WEBP",
    "photo.tiff": "TIFF",
    "photo.bmp": "BMP",
    "photo.pcx": "PCX",
    "photo.sgi": "SGI",
    "photo.qoi": "QOI",
    "photo.dds": "DDS",
    "bilevel.msp": "MSP",
    "bilevel.xbm": "XBM",
    "icon.icns": "ICNS",
    "palette.blp": "BLP",
    "photo.gif": "GIF",
    "photo.png": "PNG",
    "photo.jpeg": "JPEG",
}
# extension -> (container, codec): short clips PyAV writes here.
VIDEOS = {
    "clip.mpg": ("mpeg", "mpeg1video"),
    "clip.ts": ("mpegts", "mpeg2video"),
    "clip.m2ts": ("mpegts", "mpeg2video"),
    "clip.flv": ("flv", "flv"),
    "clip.wmv": ("asf", "wmv2"),
    "clip.3gp": ("3gp", "mpeg4"),
    "clip.mkv": ("matroska", "mpeg4"),
    "clip.mxf": ("mxf", "mpeg2video"),
    "clip.nut": ("nut", "mpeg4"),
}
NOT_MEDIA = ["README.txt", "notes.md", "sidecar.xmp", "data.json", "Makefile", "photo.heic"]
LOOPS = ["loop.jpg", "ping.png", "pong.png"]


def _psd(image: Image.Image) -> bytes:
    """A minimal Photoshop file (RGB, 8 bits, no layers, raw planes): Pillow reads PSD
    but cannot write it, so the bytes are laid out here as the format says."""
    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, resources, layers: empty
    planes = b"".join(rgb[:, :, c].tobytes() for c in range(3))
    return header + sections + struct.pack(">H", 0) + planes


def _video(path: Path, container: str, codec: str, photo: Image.Image) -> None:
    import av

    frame = np.asarray(photo.convert("RGB").resize((64, 48)))
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(12):
            shifted = np.roll(frame, i * 4, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(shifted, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def build_folder(root: Path, skimage_dir: Path) -> dict[str, set[str]]:
    """The corpus; returns the relative paths expected per outcome."""
    photo = Image.open(skimage_dir / "chelsea.png").convert("RGB")
    small = photo.resize((64, 48))
    media: set[str] = set()
    for name, fmt in PILLOW_WRITES.items():
        target = root / "formats" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        modes = {
            "grey": photo.convert("L"),
            "bilevel": photo.convert("1"),
            "palette": photo.convert("P"),
            "icon": small,
        }
        picture = modes.get(name.split(".")[0], photo)
        picture.save(target, format=fmt)
        media.add(f"formats/{name}")
    (root / "formats" / "layers.psd").write_bytes(_psd(photo))
    media.add("formats/layers.psd")
    for name, (container, codec) in VIDEOS.items():
        target = root / "videos" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _video(target, container, codec, photo)
        media.add(f"videos/{name}")
    ignored: set[str] = set()
    for name in NOT_MEDIA:
        (root / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / name).write_text("not a picture\n")
        ignored.add(f"docs/{name}")
    (root / ".hidden-file.jpg").write_bytes((skimage_dir / "coffee.png").read_bytes())
    (root / ".cache").mkdir()
    (root / ".cache" / "thumb.png").write_bytes((skimage_dir / "coffee.png").read_bytes())
    ignored |= {".hidden-file.jpg", ".cache"}
    outside = root.parent / "elsewhere"
    outside.mkdir()
    os.symlink(outside, root / "linked-folder")
    os.symlink("..", root / "docs" / "up")  # a folder link that loops back to the root
    ignored |= {"linked-folder", "docs/up"}
    os.symlink("loop.jpg", root / "loop.jpg")
    os.symlink("pong.png", root / "ping.png")
    os.symlink("ping.png", root / "pong.png")
    return {"media": media, "loops": set(LOOPS), "ignored": ignored}


@pytest.fixture
def corpus(tmp_path: Path, skimage_dir: Path) -> tuple[Path, dict[str, set[str]], Path]:
    root = tmp_path / "media"
    root.mkdir()
    expected = build_folder(root, skimage_dir)
    preset = tmp_path / "scene-only.yaml"
    preset.write_text(SCENE_ONLY)
    return root, expected, preset


def test_every_file_is_written_failed_or_ignored(corpus, tmp_path: Path, mobilenet, tally):
    root, expected, preset = corpus
    store = tmp_path / "store"
    args = ["--data-dir", str(store), "ingest", str(root), "--pipeline", str(preset), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output  # 3: finished, some items failed (the loops)
    report = json.loads(result.stdout)
    problems: list[str] = []

    with EmbeddedBackend(store) as backend:
        for doc_id in sorted(expected["media"]):
            doc = backend.get("media", doc_id, with_vectors=True) or {}
            visual = doc.get("visual") or {}
            if len(visual.get("scene") or []) != mobilenet.dims or visual.get("error"):
                problems.append(f"{doc_id}: not indexed: {visual.get('error') or 'no document'}")
    failed = {f["id"]: f for f in report["failures"]}
    for name in expected["loops"]:
        f = failed.get(name)
        if f is None or "symlink loop" not in f["reason"] or not f["origin"].endswith(name):
            problems.append(f"{name}: expected its own symlink-loop error, got {f}")
    if set(failed) != expected["loops"]:
        problems.append(f"failures beyond the loops: {sorted(set(failed) - expected['loops'])}")

    listed = {str(Path(i["path"]).relative_to(root)): i["reason"] for i in report["ignored_files"]}
    if set(listed) != expected["ignored"]:
        problems.append(
            f"ignored list: missing {sorted(expected['ignored'] - set(listed))}, "
            f"extra {sorted(set(listed) - expected['ignored'])}"
        )
    if report["ignored"] != len(report["ignored_files"]):
        problems.append(f"ignored count {report['ignored']} != its list")
    if any(len(reason) < 8 for reason in listed.values()):
        problems.append(f"an ignored file without a reason: {listed}")
    if "HEIC" not in listed.get("docs/photo.heic", ""):
        problems.append(f"a HEIC photo should say why it is not read: {listed}")

    # Accounting: every path under the folder is written, failed, ignored, or lies in an
    # ignored folder.
    accounted = expected["media"] | expected["loops"]
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            inside_ignored = any(rel.startswith(i + "/") for i in listed)
            is_dir = (Path(dirpath) / name).is_dir() and not (Path(dirpath) / name).is_symlink()
            if rel in accounted or rel in listed or inside_ignored or is_dir:
                continue
            problems.append(f"{rel}: not accounted for")
    if report["written"] != len(expected["media"]):
        problems.append(f"written {report['written']}, expected {len(expected['media'])}")

    # The text report says how many were ignored.
    again = CliRunner().invoke(cli, args[:-1])
    if f"{len(expected['ignored'])} ignored" not in again.stdout:
        problems.append(f"text report lacks the ignored count: {again.stdout!r}")
    kinds = len(expected["media"]) + len(expected["loops"]) + len(expected["ignored"])
    tally.record(
        "every file accounted (formats, loops, ignored)", tried=kinds, failed=len(problems)
    )
    assert not problems, "\n".join(problems)


def test_iter_folder_passes_ignored_files_to_the_caller(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jpg").write_bytes(b"x")
    seen: list[Ignored] = []
    ids = [a.id for a in iter_folder(tmp_path, on_ignored=seen.append)]
    assert ids == ["a.png", "sub/b.jpg"]
    assert [Path(i.path).name for i in seen] == ["notes.txt"]
    flat: list[Ignored] = []
    assert [a.id for a in iter_folder(tmp_path, recursive=False, on_ignored=flat.append)] == [
        "a.png"
    ]
    assert sorted(Path(i.path).name for i in flat) == ["notes.txt", "sub"]


def test_a_symlink_loop_in_a_manifest_fails_its_line_only(
    good_folder: Path, tmp_path: Path, mobilenet, tally
) -> None:
    os.symlink("loop.jpg", good_folder / "loop.jpg")
    lines = [{"path": "loop.jpg", "tags": ["x"]}] + [
        {"path": name, "tags": ["ok"]}
        for name in sorted(os.listdir(good_folder))
        if name != "loop.jpg"
    ]
    manifest = good_folder / "assets.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    items = list(iter_manifest(manifest))  # a loop raised RuntimeError here before
    backend = EmbeddedBackend(tmp_path / "store")
    try:
        config = PipelineConfig(name="test", model="mobilenet-v2")
        report = ingest(backend, "media", iter(items), embedder=mobilenet, pipeline=config)
    finally:
        backend.close()
    problems = []
    if report.written != len(lines) - 1:
        problems.append(f"written {report.written}, expected {len(lines) - 1}")
    if [(f.origin, "symlink loop" in f.reason) for f in report.failures] != [
        ("assets.jsonl:1", True)
    ]:
        problems.append(f"expected one failure on line 1: {report.failures}")
    tally.record("symlink loops (folder, manifest, UI job)", tried=len(lines), failed=len(problems))
    assert not problems, "\n".join(problems)


def test_a_symlink_loop_in_a_ui_folder_job_fails_that_file_only(
    tmp_path: Path, good_folder: Path, mobilenet, tally
) -> None:
    from flask_ui import create_app
    from tests.ui.conftest import login, make_settings

    os.symlink("loop.png", good_folder / "loop.png")
    backend = EmbeddedBackend(tmp_path / "store")
    app = create_app(
        make_settings(tmp_path, pipeline="offline"),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
            "INGEST_ROOTS": [str(good_folder)],
        },
    )
    try:
        client = app.test_client()
        login(client, "alice")
        response = client.post("/jobs/", data={"kind": "folder", "path": str(good_folder)})
        assert response.status_code == 303, response.get_data(as_text=True)
        job_id = response.headers["Location"].split("job=")[1]
        deadline = time.monotonic() + 180
        job: dict = {}
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{job_id}").get_json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
    finally:
        app.extensions["es_visual"].jobs.wait()
        backend.close()
    problems = []
    if job.get("state") != "done":
        problems.append(f"the job did not finish: {job}")
    if job.get("written") != len(os.listdir(good_folder)) - 1:
        good = len(os.listdir(good_folder)) - 1
        problems.append(f"written {job.get('written')}, expected the {good} good files")
    reasons = [f.get("reason", "") for f in job.get("failures", [])]
    if len(reasons) != 1 or "symlink loop" not in reasons[0]:
        problems.append(f"expected one symlink-loop failure: {job.get('failures')}")
    tally.record("symlink loops (folder, manifest, UI job)", tried=1, failed=len(problems))
    assert not problems, "\n".join(problems)


def test_the_walk_survives_a_folder_it_cannot_list(tmp_path: Path) -> None:
    """A folder that cannot be listed is a failure with its path, never a silent gap."""
    if os.geteuid() == 0:
        pytest.skip("running as root: a chmod 000 folder is still listed")
    (tmp_path / "ok.png").write_bytes(b"x")
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "inside.png").write_bytes(b"x")
    closed.chmod(0)
    try:
        items = list(iter_folder(tmp_path))
    finally:
        closed.chmod(0o755)
    ids = [getattr(i, "id", None) for i in items]
    assert "ok.png" in ids
    errors = [i for i in items if not hasattr(i, "path")]
    assert errors and "cannot list" in errors[0].reason and "closed" in errors[0].origin
    shutil.rmtree(closed)
