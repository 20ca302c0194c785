# connector-host as a container: a static (musl) release binary on a distroless base, run as
# a non-root user. Build from the repository root:
#   docker build -t connector-host .
# The image runs `serve` (README, "Deploy"); mount the API keys and the connections as
# secrets, and an empty writable directory at /cache for the compiled component.

FROM rust:1.95-bookworm AS build
# musl-gcc for the C and assembly parts of ring (TLS).
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# rust-toolchain.toml pins the toolchain and the wasm32-wasip2 target of the component;
# the musl target makes the host binary static.
RUN rustup toolchain install \
 && rustup target add x86_64-unknown-linux-musl wasm32-wasip2
RUN cargo build --locked --release -p connector-host --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/connector-host /connector-host

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /connector-host /usr/local/bin/connector-host
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/connector-host"]
CMD ["serve", "--listen", "0.0.0.0:8080", \
     "--api-key-file", "/etc/connector-host/api-keys", \
     "--connections", "/etc/connector-host/connections.json", \
     "--cache-dir", "/cache"]
