# syntax=docker/dockerfile:1
#
# cardsvc site box: pcscd + the station agent, for a counter PC or kiosk with USB card
# readers. UNTESTED BUILD: no Docker engine was reachable where this file was written;
# it is only linted (tests/test_docker_lint.py). See docker/README.md.
#
#   docker build -f docker/site-box.Dockerfile -t cardsvc-site-box:dev .
#   docker run --rm --device /dev/bus/usb -v /run/udev:/run/udev:ro cardsvc-site-box:dev
#
# The default command is `cardsvc agent`, the station agent. It is configured through
# CARDSVC_AGENT_API, CARDSVC_AGENT_DEVICE (the device id), CARDSVC_AGENT_CREDENTIAL_FILE
# (mount the credential as a secret) and optionally CARDSVC_AGENT_READER, _SAM_READER, _NO_SAM,
# _PORT, _ALLOW_ORIGIN; without them it exits 2 naming the variables. The agent binds
# 127.0.0.1 and refuses non-loopback clients, so run the container with --network host.
# Other cardsvc commands work too, e.g. `... cardsvc-site-box:dev watch` (reader and card
# events) or `readers`. The health check runs `cardsvc readers` (pcscd answers).
#
# Python is Debian's own python3 (3.11 on bookworm), so the image is Debian bookworm-slim
# throughout, as on a site box installed without containers.

# ---------------------------------------------------------------------------- build
FROM debian:bookworm-slim AS build

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# Debian package versions are not pinned (hadolint DL3008): bookworm's mirror drops a
# superseded version at its next security update, so `pkg=version` would break the build
# then; the base image tag pins the Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        libpcsclite-dev \
        pkg-config \
        python3 \
        python3-dev \
        python3-venv \
        swig \
    && rm -rf /var/lib/apt/lists/*

# The project and its dependencies go into a virtual environment that the runtime stage
# copies whole (same base image, same /usr/bin/python3, so the venv stays valid).
RUN python3 -m venv /opt/cardsvc
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cardsvc ./cardsvc
COPY api ./api
COPY reader_driver ./reader_driver
COPY simulators ./simulators
RUN /opt/cardsvc/bin/pip install .

# -------------------------------------------------------------------------- runtime
FROM debian:bookworm-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/cardsvc/bin:$PATH

# pcscd and libccid (the USB CCID reader driver), libpcsclite1 (loaded by pyscard at run
# time), python3 for the venv. Versions not pinned: see the build stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libccid \
        libpcsclite1 \
        pcscd \
        python3 \
    && rm -rf /var/lib/apt/lists/*

# The agent's unprivileged user (uid/gid 10001, as in the API image).
RUN useradd --system --no-log-init --user-group --uid 10001 \
        --home-dir /srv/cardsvc --create-home --shell /usr/sbin/nologin cardsvc

COPY --from=build /opt/cardsvc /opt/cardsvc
COPY --chmod=0755 docker/site-box-entrypoint.sh /usr/local/bin/site-box-entrypoint

WORKDIR /srv/cardsvc

# Root, on purpose: pcscd opens the USB readers (/dev/bus/usb/*, owned by root) and its
# socket directory /run/pcscd. The entrypoint starts pcscd as root and runs the agent as
# uid 10001 (setpriv, no new privileges); the agent reaches pcscd through its socket (this
# pcscd is built without polkit, so any local user may). The health check drops to 10001
# the same way.
# hadolint ignore=DL3002
USER 0:0

HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups", "--", "cardsvc", "readers", "--timeout", "5"]

ENTRYPOINT ["site-box-entrypoint"]
# The station agent. See the note at the top for its settings.
CMD ["agent"]
