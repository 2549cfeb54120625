"""Videos, faces and regions through the real ingest: PyAV-made videos of sample photos,
the real MobileNetV2 and dlib models; the embedded store and the DSL where they exist."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core.documents import BulkResult
from es_visual.core.segments import merge_segments
from es_visual.ingest import analyze_video  # noqa: F401  (registers the video analyzer)
from es_visual.ingest.hooks import FacesHook
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.runner import run_ingest
from es_visual.ingest.sources import iter_folder

SHOTS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]  # 2 s each, in order
SIZE = (160, 120)


def make_video(path: Path, images: list[Image.Image], secs: float = 2.0, fps: int = 10) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = fps  # a keyframe every second
        stream.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        for im in images:
            for _ in range(round(secs * fps)):
                for packet in stream.encode(av.VideoFrame.from_image(im)):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        tone = (0.2 * np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, 0, Fraction(1, 16000)
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def scene_model():
    try:
        from es_visual.models.registry import get_embedder
    except ImportError:
        from es_visual.models.mobilenet import MobileNetV2Embedder

        return MobileNetV2Embedder()
    return get_embedder("mobilenet-v2")


@pytest.fixture(scope="module")
def shots(skimage_dir: Path) -> list[Image.Image]:
    return [Image.open(skimage_dir / n).convert("RGB") for n in SHOTS]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory, shots) -> Path:
    root = tmp_path_factory.mktemp("videos")
    make_video(root / "shots.mp4", [s.resize(SIZE) for s in shots])
    return root


class Memory:
    """A writer that keeps the updates: what a store would receive."""

    def __init__(self) -> None:
        self.docs: dict[str, dict] = {}

    def __call__(self, updates) -> BulkResult:
        for u in updates:
            self.docs[u.id] = u.doc
        return BulkResult(written=len(updates))


def ingest_memory(root: Path, config: PipelineConfig, embedder) -> tuple[Memory, object]:
    memory = Memory()
    report = run_ingest(
        iter_folder(root),
        embedder=embedder,
        config=config,
        write=memory,
        lookup=lambda ids: {},
        batch_size=8,
        workers=2,
    )
    return memory, report


STEP = {"auto": 1.0, "keyframes": 1.0, "fps=2": 0.5, "scene": 2.0}


@pytest.mark.parametrize("mode", list(STEP))
def test_frame_search_gives_each_shot_its_time_range(
    mode: str, video_dir: Path, shots, scene_model
) -> None:
    config = PipelineConfig(name="t", options={"video": {"sampling": mode}})
    memory, report = ingest_memory(video_dir, config, scene_model)
    assert report.failed == 0, report.failures
    visual = memory.docs["shots.mp4"]["visual"]
    assert visual["media_type"] == "video" and (visual["width"], visual["height"]) == SIZE
    assert visual["duration"] == pytest.approx(8.0, abs=0.1)
    assert len(visual["scene"]) == scene_model.dims
    frames = visual["frames"]
    vectors = np.array([f["vector"] for f in frames], dtype=np.float32)
    queries = scene_model.embed_images(shots)
    for i, query in enumerate(queries):
        scores = vectors @ query
        segments = merge_segments(
            [(f["t"], float(s)) for f, s in zip(frames, scores, strict=True)],
            duration=visual["duration"],
        )
        assert len(segments) == 1, (mode, SHOTS[i], segments)
        seg = segments[0]
        step = STEP[mode]
        assert abs(seg.start - 2 * i) <= step and abs(seg.end - (2 * i + 2)) <= step, (mode, seg)


@pytest.mark.parametrize("limit", [1, 25])
def test_long_videos_are_embedded_in_parts_within_the_picture_budget(
    tmp_path: Path, video_dir: Path, skimage_dir: Path, scene_model, limit: int
) -> None:
    """A chunk of videos is not held whole: pictures waiting for the model stay within
    the budget (plus the assets analysing at once), every video is written complete."""
    root = tmp_path / "many"
    root.mkdir()
    for i in range(6):
        shutil.copy(video_dir / "shots.mp4", root / f"v{i}.mp4")
    shutil.copy(skimage_dir / "coffee.png", root / "coffee.png")
    writes: list[int] = []
    memory = Memory()

    def write(updates) -> BulkResult:
        writes.append(sum(1 + len(u.doc["visual"].get("frames", [])) for u in updates))
        return memory(updates)

    report = run_ingest(
        iter_folder(root),
        embedder=scene_model,
        config=PipelineConfig(name="t"),
        write=write,
        lookup=lambda ids: {},
        batch_size=8,
        workers=2,
        max_held_pictures=limit,
    )
    assert report.failed == 0 and report.written == 7, report.failures
    per_video = 1 + len(memory.docs["v0.mp4"]["visual"]["frames"])
    assert per_video >= 8
    for i in range(6):
        frames = memory.docs[f"v{i}.mp4"]["visual"]["frames"]
        assert len(frames) == per_video - 1 and all(len(f["vector"]) == 1280 for f in frames)
    assert len(writes) > 1  # one chunk of 7 assets, written in parts
    assert max(writes) <= limit + 2 * per_video, writes


def test_bad_videos_fail_one_by_one_and_the_rest_is_written(
    tmp_path: Path, video_dir: Path, skimage_dir: Path, scene_model
) -> None:
    root = tmp_path / "batch"
    root.mkdir()
    shutil.copyfile(video_dir / "shots.mp4", root / "good.mp4")
    shutil.copyfile(skimage_dir / "coffee.png", root / "coffee.png")
    (root / "empty.mp4").write_bytes(b"")
    data = (video_dir / "shots.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    make_audio_only(root / "audio.mp4")
    (root / "text.mp4").write_text("not a video at all\n" * 50)
    out = av.open(str(root / "zero.mp4"), "w")  # a video stream that never got a frame
    stream = out.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
    out.start_encoding()  # the header, and not one frame
    out.close()
    assert (root / "zero.mp4").stat().st_size > 0

    memory, report = ingest_memory(root, PipelineConfig(name="t"), scene_model)
    assert report.written == 2 and report.failed == 5
    reasons = {f.origin.rsplit("/", 1)[-1]: f.reason for f in report.failures}
    assert "zero-length" in reasons["zero.mp4"]
    assert "no video stream" in reasons["audio.mp4"]
    assert "truncated, corrupt" in reasons["truncated.mp4"]
    assert reasons["empty.mp4"] and reasons["text.mp4"]
    assert memory.docs["good.mp4"]["visual"]["frames"]
    assert memory.docs["audio.mp4"]["visual"]["error"].startswith("analyze: ")


def test_faces_in_video_frames_carry_their_time(tmp_path: Path, shots, scene_model) -> None:
    root = tmp_path / "faces"
    root.mkdir()
    make_video(root / "two.mp4", [shots[2].resize((320, 240)), shots[0].resize((320, 240))], 1.0)
    config = PipelineConfig(
        name="t",
        image_hooks=[FacesHook({"enabled": True})],
        options={"video": {"sampling": "keyframes", "faces": True}},
    )
    memory, report = ingest_memory(root, config, scene_model)
    assert report.failed == 0, report.failures
    faces = memory.docs["two.mp4"]["visual"]["faces"]
    assert faces and all(1.0 <= f["t"] < 2.0 for f in faces)  # the astronaut's second
    assert len(faces[0]["vector"]) == 128


# --- through the embedded store and the DSL ---------------------------------------------


def embedded_store(tmp_path: Path) -> EmbeddedBackend:
    return EmbeddedBackend(tmp_path / "store")


def ingest_store(backend, root: Path, config: PipelineConfig, embedder):
    from es_visual.workflows import ingest

    return ingest(backend, "media", iter_folder(root), embedder=embedder, pipeline=config)


def test_frame_search_through_the_store(tmp_path: Path, video_dir: Path, shots, scene_model):
    from es_visual.query.search import Search

    backend = embedded_store(tmp_path)
    root = tmp_path / "m"
    root.mkdir()
    shutil.copyfile(video_dir / "shots.mp4", root / "shots.mp4")
    config = PipelineConfig(name="t", options={"video": {"sampling": "scene"}})
    assert ingest_store(backend, root, config, scene_model).written == 1
    result = (
        Search("media")
        .similar_to(image=shots[2])
        .on("frames")
        .execute(backend, embedder=scene_model)
    )
    [hit] = result.hits
    assert hit.id == "shots.mp4" and hit.matched.t == pytest.approx(4.0)
    assert [(s.start, s.end) for s in hit.segments] == [(4.0, 6.0)]


def test_a_frame_grabbed_late_in_a_one_keyframe_clip_finds_its_shot(
    tmp_path: Path, shots, scene_model
) -> None:
    """The issue's case, by default settings: a 5 s clip whose only key frame is at 0 and
    whose shots are cut at 1.5 s and 3.2 s; the query is the frame on screen at 4.4 s."""
    from es_visual.media.video import open_video
    from es_visual.query.search import Search

    backend = embedded_store(tmp_path)
    root = tmp_path / "m"
    root.mkdir()
    clip = root / "cuts.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.codec_context.gop_size = 600  # one key frame, at 0
        stream.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        for image, secs in zip(shots[:3], (1.5, 1.7, 1.8), strict=True):
            frame = av.VideoFrame.from_image(image.resize(SIZE))
            for _ in range(round(secs * 10)):
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    # A second video of the other shots, so the search has something to rank below.
    make_video(root / "other.mp4", [s.resize(SIZE) for s in (shots[3], shots[0])])
    with open_video(clip) as video:
        query = video.frame_at(4.4).image
    assert ingest_store(backend, root, PipelineConfig(name="t"), scene_model).written == 2

    result = (
        Search("media").similar_to(image=query).on("frames").execute(backend, embedder=scene_model)
    )
    hit = result.hits[0]
    assert hit.id == "cuts.mp4" and hit.score > 0.95
    # The segment is the third shot, from its cut to the end of the clip: not 0.0-0.0.
    assert [(s.start, s.end) for s in hit.segments] == [(3.2, 5.0)]
    t, score = hit.moment
    assert 3.2 <= t < 5.0 and score == hit.score
    data = hit.to_dict()
    assert data["segments"][0]["start"] == 3.2 and data["moment"]["t"] == round(t, 3)
    # The other shots of the clip have their own segments, at their own cuts.
    for image, (start, end) in [(shots[0], (0.0, 1.5)), (shots[1], (1.5, 3.2))]:
        found = Search("media").similar_to(image=image.resize(SIZE)).on("frames")
        hit = next(
            h for h in found.execute(backend, embedder=scene_model).hits if h.id == "cuts.mp4"
        )
        assert [(s.start, s.end) for s in hit.segments] == [(start, end)]


def test_faces_in_a_video_carry_the_segments_they_are_on_screen(
    tmp_path: Path, shots, skimage_dir: Path, scene_model
) -> None:
    from es_visual.query.search import Search

    backend = embedded_store(tmp_path)
    root = tmp_path / "faces"
    root.mkdir()
    size = (320, 240)
    # visit: coffee 0-1 s, then the astronaut 1-2 s; tail: the astronaut 0-2 s, coffee 2-4 s.
    make_video(root / "visit.mp4", [shots[2].resize(size), shots[0].resize(size)], secs=1.0)
    make_video(root / "tail.mp4", [shots[0].resize(size), shots[2].resize(size)], secs=2.0)
    shutil.copyfile(skimage_dir / "astronaut.png", root / "astronaut.png")
    config = PipelineConfig(
        name="t",
        image_hooks=[FacesHook({"enabled": True})],
        options={"video": {"faces": True}, "face_dims": 128},
    )
    report = ingest_store(backend, root, config, scene_model)
    assert report.failed == 0, report.failures
    result = (
        Search("media")
        .similar_to(face=("astronaut.png", 0))
        .on("faces")
        .execute(backend, embedder=scene_model)
    )
    hits = {h.id: h for h in result.hits}
    assert {"visit.mp4", "tail.mp4"} <= hits.keys()
    assert [(s.start, s.end) for s in hits["visit.mp4"].segments] == [(1.0, 2.0)]
    assert [(s.start, s.end) for s in hits["tail.mp4"].segments] == [(0.0, 2.0)]
    assert hits["visit.mp4"].matched.kind == "face" and 1.0 <= hits["visit.mp4"].moment[0] < 2.0


def test_face_search_finds_the_astronaut_first(tmp_path: Path, skimage_dir: Path, scene_model):
    from es_visual.ingest.presets import load_preset
    from es_visual.query.search import Search

    backend = embedded_store(tmp_path)
    root = tmp_path / "faces"
    root.mkdir()
    for name in ("astronaut.png", "camera.png", "coffee.png"):
        shutil.copyfile(skimage_dir / name, root / name)
    astronaut = Image.open(skimage_dir / "astronaut.png").convert("RGB")
    head = ImageOps.mirror(astronaut.crop((120, 30, 320, 220)))
    head.resize((300, 285)).save(root / "query-face.png")
    report = ingest_store(backend, root, load_preset("offline"), scene_model)
    assert report.failed == 0, report.failures
    faces = Search("media").similar_to(face=("query-face.png", 0)).on("faces")
    result = faces.execute(backend, embedder=scene_model)
    # By default only the same person (the calibrated threshold); the cameraman is not her.
    assert [h.id for h in result.hits] == ["astronaut.png"]
    assert result.hits[0].matched.kind == "face" and result.hits[0].matched.same_person
    wider = faces.min_score(0.5).execute(backend, embedder=scene_model)
    assert [(h.id, h.matched.same_person) for h in wider.hits][:2] == [
        ("astronaut.png", True),
        ("camera.png", False),
    ]


def test_region_search_by_a_drawn_box(tmp_path: Path, skimage_dir: Path, scene_model):
    from es_visual.query.search import Search

    backend = embedded_store(tmp_path)
    root = tmp_path / "regions"
    root.mkdir()
    for name in ("chelsea.png", "astronaut.png", "rocket.jpg", "coffee.png"):
        shutil.copyfile(skimage_dir / name, root / name)
    # The cat pasted into a canvas of other content (the rocket photo, stretched).
    canvas = Image.open(skimage_dir / "rocket.jpg").convert("RGB").resize((900, 600))
    cat = Image.open(skimage_dir / "chelsea.png").convert("RGB")
    canvas.paste(cat, (420, 220))
    canvas.save(root / "canvas.png")
    box = (420 / 900, 220 / 600, (420 + cat.width) / 900, (220 + cat.height) / 600)
    ingest_store(backend, root, PipelineConfig(name="t"), scene_model)
    result = (
        Search("media")
        .similar_to(region=("canvas.png", box))
        .on("scene")  # the drawn box against whole pictures: where else is this cat?
        .execute(backend, embedder=scene_model)
    )
    assert result.hits[0].id == "chelsea.png"
    assert "canvas.png" not in [h.id for h in result.hits]  # the query's own asset is left out


def test_face_regions_are_embedded_by_the_scene_model(
    tmp_path: Path, skimage_dir: Path, scene_model
) -> None:
    """faces.as_regions: the face crop becomes a region; a query by the face picture finds
    the canvas it was pasted in through that region."""
    root = tmp_path / "as-regions"
    root.mkdir()
    astronaut = Image.open(skimage_dir / "astronaut.png").convert("RGB")
    canvas = Image.open(skimage_dir / "coffee.png").convert("RGB").resize((1000, 700))
    canvas.paste(astronaut, (450, 150))
    canvas.save(root / "canvas.png")
    shutil.copyfile(skimage_dir / "camera.png", root / "camera.png")
    config = PipelineConfig(name="t", image_hooks=[FacesHook({"as_regions": True})])
    memory, report = ingest_memory(root, config, scene_model)
    assert report.failed == 0, report.failures
    regions = memory.docs["canvas.png"]["visual"]["regions"]
    assert [r["kind"] for r in regions] == ["face"]
    x0, y0, x1, y1 = regions[0]["bbox"]
    assert 0.45 < x0 < x1 < 0.97 and 0.2 < y0 < y1 < 0.95
    query = scene_model.embed_images([astronaut.crop((170, 70, 270, 170))])[0]
    scores = {
        doc_id: max((np.dot(r["vector"], query) for r in doc["visual"]["regions"]), default=-1)
        for doc_id, doc in memory.docs.items()
    }
    assert scores["canvas.png"] > 0.5 and scores["canvas.png"] > scores["camera.png"]
