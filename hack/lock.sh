#!/usr/bin/env bash
# `make lock`: regenerates the two hash-pinned lock files from pyproject.toml with uv.
#
#   requirements.lock      the operator's runtime dependencies: what the image installs
#   requirements-dev.lock  those same pins (constrained by requirements.lock) plus the
#                          test and dev extras and hack/requirements-tools.in: what
#                          `make venv` installs
#
# Both for CPython 3.11 on Linux (Debian bookworm's python3 runs the image), with every
# file's sha256 so pip installs them with --require-hashes. Pins already in the locks are
# kept while they still satisfy pyproject.toml; UPGRADE=1 moves everything to the newest.
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-.venv/bin/uv}
if [ ! -x "$UV" ]; then
  echo "lock: $UV is missing: run make venv first (the development lock installs uv)" >&2
  exit 1
fi

common=(
  --generate-hashes
  --python-version 3.11
  --python-platform x86_64-unknown-linux-gnu
  --custom-compile-command "make lock"
  --quiet
)
if [ "${UPGRADE:-0}" = 1 ]; then
  common+=(--upgrade)
fi

echo "lock: requirements.lock (runtime) with $("$UV" --version)"
"$UV" pip compile "${common[@]}" pyproject.toml -o requirements.lock
echo "lock: requirements-dev.lock (runtime + test + dev + tools)"
"$UV" pip compile "${common[@]}" pyproject.toml --extra test --extra dev \
  hack/requirements-tools.in --constraint requirements.lock -o requirements-dev.lock
echo "lock: $(grep -c '==' requirements.lock) runtime and $(grep -c '==' requirements-dev.lock) development pins"
