"""``--device auto|cpu|cuda`` and the batch size that goes with it (ingest, watch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from es_visual.cli.context import AppContext
    from es_visual.models.base import Embedder

device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the model runs: auto = the GPU when torch sees one, else the CPU. "
    "Without --batch-size the batch fits the device (bigger on a GPU).",
)


def embedder_for(
    app: AppContext, model: str, device: str, batch_size: int | None
) -> tuple[Embedder, int]:
    """The embedder on ``device`` and the ingest batch size: ``batch_size`` when given,
    else the settings' on a CPU and one sized to the GPU's memory on a GPU (the model's
    own forward batch too, so a GPU batch is one forward pass)."""
    from es_visual.models.runtime import batch_size_for, pick_device

    chosen = pick_device(device)  # a CUDA device torch cannot see: a ConfigError, in words
    batch = batch_size or batch_size_for(chosen, app.settings.batch_size)
    options: dict[str, Any] = {}
    if device != "auto":
        options["device"] = device
    if chosen.type == "cuda":
        options["batch_size"] = batch
    return app.embedder(model, **options), batch
