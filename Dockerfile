# The static-registry GitHub Action (runs.using: docker) and its builder-container image.
#
# Everything is pinned: the base image by digest (override with --build-arg BASE=... e.g.
# a local copy), Apptainer by version from Debian's signed archive (apt verifies the
# InRelease signature and every .deb's hash), Python packages by hash (requirements/action.txt).
# No USER and no WORKDIR: the runner runs the container as root with --workdir /github/workspace.
ARG BASE=docker.io/library/debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
FROM ${BASE}

ARG APPTAINER_VERSION=1.4.5
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8

# Apptainer 1.4.5 exists only in Debian sid (it needs sid's glibc): install-apptainer
# unpacks sid's apptainer + glibc .debs (downloaded and verified by apt) into /opt/apptainer
# and points the binaries at that glibc. squashfs-tools (mksquashfs), uidmap (--fakeroot),
# debootstrap (Bootstrap: debootstrap recipes) are what builds need at run time.
COPY scripts/install-apptainer /tmp/install-apptainer
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
        'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
        > /etc/dpkg/dpkg.cfg.d/static-registry-slim; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        ca-certificates git python3 python3-pip util-linux \
        squashfs-tools uidmap fakeroot squashfuse fuse-overlayfs debootstrap busybox-static patchelf; \
    sh /tmp/install-apptainer /opt/apptainer; \
    test "$(/opt/apptainer/usr/bin/apptainer --version)" = "apptainer version ${APPTAINER_VERSION}"; \
    ln -s /opt/apptainer/usr/bin/apptainer /usr/local/bin/apptainer; \
    ln -s /opt/apptainer/usr/bin/run-singularity /usr/local/bin/run-singularity 2>/dev/null || true; \
    apt-get purge -y --auto-remove patchelf; \
    apt-get clean; \
    rm -rf /tmp/install-apptainer /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log

# Runtime dependencies, exactly as locked (hashes), wheels only.
COPY requirements/action.txt /tmp/requirements.txt
RUN python3 -m pip install --no-cache-dir --break-system-packages --root-user-action=ignore \
        --disable-pip-version-check --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself (no dependency resolution: everything above is the lock).
COPY pyproject.toml README.md entrypoint.py /app/
COPY static_registry /app/static_registry
RUN python3 -m pip install --no-cache-dir --break-system-packages --root-user-action=ignore \
        --disable-pip-version-check --no-deps --no-build-isolation --no-index /app \
    && rm -rf /app/build /app/*.egg-info \
    && /usr/bin/python3 -c "import static_registry, github, spython, boto3, google.cloud.storage, yaml"

ENTRYPOINT ["/usr/bin/python3", "/app/entrypoint.py"]
