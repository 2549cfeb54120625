"""The offline demo: real sample images from scikit-image's wheel, real models from packages.

``prepare_demo_media`` lays out the images with a manifest of tags, folders and
ACLs (so the demo's documents look like a user's index, and ACL filtering
shows); ``make_query_images`` makes transformed copies (crop, flip, JPEG
re-encode) to search with.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

# file in skimage/data -> (tags, folder, readers). Readers None = public.
SAMPLES: dict[str, tuple[list[str], str, list[str] | None]] = {
    "astronaut.png": (["person", "space", "portrait"], "people", None),
    "camera.png": (["person", "photographer", "grayscale"], "people", None),
    "chelsea.png": (["cat", "animal"], "animals", None),
    "horse.png": (["animal", "silhouette"], "animals", None),
    "coffee.png": (["coffee", "food", "cup"], "food", None),
    "rocket.jpg": (["space", "rocket", "launch"], "space", None),
    "moon.png": (["space", "moon", "grayscale"], "space", None),
    "hubble_deep_field.jpg": (["space", "galaxies", "science"], "science", ["group:science"]),
    "motorcycle_left.png": (["motorcycle", "vehicle", "stereo"], "vehicles", None),
    "motorcycle_right.png": (["motorcycle", "vehicle", "stereo"], "vehicles", None),
    "brick.png": (["texture", "brick", "grayscale"], "textures", None),
    "grass.png": (["texture", "grass", "grayscale"], "textures", None),
    "gravel.png": (["texture", "gravel", "grayscale"], "textures", None),
    "coins.png": (["coins", "money", "grayscale"], "objects", None),
    "clock_motion.png": (["clock", "blur", "grayscale"], "objects", None),
    "page.png": (["document", "text", "grayscale"], "documents", None),
    "text.png": (["document", "text", "grayscale"], "documents", None),
    "logo.png": (["logo", "graphics"], "graphics", None),
    "color.png": (["graphics", "colors"], "graphics", None),
    "chessboard_RGB.png": (["graphics", "pattern"], "graphics", None),
    "ihc.png": (["microscopy", "science"], "science", ["group:science"]),
    "cell.png": (["microscopy", "science", "grayscale"], "science", ["group:science"]),
    "retina.jpg": (["medical", "retina", "science"], "science", ["group:science", "user:ana"]),
    "no_time_for_that_tiny.gif": (["animated", "gif"], "graphics", None),
}


# The demo video: these samples one after another, SHOT_SECONDS each.
DEMO_VIDEO_SHOTS = [
    ("coffee.png", "coffee"),
    ("rocket.jpg", "rocket"),
    ("chelsea.png", "cat"),
    ("astronaut.png", "astronaut"),
]
SHOT_SECONDS = 3.0


def write_slideshow(
    path: Path,
    images: list[Path],
    *,
    secs: float = 3.0,
    fps: int = 10,
    size: tuple[int, int] = (480, 320),
) -> Path:
    """An H.264 video of ``images`` in order, ``secs`` each, a keyframe every second:
    the demo's (and the tests') video with known content at known times."""
    import av
    from PIL import Image

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = fps
        stream.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        for image_path in images:
            with Image.open(image_path) as im:
                frame = av.VideoFrame.from_image(im.convert("RGB").resize(size))
            for _ in range(round(secs * fps)):
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


@dataclass(frozen=True)
class DemoMedia:
    root: Path
    manifest: Path
    queries: dict[str, Path]  # what the query shows -> the query image


def prepare_demo_media(root: Path) -> DemoMedia:
    """Copy the samples under ``root/media`` and write ``root/manifest.jsonl``."""
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    data = skimage_data_dir()
    lines = []
    for name, (tags, folder, readers) in SAMPLES.items():
        src = data / name
        if not src.is_file():  # a future scikit-image may drop a sample; the demo goes on
            continue
        dest = media / folder / name
        dest.parent.mkdir(exist_ok=True)
        if not dest.exists():
            shutil.copyfile(src, dest)
        doc: dict[str, object] = {
            "id": f"{folder}/{name}",
            "path": f"media/{folder}/{name}",
            "tags": tags,
            "folder": folder,
            "caption": f"{name.split('.')[0].replace('_', ' ')} sample",
        }
        if readers:
            doc["acl"] = {"read": readers}
        lines.append(json.dumps(doc))
    video = root / "media" / "video" / "slideshow.mp4"
    if not video.exists():
        video.parent.mkdir(exist_ok=True)
        write_slideshow(video, [data / name for name, _ in DEMO_VIDEO_SHOTS], secs=SHOT_SECONDS)
    lines.append(
        json.dumps(
            {
                "id": "video/slideshow.mp4",
                "path": "media/video/slideshow.mp4",
                "tags": ["video", "slideshow"],
                "folder": "video",
                "caption": "four shots: " + ", ".join(label for _, label in DEMO_VIDEO_SHOTS),
            }
        )
    )
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return DemoMedia(root=root, manifest=manifest, queries=make_query_images(root / "queries"))


def make_query_images(out: Path) -> dict[str, Path]:
    """Edited copies of samples, as a user would have them: cropped, mirrored, recompressed."""
    from PIL import Image, ImageOps

    out.mkdir(parents=True, exist_ok=True)
    data = skimage_data_dir()
    made: dict[str, Path] = {}

    def save(label: str, image: Image.Image, name: str, quality: int) -> None:
        path = out / name
        image.convert("RGB").save(path, "JPEG", quality=quality)
        made[label] = path

    with Image.open(data / "chelsea.png") as im:
        w, h = im.size
        crop = im.crop((int(w * 0.1), int(h * 0.05), int(w * 0.9), int(h * 0.95)))
        save(
            "chelsea.png cropped 80%, mirrored, JPEG q=40",
            ImageOps.mirror(crop),
            "cat-edit.jpg",
            40,
        )
    with Image.open(data / "astronaut.png") as im:
        small = im.resize((im.width // 2, im.height // 2))
        save(
            "astronaut.png half size, mirrored, JPEG q=30",
            ImageOps.mirror(small),
            "astronaut-edit.jpg",
            30,
        )
    with Image.open(data / "rocket.jpg") as im:
        w, h = im.size
        save(
            "rocket.jpg center crop 70%",
            im.crop((int(w * 0.15), int(h * 0.15), int(w * 0.85), int(h * 0.85))),
            "rocket-crop.jpg",
            75,
        )
    return made
