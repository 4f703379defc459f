# Moonbase: a thin wrapper over CMake (CMakePresets.json) and tools/*.sh.
#
#   make run                 install deps, build, serve on 127.0.0.1:7350 (private PostgreSQL)
#   make cluster [N=3]       private Redis + PostgreSQL and N nodes from port 7350 (tools/cluster.sh)
#   make test                every suite: lint, C unit (build/ + build-asan/), valgrind, Node integration x2
#   make test-unit           C unit tests only (both trees) + valgrind
#   make test-integration    Node suites only (TESTS="tests/integration/x.test.js" for some files)
#   make [build] | build-asan  one CMake tree (build/, build-asan/)
#   make bench               load generator + in-process benches + the cluster sets (tools/bench.sh, ~6 min)
#   make fuzz                every libFuzzer target for 300 s (tools/fuzz.sh)
#   make deps                tools/install-deps.sh
#   make lint                dependency rules, -Wmissing-prototypes, cppcheck, clang-format check
#   make format              clang-format -i over C sources (.clang-format)
#   make clean               remove build trees (not .moonbase/: the dev database lives there)
#
# Pass server flags to `make run` with ARGS="--log-level debug".

SHELL := /bin/bash
.DEFAULT_GOAL := build
TESTS ?=
ARGS ?=
N ?=

.PHONY: help run cluster test test-unit test-integration build build-asan bench fuzz deps lint format clean distclean pg-start pg-stop pg-status

help:
	@sed -n '3,14p' Makefile | sed 's/^# \{0,1\}//'

run:
	@tools/run.sh $(ARGS)

cluster:
	@tools/cluster.sh $(N) $(ARGS)

test:
	@tools/test.sh all

test-unit:
	@tools/test.sh unit

test-integration:
	@tools/test.sh integration $(TESTS)

build: deps
	@tools/build.sh default

build-asan: deps
	@tools/build.sh asan

bench:
	@tools/bench.sh

fuzz: deps
	@tools/fuzz.sh

deps:
	@tools/install-deps.sh

lint: deps
	@tools/lint.sh

format:
	@if [ -f .clang-format ]; then \
	  files=$$(git ls-files '*.c' '*.h'); \
	  [ -z "$$files" ] || clang-format -i $$files; \
	  echo "format: clang-format -i on $$(echo $$files | wc -w) files"; \
	else \
	  echo "format: no .clang-format in the repo root; nothing done"; \
	fi

# The private cluster `make run` uses (.moonbase/pg; on the port it used last, else 5433).
pg-start:
	@tools/pg.sh start .moonbase/pg

pg-stop:
	@tools/pg.sh stop .moonbase/pg

pg-status:
	@tools/pg.sh status .moonbase/pg

clean:
	rm -rf build build-asan build-fuzz

# Also the dev state: the private database and data dir under .moonbase/, and node_modules.
distclean: clean
	@if [ -d .moonbase/pg ]; then tools/pg.sh destroy .moonbase/pg; fi
	rm -rf .moonbase node_modules
