# Both binaries in one small image. No system protoc is needed: pipeline/build.rs compiles the
# .proto files with protox. Build: docker build -t challenge-engine .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p service -p handler

FROM debian:bookworm-slim
# ca-certificates is left unpinned on purpose: it must follow Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app challenge
WORKDIR /app
COPY --from=build /src/target/release/service /src/target/release/handler /usr/local/bin/
# Migrations are embedded in the binaries; the folder ships for operators who apply them by hand.
COPY migrations /app/migrations
COPY challenges /app/challenges
RUN mkdir -p /app/data && chown challenge /app/data
USER 10001
# Without DATABASE_URL (or DB_HOST) the embedded SQLite file `challenge.db` is created in the
# working directory: the data volume, writable by the non-root user.
WORKDIR /app/data
VOLUME /app/data
ENV CHALLENGE_CONFIG_PATH=/app/challenges
EXPOSE 8000 6565 8080
# `service` serves REST (8000) and metrics (8080); run `handler` for the gRPC event handler.
CMD ["service"]
