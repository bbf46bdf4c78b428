# Thin wrappers over `deno task`. Both `make reproduce` and `make test` bootstrap everything they
# need on a machine with only git, make, Node.js/npm and apt: Deno comes from the npm registry
# into .tools/ when it is not on PATH, npm packages from deno.lock into node_modules/.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CONFIG ?= configs/default.json
BACKEND ?=
# The embedded default's stages are small and mostly single-threaded, so two run side by side
# (each in its own process; results are what one process would write). Other configs run
# inline unless EXECUTOR/JOBS say otherwise.
ifeq ($(CONFIG)$(origin EXECUTOR),configs/default.jsonundefined)
EXECUTOR := local
JOBS ?= 2
endif
DENO_VERSION := 2.9.6
DENO_LOCAL := .tools/deno/node_modules/.bin/deno
DENO := $(or $(shell command -v deno 2>/dev/null),$(DENO_LOCAL))
PIPELINE := $(DENO) run --allow-all pipeline/cli.ts

.PHONY: help reproduce test test-paper-shapes check stage status diff bench gpu-check clean deps browser blas torch slurm webgpu

help:
	@echo "make reproduce [CONFIG=configs/paper.json] [BACKEND=tensorflow]   run the whole pipeline"
	@echo "    [EXECUTOR=inline|local|slurm] [JOBS=N]   where instances run, N at once (default config: local, 2)"
	@echo "make test                                    format, lint, type checks and tests"
	@echo "make test-paper-shapes                       paper-cpu.json end to end at gemma-2-2b's shapes (minutes)"
	@echo "make stage STAGE=03_train [VARIANT=run0]     rerun one stage on cached inputs"
	@echo "make status | make diff [A=REV] [B=REV]      what would run / what changed"
	@echo "make bench                                   benchmarks (see bench/)"
	@echo "make gpu-check                               on a GPU machine: WebGPU adapter, agreement checks, GPU figures"
	@echo "make clean                                   delete the cache (.cache/)"

$(DENO_LOCAL):
	@echo "Deno not found on PATH: installing deno@$(DENO_VERSION) from the npm registry into .tools/deno"
	npm install --prefix .tools/deno --no-audit --no-fund --loglevel=error deno@$(DENO_VERSION)

# npm packages pinned in deno.json/deno.lock; reinstalled only when those files change.
node_modules/.deps-installed: deno.json deno.lock | $(DENO)
	$(DENO) install --frozen
	@touch $@

deps: node_modules/.deps-installed

# The system's OpenBLAS makes the wasm backend's matrix products several times faster (through
# Deno FFI, stages/tensor/openblas.ts). Installed when missing and root; everything also works
# without it (the wasm kernels are used), so a failed install is only reported.
blas:
	@if ! /sbin/ldconfig -p 2>/dev/null | grep 'libopenblas\.so\.0' >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "OpenBLAS not found: installing Debian's libopenblas0-pthread"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas0-pthread >/dev/null) \
	      || echo "could not install OpenBLAS; continuing with the wasm kernels"; \
	  else \
	    echo "OpenBLAS not found and not root: continuing with the wasm kernels (apt-get install libopenblas0-pthread makes matrix products faster)"; \
	  fi; \
	fi

# A WebGPU adapter for the webgpu backend's tests (tests/webgpu_test.ts). Where no GPU driver is
# installed, Mesa's software rasteriser (llvmpipe, through EGL) gives Deno one; installed when
# there is no adapter and we are root. A real GPU needs its driver's Vulkan ICD (README).
webgpu: deps
	@if ! $(DENO) eval 'Deno.exit((await navigator.gpu?.requestAdapter()) ? 0 : 1)' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "No WebGPU adapter: installing Mesa's software one (llvmpipe) for the webgpu tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null; \
	  else \
	    echo "No WebGPU adapter and not root: the webgpu tests are skipped"; \
	  fi; \
	fi

# On a machine with a GPU: the adapter, the webgpu agreement checks, then GPU figures as JSON lines.
gpu-check: deps webgpu
	$(DENO) test --allow-all tests/webgpu_test.ts
	$(DENO) run --allow-all bench/gpu_check.ts

# Headless Chromium for the report's browser test (tests/report_browser_test.ts), from Debian's
# packages; installed only when missing (needs root, as on CI).
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Chromium not found: installing Debian's chromium for the report's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

reproduce: deps blas
	$(PIPELINE) run --config $(CONFIG) $(if $(BACKEND),--backend $(BACKEND)) $(if $(EXECUTOR),--executor $(EXECUTOR)) $(if $(JOBS),--jobs $(JOBS))

stage: deps
	@if [ -z "$(STAGE)" ]; then echo "make stage needs STAGE=<stage id>, e.g. make stage STAGE=03_train [VARIANT=run0]" >&2; exit 2; fi
	$(PIPELINE) run --config $(CONFIG) --only $(STAGE) --force $(STAGE) $(if $(VARIANT),--variant $(VARIANT))

status: deps
	$(PIPELINE) status --config $(CONFIG)

diff: deps
	$(PIPELINE) diff $(A) $(B) --config $(CONFIG)

check: deps
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check

# `$(call deno_tests,LABEL,ARGS)`: deno test ARGS, output kept in .cache/LABEL-output.txt, then
# one "LABEL: N passed, N failed, N skipped" line (what CI reads) and deno's exit status.
# One exception to that status: deno itself killed by a signal *after* its final "ok | … 0 failed"
# line. About one `make test` in 15 here, glibc aborts the test runner while the process exits
# ("corrupted size vs. prev_size"), in a thread's teardown, once every test has reported; that
# verdict stands and the crash is named (docs/environment.md). Before the summary it still fails.
define deno_tests
@mkdir -p .cache
@status=0; NO_COLOR=1 $(DENO) test --allow-all $(2) 2>&1 | tee .cache/$(1)-output.txt || status=$$?; \
summary=$$(grep -E '^(ok|FAILED) \|' .cache/$(1)-output.txt | tail -1); \
passed=$$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$$summary"); \
failed=$$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$$summary"); \
ignored=$$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$$summary"); \
if [ $$status -gt 128 ] && [[ $$summary == "ok |"* ]] && [ "$${failed:-1}" = 0 ]; then \
  echo "$(1): the test runner was killed by signal $$((status - 128)) while exiting, after every test had passed (docs/environment.md)"; \
  status=0; \
fi; \
echo "$(1): $${passed:-0} passed, $${failed:-0} failed, $${ignored:-0} skipped"; \
exit $$status
endef

# Slurm (slurm-wlm, munge) for the slurm executor's tests, which start a one-node cluster
# (tests/helpers/slurm_cluster.ts); installed only when missing (needs root, as on CI).
slurm:
	@if [ ! -x /usr/sbin/slurmctld ] || [ ! -x /usr/sbin/munged ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Slurm not found: installing Debian's slurm-wlm and munge for the slurm executor's tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; \
	  else \
	    echo "Slurm not found and not root: the slurm executor's tests are skipped"; \
	  fi; \
	fi

# Runs the checks, then the tests; prints one "N passed, N failed" summary line at the end.
test: check browser blas slurm webgpu
	$(call deno_tests,tests,--parallel)

# The end-to-end run of configs/paper-cpu.json at google/gemma-2-2b's shapes through a fake hub
# (tests/paper_shapes_e2e.ts): several minutes and ~15 GB of disk, so not part of `make test`;
# .ci/run runs both.
test-paper-shapes: deps blas
	$(call deno_tests,paper-shapes,tests/paper_shapes_e2e.ts)

# PyTorch (Debian's python3-torch) is the peer `make bench` measures extraction against at the
# paper's shapes; installed when missing and root. Without it that comparison is skipped.
torch:
	@if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "PyTorch not found: installing Debian's python3-torch for the benchmark's peer"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch python3-numpy >/dev/null) \
	      || echo "could not install python3-torch; the PyTorch comparison is skipped"; \
	  else \
	    echo "PyTorch not found and not root: the PyTorch comparison is skipped"; \
	  fi; \
	fi

bench: deps blas torch
	$(DENO) task bench

clean:
	rm -rf .cache
