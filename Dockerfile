# syncsight: the package `make test` installs (`pip install .` of this pyproject.toml), on a slim
# Python, run as an unprivileged user. The entry point is the `syncsight` CLI, so the image runs
# what the command line runs: `serve` (the default), `dashboard`, `migrate`, `rebuild`, …
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc compiles the optional OTLP decoder (collector/native/); it stays in this stage only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/syncsight
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY syncsight/ syncsight/
COPY domain/ domain/
COPY warehouse/ warehouse/
COPY collector/ collector/
COPY lineage/ lineage/
COPY slas/ slas/
COPY rest_client/ rest_client/
COPY dashboard/ dashboard/
COPY simulator/ simulator/
RUN /opt/syncsight/bin/pip install . && /opt/syncsight/bin/syncsight --version \
    && /opt/syncsight/bin/python -c "import collector._otlp_native"

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PATH=/opt/syncsight/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SYNCSIGHT_SPOOL_DIR=/var/lib/syncsight/spool
RUN groupadd --system --gid 10001 syncsight \
    && useradd --system --uid 10001 --gid syncsight --home-dir /var/lib/syncsight \
        --shell /usr/sbin/nologin syncsight \
    && mkdir -p /var/lib/syncsight/spool \
    && chown -R syncsight:syncsight /var/lib/syncsight
COPY --from=build /opt/syncsight /opt/syncsight
USER 10001:10001
# The working directory holds ./.syncsight/ (embedded engine data for `demo`) and the spool.
WORKDIR /var/lib/syncsight
VOLUME ["/var/lib/syncsight"]
# 4318 OTLP/HTTP + REST API, 4317 OTLP/gRPC, 8501 dashboard
EXPOSE 4318 4317 8501
ENTRYPOINT ["syncsight"]
CMD ["serve"]
