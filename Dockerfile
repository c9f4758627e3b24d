# jitgate: multi-stage release build, small non-root runtime image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p jitgate && strip target/release/jitgate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/jitgate --create-home jitgate \
    && mkdir -p /var/lib/jitgate/data && chown jitgate:jitgate /var/lib/jitgate/data
COPY --from=build /src/target/release/jitgate /usr/local/bin/jitgate
COPY config/jitgate.toml /var/lib/jitgate/config/jitgate.toml
WORKDIR /var/lib/jitgate
USER jitgate
# SQLite database and the generated master key live here; mount a volume to keep them.
VOLUME ["/var/lib/jitgate/data"]
ENV JITGATE_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/jitgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/jitgate"]
CMD ["serve"]
