#!/usr/bin/env bash
# The benchmarks, ready right after a clone: `./bench.sh`, `./bench.sh --only extract_paper_shapes
# --json`. `make bench` also installs the optional peers (PyTorch) first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
make --no-print-directory -s -C "$here" deps blas >&2
if command -v deno >/dev/null 2>&1; then deno=deno; else deno="$here/.tools/deno/node_modules/.bin/deno"; fi
exec "$deno" run --allow-all --config "$here/deno.json" "$here/bench/main.ts" "$@"
