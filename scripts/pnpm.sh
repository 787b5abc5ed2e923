#!/usr/bin/env bash
# Runs the pnpm this repository pins ("packageManager" in package.json) on a
# machine with only Node and npm: no global pnpm and no corepack needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(node -p "require('$root/package.json').packageManager.split('@')[1]")"
# turbo: no telemetry or update checks (this may run without internet).
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1
if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "$version" ]; then
  exec pnpm "$@"
fi
exec npx --yes "pnpm@$version" "$@"
