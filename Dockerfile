# syntax=docker/dockerfile:1
# pixlens: one image for the HTTP API (pixlens serve), the analysis workers (pixlens worker), the one-shot
# set-up (pixlens-init) and the CLI. The models are package data: nothing is downloaded when a container runs.
#
#   docker build -t pixlens:0.1.0 .            (from the repository root; see docs/DEPLOYMENT.md)

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtual environment with the pinned packages and pixlens itself --------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
RUN python -m venv /opt/pixlens && /opt/pixlens/bin/python -m pip install --quiet pip==26.3
WORKDIR /src

# The pins first, in a layer of their own: it is rebuilt only when a pin changes, not on every source edit.
# Every runtime pin file: run.txt and one per optional extra (celery.txt; s3.txt and postgres.txt once they
# exist). dev.txt (test tools) stays out. --no-deps: the files list every package, nothing else comes in.
COPY requirements/ requirements/
RUN set -eu; \
    set --; \
    for file in requirements/*.txt; do \
      [ "$file" = requirements/dev.txt ] || set -- "$@" -r "$file"; \
    done; \
    echo "installing: $*"; \
    /opt/pixlens/bin/pip install --quiet --no-deps "$@"

COPY pyproject.toml README.md ./
COPY src/ src/
# setuptools is pinned in run.txt, so the build needs no isolated environment (and no network).
RUN /opt/pixlens/bin/pip install --quiet --no-deps --no-build-isolation . \
 && cd "$(/opt/pixlens/bin/python -c 'import pathlib, pixlens; print(pathlib.Path(pixlens.__file__).parent / "models")')" \
 && sha256sum --check --quiet SHA256SUMS \
 && /opt/pixlens/bin/pixlens --version

# ---- runtime: the environment, a non-root user, nothing else ----------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 pixlens \
 && useradd --system --uid 10001 --gid pixlens --home-dir /data --no-create-home --shell /usr/sbin/nologin pixlens \
 && mkdir -p /data/home \
 && chown -R pixlens:pixlens /data
COPY --from=build /opt/pixlens /opt/pixlens
COPY --chmod=0755 deploy/init.py /opt/pixlens/bin/pixlens-init

ENV PATH=/opt/pixlens/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIXLENS_HOME=/data/home

USER 10001:10001
WORKDIR /data
VOLUME ["/data/home"]
EXPOSE 8377

# Liveness of the API (pixlens serve). Workers have no HTTP port: compose and Kubernetes turn this off for them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('PIXLENS_API__PORT', '8377'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

# The API; a worker runs `pixlens worker`, the set-up `pixlens-init`. --no-watch: an S3 store has no folder.
CMD ["pixlens", "serve", "--host", "0.0.0.0", "--no-watch"]
