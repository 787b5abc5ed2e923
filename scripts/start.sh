#!/usr/bin/env bash
# README command 1: install, build, and start the server on the embedded
# PGlite database under ./.data (set DATABASE_URL to use Postgres instead).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/pnpm.sh install --frozen-lockfile
exec bash scripts/pnpm.sh start
