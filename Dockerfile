# syntax=docker/dockerfile:1
#
# One image for every manymodels binary (mm-ingest, mm-trainer, mm-promoter,
# mm-scorer, mmctl, mm-datagen); the container's command picks the service.
# Why one image and not one per service: docs/deployment.md ("Images").
#
#   docker build -t manymodels:0.1.0 \
#     --build-arg MM_VERSION=0.1.0 --build-arg MM_REVISION="$(git rev-parse HEAD)" .
#
# Stage 1 builds with Debian's -dev packages; stage 2 carries only the runtime
# libraries, the binaries, tini as PID 1 and a non-root user.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build stage
FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librdkafka-dev libavro-dev libjansson-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev \
      libnlopt-dev liblapacke-dev libopenblas-dev libxgboost-dev libmicrohttpd-dev libpq-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build -j"$(nproc)" \
      --target mm-ingest mm-trainer mm-promoter mm-scorer mmctl mm-datagen \
 && mkdir -p /out/bin \
 && cp /build/services/ingest/mm-ingest /build/services/trainer/mm-trainer \
       /build/services/promoter/mm-promoter /build/services/scorer/mm-scorer \
       /build/tools/mmctl/mmctl /build/tools/datagen/mm-datagen /out/bin/ \
 && strip --strip-unneeded /out/bin/* \
 && install -m 0755 deploy/image/mm-healthcheck deploy/image/mm-every deploy/image/mm-slot /out/bin/

# -------------------------------------------------------------- runtime stage
FROM ${DEBIAN_IMAGE} AS runtime
ARG MM_VERSION=0.1.0
ARG MM_REVISION=unknown
ARG MM_SOURCE=https://github.com/manymodels/manymodels
LABEL org.opencontainers.image.title="manymodels" \
      org.opencontainers.image.description="Many-models ML services: mm-ingest, mm-trainer, mm-promoter, mm-scorer, mmctl" \
      org.opencontainers.image.version="${MM_VERSION}" \
      org.opencontainers.image.revision="${MM_REVISION}" \
      org.opencontainers.image.source="${MM_SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# Runtime libraries only (the shared objects the binaries link), tini as PID 1,
# curl for the health check, CA certificates for TLS to Kafka and Azure Blob,
# sqlite3 for online backups of the registry and the sink (docs/deployment.md).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libavro23 libjansson4 libcurl4 libssl3 libsqlite3-0 \
      libnlopt0 liblapacke libopenblas0-pthread libxgboost0 libmicrohttpd12 libpq5 zlib1g \
      tini curl ca-certificates sqlite3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mm \
 && useradd --system --uid 10001 --gid mm --home-dir /var/lib/manymodels --shell /usr/sbin/nologin mm \
 && mkdir -p /var/lib/manymodels /etc/manymodels /data/incoming \
 && chown -R mm:mm /var/lib/manymodels /data

COPY --from=build /out/bin/ /usr/local/bin/

# Each service listens for /healthz, /readyz and /metrics on MM_HTTP_ADDR
# (docs/operations.md); containers that run no listener disable the check.
ENV MM_HTTP_ADDR=0.0.0.0:9100
USER 10001:10001
WORKDIR /var/lib/manymodels
EXPOSE 9100
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/mm-healthcheck"]
# -g: a signal reaches the whole process group (mm-every's child too).
ENTRYPOINT ["/usr/bin/tini", "-g", "--"]
CMD ["mmctl", "--help"]
