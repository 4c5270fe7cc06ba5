# syntax=docker/dockerfile:1
# Build: docker build -t hybridsyncd .
# Run:   docker run -p 8080:8080 -v hybridsync-data:/var/lib/hybridsync -e HYBRIDSYNC_API_KEY=... -e HYBRIDSYNC_AUTH_TOKEN_SECRET=... hybridsyncd

FROM swift:6.2-bookworm AS builder
# Debian stable's security updates should flow in on rebuild, so packages are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libwebsockets-dev libev-dev libssl-dev zlib1g-dev libsqlite3-dev libhiredis-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Plugins ./Plugins
COPY clients/js ./clients/js
RUN swift build -c release --product hybridsyncd --static-swift-stdlib \
    && cp "$(swift build -c release --show-bin-path)/hybridsyncd" /hybridsyncd

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libwebsockets17 libwebsockets-evlib-ev libev4 libssl3 zlib1g libsqlite3-0 libhiredis0.14 libcap2 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/hybridsync --create-home hybridsync
COPY --from=builder /hybridsyncd /usr/local/bin/hybridsyncd
COPY Config /etc/hybridsync
USER 10001
WORKDIR /var/lib/hybridsync
# The public listener accepts remote clients; the API stays inside the container unless published.
# Streams, retained state and bans (SQLite) live on the volume: they survive a new container.
ENV HYBRIDSYNC_CONFIG=/etc/hybridsync/hybridsyncd.yaml \
    HYBRIDSYNC_SERVER_HOST=0.0.0.0 \
    HYBRIDSYNC_SERVER_DEMO=false \
    HYBRIDSYNC_ENGINE_SQLITE_PATH=/var/lib/hybridsync/hybridsync.db
VOLUME ["/var/lib/hybridsync"]
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8081/health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hybridsyncd"]
