#!/usr/bin/env bash
# README command 2: install, then every check: build, lint (with the package
# boundary rule), typecheck, and every package's tests in one vitest run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/pnpm.sh install --frozen-lockfile
exec bash scripts/pnpm.sh test
