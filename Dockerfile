# syntax=docker/dockerfile:1
# The huckleberry service: a release build in a full Rust image, run from a slim Debian image
# as a non-root user with only the binary and the TLS roots.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /app

# Dependencies first: the manifests with empty targets, so this layer stays cached until a
# manifest or the lock file changes.
COPY Cargo.toml Cargo.lock ./
COPY sdk/Cargo.toml sdk/
COPY functions/Cargo.toml functions/
RUN mkdir -p src sdk/src sdk/benches sdk/examples functions/src tests/app \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs sdk/src/lib.rs functions/src/lib.rs \
 && echo 'fn main() {}' > sdk/benches/endpoint.rs \
 && echo 'fn main() {}' > sdk/examples/conformance.rs \
 && echo 'fn main() {}' > sdk/examples/profile_call.rs \
 && echo 'fn main() {}' > tests/app/main.rs \
 && cargo build --release --locked -p huckleberry --bin huckleberry \
 && rm -rf src sdk/src functions/src

# The app itself. `.ci/run` builds with the same command and features.
COPY . .
RUN touch src/main.rs src/lib.rs sdk/src/lib.rs functions/src/lib.rs \
 && cargo build --release --locked -p huckleberry --bin huckleberry

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home huckleberry
COPY --from=build /app/target/release/huckleberry /usr/local/bin/huckleberry
USER huckleberry
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["huckleberry", "healthcheck"]
ENTRYPOINT ["huckleberry"]
