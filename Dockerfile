# The Jira Deployments API emulator as a CI sidecar.
#
#   docker build -t jira-deployments-emulator .
#   docker run --rm -p 8080:8080 jira-deployments-emulator
#
# Every setting is an EMULATOR_* environment variable (docs/docker.md). Set them with -e rather than
# with flags after the image name: the HEALTHCHECK reads EMULATOR_PORT, not flags.
# Fixtures: mount a file or a folder of *.json at /fixtures and set EMULATOR_FIXTURES=/fixtures
# (or /fixtures/<file>.json); without EMULATOR_FIXTURES the built-in default site is served.
# Durable state: mount a volume at /data (owned by the image's user) and set EMULATOR_DATA_DIR=/data.
#
# No "# syntax=" line: the engine's built-in Dockerfile frontend reads everything here, so a build
# needs no registry beyond the base image (a syntax line makes BuildKit pull a frontend image).
# The build reaches the Python package index (pip) and the Debian archive (tini); on a runner behind
# a package mirror, pass --build-arg PIP_INDEX_URL=<mirror>/simple.
#
# tests/docker/ builds this image on a real engine and runs it: see docs/docker.md.

# ---- init: tini, a minimal PID 1, from the base image's Debian release ----
FROM python:3.11-slim AS init

# Any 0.19 tini will do (bookworm and trixie both ship 0.19.0); the apt lists stay in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.* \
 && /usr/bin/tini --version

# ---- build: the wheel, then a venv holding it and its dependencies (wheels only, no compiler) ----
FROM python:3.11-slim AS build

# a package mirror for pip, when the runner cannot reach the public index (unset: pip's default)
ARG PIP_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# exactly what hatchling needs: the project metadata (whose readme is README.md), the package, and
# the default site that the wheel force-includes as emulator/_fixtures/default.json
COPY pyproject.toml README.md ./
COPY fixtures/default.json fixtures/default.json
COPY emulator emulator

# Every dependency comes as a wheel for linux/amd64 and linux/arm64, so nothing is compiled (the slim
# image has no compiler). The venv gets no pip of its own: the image's pip installs into it.
# "python" is the base image's interpreter, wherever it lives (/usr/local/bin in the official image,
# /usr/bin in a Debian-built one); the venv links to that same interpreter in the runtime stage.
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install /dist/*.whl

# ---- runtime: python:3.11-slim, tini, the venv, a non-root user; no build tools, caches or sources ----
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="jira-deployments-emulator" \
      org.opencontainers.image.description="A local, stateful emulator of the Jira Software Cloud Deployments API, for CI" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

# A fixed, numeric, unprivileged UID/GID, so Kubernetes' runAsNonRoot can check it and bind mounts
# can be prepared for it. /fixtures only needs to be readable by it: the emulator never writes there.
# /data belongs to it: a named volume mounted there takes that ownership, so EMULATOR_DATA_DIR=/data
# works without any chown (a bind-mounted host folder must be writable by UID 10001 itself).
RUN groupadd --system --gid 10001 emulator \
 && useradd --system --uid 10001 --gid emulator --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin emulator \
 && mkdir /fixtures /data \
 && chown 10001:10001 /data

COPY --from=init /usr/bin/tini /usr/bin/tini
COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EMULATOR_HOST=0.0.0.0 \
    EMULATOR_PORT=8080

USER 10001:10001

# Build-time smoke test (as the runtime user): the init runs, the console script runs, every
# dependency imports, and the packaged default site loads.
RUN tini --version \
 && jira-deployments-emulator --version \
 && python -c "from emulator.app import create_app; create_app()"

EXPOSE 8080

# Python, no curl; the port comes from EMULATOR_PORT at probe time; proxies are bypassed, because an
# HTTP_PROXY in the container's environment would otherwise route 127.0.0.1 through the proxy. The
# start interval (Docker Engine >= 25) probes every 0.1 s during the start period, so the container is
# healthy about 0.1 s after /_emulator/ready first answers 200 (older engines probe every --interval).
# Durations are written in seconds: hadolint's parser rejects Go's "ms" unit, which Docker accepts.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=0.1s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/_emulator/ready' % os.environ.get('EMULATOR_PORT', '8080'), timeout=2)"]

# tini is PID 1: the kernel drops a signal that PID 1 has no handler for, and Python installs its
# handlers only once the interpreter is up, so a `docker stop` in the emulator's first instants would
# wait for SIGKILL. tini blocks every signal first thing and forwards it to the emulator, which shuts
# down gracefully and exits 0; "-e 143" makes a SIGTERM that arrives before the emulator's handler
# (death by SIGTERM, status 143) a clean exit 0 as well. "-s" keeps it working, without a warning,
# where it is not PID 1 itself (docker run --init, Compose's init: true).
ENTRYPOINT ["tini", "-s", "-e", "143", "--", "jira-deployments-emulator"]
CMD ["serve"]
