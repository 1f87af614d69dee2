# syntax=docker/dockerfile:1
# The Tourniquet operator image: `python -m tourniquet run`, as a non-root user.
#
#   docker build -t ghcr.io/tourniquet/tourniquet:0.1.0 .
#
# Two stages: the builder installs the operator and its dependencies into a virtualenv
# (/opt/tourniquet); the final image gets only that virtualenv on the same Python, with
# no pip, setuptools or wheel, no compiler, and no source tree. The dependencies are
# requirements.lock's wheels, each checked against its sha256 (`make lock` updates it).
#
# Without Docker, `make image` (hack/build-image.sh) builds the same virtualenv from the
# same lock on Debian bookworm's own python3 (mmdebstrap, buildah) and takes this file's
# final-stage USER, ENV, EXPOSE, LABEL and ENTRYPOINT as its configuration.
#
# The base is pinned by its full version tag. Pin it by digest as well where you build
# (the machine this was written on has no access to the image registry to resolve one):
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm
# then PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# A virtualenv without pip of its own: the builder's pip installs into it, first the
# locked wheels (binary only, hashes checked: a layer that changes only with the lock),
# then the operator without resolving anything more. Bytecode is compiled here because
# the running container's root filesystem is read-only.
COPY requirements.lock ./
RUN python -m venv --without-pip /opt/tourniquet \
 && python -m pip --python /opt/tourniquet/bin/python install --no-compile \
      --require-hashes --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator/ operator/
# kubernetes.aio, an asyncio twin of the whole client (~70 MB) nothing here imports, goes.
RUN python -m pip --python /opt/tourniquet/bin/python install --no-compile --no-deps . \
 && rm -rf /opt/tourniquet/lib/python3.11/site-packages/kubernetes/aio \
 && /opt/tourniquet/bin/python -m compileall -q /opt/tourniquet \
 && /opt/tourniquet/bin/python -c "import tourniquet.cli.main, kopf, kubernetes, re2"

FROM ${PYTHON_IMAGE}
# Nothing in the final image needs to install packages.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
 && groupadd --system --gid 65532 tourniquet \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tourniquet
COPY --from=builder /opt/tourniquet /opt/tourniquet
ENV PATH=/opt/tourniquet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TOURNIQUET_METRICS_ADDR=0.0.0.0:8080
# Numeric, so the kubelet can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080
LABEL org.opencontainers.image.title="tourniquet" \
      org.opencontainers.image.description="Kubernetes operator for the incident-response playbook" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["python", "-m", "tourniquet", "run"]
