#!/usr/bin/env bash
# The pipeline's command line, ready right after a clone: `./pipeline.sh status`, `./pipeline.sh
# run --only 03_train`, `./pipeline.sh --help`. It uses `deno` from PATH, else the copy `make`
# installs into .tools/ (installing it and the npm packages first when they are missing).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
make --no-print-directory -s -C "$here" deps >&2
if command -v deno >/dev/null 2>&1; then deno=deno; else deno="$here/.tools/deno/node_modules/.bin/deno"; fi
exec "$deno" run --allow-all --config "$here/deno.json" "$here/pipeline/cli.ts" "$@"
