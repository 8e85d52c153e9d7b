# One image for every Laneway service: `python -m services.<name>` (see docker-compose.yml and
# helm/templates/deployment.yaml, which choose the service by the command).

FROM python:3.11-slim AS build
ENV PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, in their own layer, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p laneway services \
    && touch laneway/__init__.py services/__init__.py \
    && pip wheel --wheel-dir /wheels . \
    && rm /wheels/laneway-*.whl
COPY laneway ./laneway
COPY services ./services
RUN pip wheel --no-deps --wheel-dir /wheels .

# The edge (`--target edge`): nginx with the browser console built from console/'s lock file.
FROM node:20-slim AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console/build.mjs ./
COPY console/src ./src
COPY console/static ./static
COPY element-templates /element-templates
RUN node build.mjs

FROM nginx:1.27 AS edge
COPY --from=console /console/dist /usr/share/laneway/console

# The services' image: the default target, so it stays the last stage.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 laneway
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels laneway && rm -rf /wheels
# The Avro schemas live beside the code in the tree (schemas/), not in the wheel.
COPY schemas /opt/laneway/schemas
ENV LANEWAY_SCHEMA_DIR=/opt/laneway/schemas
# in a container every service listens on all interfaces, so health probes and ports reach it
ENV LANEWAY_HTTP_HOST=0.0.0.0
USER laneway
WORKDIR /home/laneway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=6 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"
CMD ["python", "-m", "services.engine"]
