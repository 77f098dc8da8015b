#!/usr/bin/env bash
# Re-lock the dependencies: `bash requirements/compile.sh` (after changing pyproject.toml).
# `--upgrade` as first argument moves every pin to the newest allowed release.
# The locks agree: client, api, worker and local are constrained by dev, which holds everything.
#   client.txt  the Python client and the remote commands (httpx, pydantic)
#   api.txt     the gateway image (no video library)
#   worker.txt  the worker image (one OpenCV: requirements/overrides.txt)
#   local.txt   `dance-analyzer local` and the CLI on one machine (README, command 1)
#   dev.txt     all of it and the test tools (README, command 2; .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-.venv/bin/uv}"
common=(--quiet --generate-hashes --python-version 3.11 --python-platform linux
        --override requirements/overrides.txt --no-header --annotation-style line "$@")
"$uv" pip compile pyproject.toml --extra test "${common[@]}" -o requirements/dev.txt
for extra in client api worker local; do
    "$uv" pip compile pyproject.toml --extra "$extra" --constraint requirements/dev.txt \
        "${common[@]}" -o "requirements/$extra.txt"
done
