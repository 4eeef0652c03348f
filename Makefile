# SPDX-License-Identifier: Apache-2.0
# kerf — the two commands of the README, and a few conveniences.
#
#   make demo          install dependencies, build, run kerf on its embedded example
#   make check         install dependencies, build plain and sanitized (ASan+UBSan), run every test in both
#   make cluster-demo  a real cluster on this machine (scripts/cluster.sh), kerf re-cutting GPUs as pods come
#
# CMake does the real work; this file only names the steps so that a new user and CI type the same thing.

BUILD      ?= build
BUILD_SAN  ?= build-san
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-san demo cluster-demo check test test-san bench clean

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-san:
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DKERF_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)

demo: deps build
	@$(BUILD)/src/cli/kerf demo
	@echo "(make cluster-demo shows the same on a real cluster: kubelets, scheduler and pods on this machine)"

cluster-demo: deps build
	@scripts/cluster-demo.sh

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: build-san
	@cd $(BUILD_SAN) && ctest --output-on-failure -j $(JOBS)

check: deps
	@scripts/check.sh

bench: build
	@scripts/bench.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
