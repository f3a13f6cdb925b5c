# The example notebook image, built by the build-container component (`ds-runner build`) and
# tagged with the content hash of this file + requirements.txt, so it is rebuilt only when they
# change. CPU by default; for GPU jobs pass a CUDA base, for example
#   ds-runner build --build-arg BASE_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04
# (uv then installs a standalone CPython PYTHON_VERSION, since CUDA images ship no Python).
ARG BASE_IMAGE=python:3.11-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${BASE_IMAGE}
ARG PYTHON_VERSION=3.11
# Optional: also install the runner itself, e.g. "ds-pipeline-runner==0.1.0", from the index
# RUNNER_INDEX (the component project's package registry; uv asks it first, then PyPI).
ARG RUNNER_REQUIREMENT=""
ARG RUNNER_INDEX=""

ENV UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg

COPY --from=uv /uv /usr/local/bin/uv
COPY requirements.txt /tmp/requirements.txt
RUN uv venv --python "${PYTHON_VERSION}" /opt/venv \
    && uv pip install --python /opt/venv/bin/python --compile-bytecode --no-cache \
        ${RUNNER_INDEX:+--extra-index-url "$RUNNER_INDEX"} \
        -r /tmp/requirements.txt ${RUNNER_REQUIREMENT:+"$RUNNER_REQUIREMENT"} \
    && rm /tmp/requirements.txt

# Jobs run as an unprivileged user (a uid no base image uses; GitLab mounts the checkout
# under /builds, writable by any user).
RUN useradd --create-home --uid 10001 --user-group --shell /bin/bash ds
USER 10001:10001
WORKDIR /home/ds/work
CMD ["python"]
