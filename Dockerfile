# The mqtt-sim container image: `mqtt-sim` as the entry point, the shipped scenarios in
# /scenarios. Build it from the repository's root:
#
#   podman build -t mqtt-sim .          (or: docker build -t mqtt-sim .)
#   podman run --rm mqtt-sim --version
#   podman run --rm -v "$PWD/reports:/reports" mqtt-sim explore /scenarios/will-takeover.yaml --seeds 1..=100
#
# Two stages: the first compiles the binary, the second is a small Debian with only the binary
# and the scenarios. The base images are build arguments, so that a machine without access to
# an image registry can build from local images (.ci/run does).
ARG BUILD_IMAGE=docker.io/library/rust:1.89-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
# The build command the README documents; the binary lands in target/release/mqtt-sim.
RUN cargo build --release --locked -p mqtt-sim

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=build /src/target/release/mqtt-sim /usr/local/bin/mqtt-sim
COPY scenarios /scenarios
# Runs write reports/<scenario>/<seed>/ under the working directory: mount a volume here.
RUN mkdir -p /reports && chown 65534:65534 /reports
WORKDIR /reports
USER 65534:65534
ENTRYPOINT ["mqtt-sim"]
CMD ["--help"]
