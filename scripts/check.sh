#!/usr/bin/env bash
# README command 2: install, then every check: build, typecheck, and every
# package's tests in one vitest run (the console's in headless Chromium), with
# lint (with the package boundary rule) beside the tests (scripts/test.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/pnpm.sh install --frozen-lockfile
# The console's browser test drives Debian's chromium package (apps/console/test/console.e2e.test.ts).
# Installed once when missing, as root on Debian; a no-op when it is there.
if [ ! -x /usr/bin/chromium ] && [ -z "${DM_CHROMIUM:-}" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "check: installing chromium for the console's browser test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
exec bash scripts/pnpm.sh test
