# syntax=docker/dockerfile:1
#
# The Jira Deployments API emulator as a CI sidecar.
#
#   docker build -t jira-deployments-emulator .
#   docker run --rm -p 8080:8080 jira-deployments-emulator
#
# Every setting is an EMULATOR_* environment variable (see the README's "Configuration"). Set them
# with -e rather than with flags after the image name: the HEALTHCHECK reads EMULATOR_PORT, not flags.
# Fixtures: mount a file or a folder of *.json at /fixtures and set EMULATOR_FIXTURES=/fixtures
# (or /fixtures/<file>.json); without EMULATOR_FIXTURES the built-in default site is served.
#
# tests/docker/ checks this file without a Docker engine: hadolint, and a smoke test that builds the
# wheel as the build stage does, installs it into a fresh venv, and runs ENTRYPOINT + CMD with the ENV
# below as USER, probing it with the HEALTHCHECK command until healthy.

# ---- build: the wheel, then a venv holding it and its dependencies (wheels only, no compiler) ----
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# exactly what hatchling needs: the project metadata (whose readme is README.md), the package, and
# the default site that the wheel force-includes as emulator/_fixtures/default.json
COPY pyproject.toml README.md ./
COPY fixtures/default.json fixtures/default.json
COPY emulator emulator

# The same commands run in tests/docker/test_dockerfile.py. Every dependency comes as a wheel for
# linux/amd64 and linux/arm64, so nothing is compiled (the slim image has no compiler). The venv gets
# no pip of its own: the image's pip installs into it.
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install /dist/*.whl

# ---- runtime: python:3.11-slim, the venv, a non-root user; no build tools, caches or sources ----
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="jira-deployments-emulator" \
      org.opencontainers.image.description="A local, stateful emulator of the Jira Software Cloud Deployments API, for CI" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

# A fixed, numeric, unprivileged UID/GID, so Kubernetes' runAsNonRoot can check it and bind mounts
# can be prepared for it. /fixtures only needs to be readable by it: the emulator never writes there.
RUN groupadd --system --gid 10001 emulator \
 && useradd --system --uid 10001 --gid emulator --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin emulator \
 && mkdir /fixtures

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EMULATOR_HOST=0.0.0.0 \
    EMULATOR_PORT=8080

USER 10001:10001

# Build-time smoke test (as the runtime user): the console script runs, every dependency imports,
# and the packaged default site loads.
RUN jira-deployments-emulator --version \
 && python -c "from emulator.app import create_app; create_app()"

EXPOSE 8080

# Python, no curl; the port comes from EMULATOR_PORT at probe time; proxies are bypassed, because an
# HTTP_PROXY in the container's environment would otherwise route 127.0.0.1 through the proxy. The
# start interval (Docker Engine >= 25) probes every 0.1 s during the start period, so the container is
# healthy about 0.1 s after /_emulator/ready first answers 200 (older engines probe every --interval).
# Durations are written in seconds: hadolint's parser rejects Go's "ms" unit, which Docker accepts.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=0.1s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/_emulator/ready' % os.environ.get('EMULATOR_PORT', '8080'), timeout=2)"]

# Exec form: the emulator is PID 1 and receives SIGTERM itself; it shuts down gracefully and exits 0.
ENTRYPOINT ["jira-deployments-emulator"]
CMD ["serve"]
