# syntax=docker/dockerfile:1
# One image for every Laneway service: `python -m services.<name>` (see docker-compose.yml and
# helm/templates/deployment.yaml, which choose the service by the command).
#
# Base images are pinned by tag and digest, so a rebuild gets the same bytes. No registry was
# reachable where these pins were written: each digest is the one public Dockerfiles pin for
# that exact tag (found by a code search, December 2026), not one read from the registry.
# Re-check each when the images can be pulled (`docker buildx imagetools inspect <tag>` prints
# the index digest) and when moving to a newer tag.

# Wheels for the package and every dependency. The full (not slim) image has the compilers a
# dependency without a binary wheel would need; none of it reaches the final stage.
FROM python:3.11.11-bookworm@sha256:adb581d8ed80edd03efd4dcad66db115b9ce8de8522b01720b9f3e6146f0884c AS build
ENV PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, in their own layer, so a code change does not rebuild them.
COPY pyproject.toml README.md ./
RUN mkdir -p laneway services \
    && touch laneway/__init__.py services/__init__.py \
    && pip wheel --wheel-dir /wheels . \
    && rm /wheels/laneway-*.whl
COPY laneway ./laneway
COPY services ./services
RUN pip wheel --no-deps --wheel-dir /wheels .

# The edge (`--target edge`): nginx with the browser console built from console/'s lock file.
FROM node:20.18.1-slim@sha256:b2c8e0eb8a6aeeae33b2711f8f516003e27ee45804e270468d937b3214f2f0cc AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console/build.mjs ./
COPY console/src ./src
COPY console/static ./static
COPY element-templates /element-templates
RUN node build.mjs

FROM nginx:1.27.3@sha256:0a399eb16751829e1af26fea27b20c3ec28d7ab1fb72182879dcae1cca21206a AS edge
COPY --from=console /console/dist /usr/share/laneway/console

# The services' image: the default target, so it stays the last stage. Slim: no compilers or
# build tools; the wheels are mounted from the build stage for the install, not copied in.
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --gid 10001 laneway \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin laneway
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels laneway
# The Avro schemas live beside the code in the tree (schemas/), not in the wheel.
COPY schemas /opt/laneway/schemas
ENV LANEWAY_SCHEMA_DIR=/opt/laneway/schemas
# in a container every service listens on all interfaces, so health probes and ports reach it
ENV LANEWAY_HTTP_HOST=0.0.0.0
# numeric, so a platform that requires runAsNonRoot can tell it is not root
USER 10001:10001
WORKDIR /home/laneway
# the default command's (the engine's) port; compose and the chart set LANEWAY_HTTP_PORT per
# service, and the health check follows it
EXPOSE 8081
# liveness, not readiness: a dependency that is away is no reason to call the container sick
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=6 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('LANEWAY_HTTP_PORT', '8081'), timeout=2)"
CMD ["python", "-m", "services.engine"]
