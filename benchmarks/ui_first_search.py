"""The web UI's first searches after a start: cold (models load inside the first search)
against warmed (``flask_ui/warmup.py`` loads them in the background at start), and an
uploaded picture's search reloaded (its vector kept with the upload).

One small index (scikit-image pictures, the offline preset: MobileNetV2 scene vectors,
faces, concept labels) is ingested once; then, for each mode, a fresh Python process
makes the app, signs in through the test client and times, in this order: a search
similar to a stored asset (scene model), a search by an uploaded picture, the same page
reloaded, a text search (concept words) and a face search by the uploaded picture (face
model). "warmed" waits for the warm-up to finish before the first request and prints
how long it took; a server answers meanwhile, and a search arriving during the warm-up
waits only for what is still loading.

    python benchmarks/ui_first_search.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("similar", "upload", "upload again", "text", "faces")


def build(root: Path) -> None:
    import shutil

    import skimage

    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.config import Settings
    from es_visual.ingest.sources import iter_folder
    from es_visual.models.registry import get_embedder
    from es_visual.workflows import ingest, load_pipeline

    media = root / "media"
    media.mkdir(parents=True)
    data = Path(skimage.__file__).parent / "data"
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png"):
        shutil.copyfile(data / name, media / name)
    settings = Settings(data_dir=root / "store", index="media", pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    report = ingest(
        backend,
        "media",
        iter_folder(media),
        embedder=get_embedder("mobilenet-v2"),
        pipeline=load_pipeline(settings),
    )
    assert report.failed == 0, report.to_dict()
    backend.close()


def measure(root: Path, warm: bool) -> dict[str, float]:
    """In this (fresh) process: the app, then each step's wall time in ms."""
    import io

    import skimage
    from PIL import Image
    from werkzeug.security import generate_password_hash

    from es_visual.config import Settings
    from flask_ui import create_app

    users = {"u": {"password_hash": generate_password_hash("pw"), "groups": ["admin"]}}
    settings = Settings(
        data_dir=root / "store", index="media", users=users, secret_key="bench"
    )
    began = time.perf_counter()
    app = create_app(settings, test_config={"WTF_CSRF_ENABLED": False, "WARM_UP": warm})
    out: dict[str, float] = {}
    if warm:
        app.extensions["es_visual"].warmup.done.wait(600)
        out["warm-up"] = (time.perf_counter() - began) * 1000
    client = app.test_client()
    client.post("/login", data={"username": "u", "password": "pw"})
    picture = io.BytesIO()
    data = Path(skimage.__file__).parent / "data"
    Image.open(data / "astronaut.png").convert("RGB").crop((0, 0, 400, 400)).save(picture, "PNG")

    def timed(name: str, call: object) -> object:
        t = time.perf_counter()
        response = call()  # type: ignore[operator]
        out[name] = (time.perf_counter() - t) * 1000
        assert response.status_code in (200, 303), (name, response.status_code)
        return response

    timed("similar", lambda: client.get("/?similar=chelsea.png"))
    picture.seek(0)
    posted = client.post("/", data={"image": (picture, "q.png")})
    location = posted.headers["Location"]
    timed("upload", lambda: client.get(location))
    timed("upload again", lambda: client.get(location))
    timed("text", lambda: client.get("/?q=a+cat"))
    timed("faces", lambda: client.get(location + "&on=faces"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per mode")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1] == "warmed")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root)
        results: dict[str, list[dict[str, float]]] = {"cold": [], "warmed": []}
        for _ in range(args.rounds):
            for mode in results:
                done = subprocess.run(
                    [sys.executable, __file__, "--child", str(root), mode],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                )
                results[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    cpu = platform.processor() or platform.machine()
    print(f"{os.cpu_count()} CPUs ({cpu}), {args.rounds} fresh processes per mode, median ms")
    print()
    print("| mode | warm-up | " + " | ".join(STEPS) + " |")
    print("|---|---:|" + "---:|" * len(STEPS))
    for mode, runs in results.items():
        cells = [
            f"{statistics.median(r[s] for r in runs):,.0f}" if s in runs[0] else "—"
            for s in ("warm-up", *STEPS)
        ]
        print(f"| {mode} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
