# deploycheck as a container beside the application's compose stack
# (examples/compose.deploycheck.yml shows it as a one-shot service).
#
#   docker build -t deploycheck .
#   docker run --rm -v "$PWD/profiles:/config:ro" -v "$PWD/reports:/work/reports" \
#       deploycheck verify --profile /config/production.yml
#
# The image installs the same wheel that CI builds and tests (tests/test_layout.py).
# BASE: another Python 3.11+ image with pip and apt-get (a locally built one where nothing is pulled).

ARG BASE=python:3.11-slim
FROM ${BASE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runner runner
COPY checks checks
COPY migrations migrations
COPY profiles profiles
RUN pip wheel --no-cache-dir --no-deps -w /dist .

FROM ${BASE}
# mariadb-client: `backups now` and migrate's backup (mariadb-dump); openssh-client: ssh:// backup sources
RUN apt-get update \
    && apt-get install -y --no-install-recommends mariadb-client openssh-client \
    && rm -rf /var/lib/apt/lists/*
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-cache-dir /tmp/dist/*.whl && rm -rf /tmp/dist
RUN useradd --create-home --uid 10001 deploycheck
USER deploycheck
WORKDIR /work
# reports/<profile>/<run>/ land here: mount a volume to keep the archive
VOLUME ["/work/reports"]
ENTRYPOINT ["deploycheck"]
CMD ["--help"]
