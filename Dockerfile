# deploycheck as a container beside the application's compose stack
# (examples/compose.deploycheck.yml shows it as a one-shot service).
#
#   docker build -t deploycheck .
#   docker run --rm -v "$PWD/profiles:/config:ro" -v "$PWD/reports:/work/reports" \
#       deploycheck verify --profile /config/production.yml
#   docker run --rm --network none deploycheck demo      # the built-in target, no engine needed
#
# The image installs the same wheel that CI builds and tests (tests/test_layout.py), into a
# virtual environment (a Debian base's own Python refuses pip installs, PEP 668).
# BASE: another Debian-based image with Python 3.11+ and its venv module (python3-venv), e.g.
# one made locally where nothing is pulled; tests/test_image_and_compose.py builds it from a
# Debian bookworm root file system (mmdebstrap) and runs the demo and verify in it.

ARG BASE=python:3.11-slim
FROM ${BASE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runner runner
COPY checks checks
COPY migrations migrations
COPY profiles profiles
RUN python3 -m venv /opt/build && /opt/build/bin/pip wheel --no-cache-dir --no-deps -w /dist .

FROM ${BASE}
# mariadb-client: `backups now` and migrate's backup (mariadb-dump); mariadb-server-core: the
# throwaway local mariadbd that drift, the restore drill, rehearsals (scratch: local) and the
# demo start as this user (no service runs); openssh-client: ssh:// backup sources
RUN apt-get update \
    && apt-get install -y --no-install-recommends mariadb-client mariadb-server-core openssh-client \
    && rm -rf /var/lib/apt/lists/*
COPY --from=wheel /dist/ /tmp/dist/
RUN python3 -m venv /opt/deploycheck \
    && /opt/deploycheck/bin/pip install --no-cache-dir /tmp/dist/*.whl \
    && rm -rf /tmp/dist
ENV PATH=/opt/deploycheck/bin:$PATH
# the volume's folder belongs to the user: a new volume (`docker run` without -v) takes its owner
RUN useradd --create-home --uid 10001 deploycheck \
    && mkdir -p /work/reports && chown deploycheck /work/reports
USER deploycheck
WORKDIR /work
# reports/<profile>/<run>/ land here: mount a volume to keep the archive
VOLUME ["/work/reports"]
ENTRYPOINT ["deploycheck"]
CMD ["--help"]
