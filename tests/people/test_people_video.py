"""A person in a video, end to end: a PyAV-made video where the astronaut is on screen from
1 s to 3 s, ingested with a photo of her by the default preset (real dlib vectors): her
faces in the video join her person, the person's page gives those seconds, and a face
search by her photo gives the video with the same segment."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import pytest
from PIL import Image

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.config import Settings
from es_visual.ingest.sources import iter_folder
from es_visual.people.registry import PeopleRegistry
from es_visual.people.service import People
from es_visual.query.search import Search
from es_visual.workflows import ingest, load_pipeline


def make_video(path: Path, shots: list[Image.Image], secs: float = 1.0, fps: int = 10) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = shots[0].size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = fps
        stream.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        for shot in shots:
            for _ in range(round(secs * fps)):
                for packet in stream.encode(av.VideoFrame.from_image(shot)):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, skimage_dir: Path, mobilenet):
    root = tmp_path_factory.mktemp("person-video")
    media = root / "media"
    media.mkdir()
    size = (320, 240)
    astronaut = Image.open(skimage_dir / "astronaut.png").convert("RGB")
    cup = Image.open(skimage_dir / "coffee.png").convert("RGB").resize(size)
    # coffee 0-1 s, the astronaut 1-3 s, coffee 3-4 s
    make_video(media / "visit.mp4", [cup, astronaut.resize(size), astronaut.resize(size), cup])
    shutil.copyfile(skimage_dir / "astronaut.png", media / "astronaut.png")
    settings = Settings(data_dir=root / "store", index="media", pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    registry = PeopleRegistry.in_data_dir(settings.data_dir)
    report = ingest(
        backend,
        "media",
        iter_folder(media),
        embedder=mobilenet,
        pipeline=load_pipeline(settings),
        people=registry,
    )
    assert report.failed == 0, report.to_dict()
    yield backend, registry, astronaut
    backend.close()


def test_her_faces_in_the_video_join_her_person(indexed) -> None:
    backend = indexed[0]
    photo = backend.get("media", "astronaut.png")["visual"]
    video = backend.get("media", "visit.mp4")["visual"]
    assert len(photo["persons"]) == 1 and video["persons"] == photo["persons"]
    assert video["faces"] and all(1.0 <= f["t"] < 3.0 for f in video["faces"])


def test_the_person_page_gives_when_she_is_on_screen(indexed) -> None:
    backend, registry, _ = indexed
    people = People(backend, "media", registry)
    [her] = people.list()
    assert her.assets == 2
    source = backend.get("media", "visit.mp4")
    moments = people.in_asset("visit.mp4", source, her.id).segments
    assert [(s.start, s.end) for s in moments] == [(1.0, 3.0)]


def test_a_face_search_by_her_photo_gives_the_segment(indexed) -> None:
    backend, _, astronaut = indexed
    result = Search("media").similar_to(image=astronaut).on("faces").execute(backend)
    hits = {h.id: h for h in result.hits}
    assert set(hits) == {"astronaut.png", "visit.mp4"}
    assert all(h.matched.same_person for h in result.hits)
    assert [(s.start, s.end) for s in hits["visit.mp4"].segments] == [(1.0, 3.0)]
