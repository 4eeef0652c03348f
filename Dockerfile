# SPDX-License-Identifier: Apache-2.0
# kerf's container image: the `kerf` binary for both daemons (`kerf agent`, `kerf controller`) on Debian 12 slim.
# Build it with docker, podman or buildah from the checkout:
#   docker build -t REGISTRY/kerf:TAG .
# scripts/build-image.sh builds this same file with Debian's buildah on a machine without a registry (it makes
# the debian:bookworm-slim base itself with debootstrap) and writes a docker-archive for `ctr images import`.
#
# NVIDIA's libnvidia-ml.so.1 is not in the image: the agent loads the host driver's copy at run time, which the
# NVIDIA container toolkit mounts into its container (NVIDIA_DRIVER_CAPABILITIES=utility).

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config libcurl4-openssl-dev \
      libjansson-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake ./cmake
COPY proto ./proto
COPY examples ./examples
COPY src ./src
# Only the daemons' binary: no tests (BUILD_TESTING=OFF), no benchmarks.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
 && cmake --build /build --target kerf -j "$(nproc)" \
 && strip /build/src/cli/kerf

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libjansson4 libyaml-0-2 libprotobuf-c1 libnghttp2-14 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/src/cli/kerf /usr/bin/kerf
# The controller runs as nobody (the chart's Deployment says so); the agent is privileged (MIG changes).
ENTRYPOINT ["/usr/bin/kerf"]
CMD ["--help"]
