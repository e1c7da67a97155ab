# Both binaries in one small image. No system protoc is needed: handler/build.rs compiles the
# .proto files with protox. Build: docker build -t challenge-engine .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p service -p handler

FROM debian:bookworm-slim
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
ENV CHALLENGE_CONFIG_PATH=/app/challenges
EXPOSE 8000 6565 8080
# `service` serves REST (8000) and metrics (8080); run `handler` for the gRPC event handler.
CMD ["service"]
