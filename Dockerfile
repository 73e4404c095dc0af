# syntax=docker/dockerfile:1
# One image for every fleetcast service; docker-compose.yml picks the service
# with `command: ["fleetcast", "<subcommand>"]`.
FROM python:3.11-slim

# pyproject pins torch==2.13.0. The CPU wheel index serves it as 2.13.0+cpu,
# which pip prefers to the much larger CUDA build on PyPI. A GPU image builds
# with a CUDA index instead (e.g. https://download.pytorch.org/whl/cu128), or
# with TORCH_INDEX_URL="" to take PyPI's default Linux wheel, which is a CUDA
# build; docker-compose.yml's `infer-gpu` service does the latter.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLEETCAST_STATE_DIR=/var/lib/fleetcast/state

WORKDIR /app

# README.m[d]: copied when present (pyproject names it as the readme); the
# pattern keeps the build working until that file exists.
COPY pyproject.toml README.m[d] ./
COPY schemas ./schemas
COPY core ./core
COPY producers ./producers
COPY stream_processors ./stream_processors
COPY inference_worker ./inference_worker
COPY forwarding ./forwarding
COPY ui ./ui
COPY modelling ./modelling
COPY fleetcast ./fleetcast
# The shipped model: the inference worker loads models/latest.
COPY models ./models

# The serving image needs none of modelling's heavy dependencies (statsmodels, matplotlib,
# statsforecast); an image for `fleetcast train` / `evaluate` builds with
# `--build-arg EXTRAS=modelling`.
ARG EXTRAS=""
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} ".${EXTRAS:+[$EXTRAS]}"

# Run as an unprivileged user. The Faust state directory is created here so
# that a named volume mounted over it starts out owned by that user.
RUN useradd --create-home --uid 10001 --user-group fleetcast \
    && mkdir -p /var/lib/fleetcast/state \
    && chown -R fleetcast:fleetcast /var/lib/fleetcast
USER fleetcast

# API and dashboard defaults (FLEETCAST_API_PORT, FLEETCAST_UI_PORT), and the
# services' Prometheus /metrics (FLEETCAST_METRICS_PORT_<SERVICE>: produce, process,
# infer, ui, source, forward).
EXPOSE 8000 5006 9101-9106

CMD ["fleetcast", "--help"]
