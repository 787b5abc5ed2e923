#!/usr/bin/env bash
# `pnpm test`: build and typecheck through turbo (cached), then every package's tests in one
# vitest run with lint running beside it, at a lower priority and one package at a time.
# Lint needs no build and nothing needs lint; on a 2-core machine the vitest run leaves part of
# the cores idle (its files wait on databases, child processes and sockets), which lint's CPU
# fills instead of lengthening the turbo phase before the tests
# (docs/decisions/2026-11-30-fast-test-databases.md, "Lint beside the tests").
# What is left of lint when the tests end runs on at normal priority (turbo's cache keeps what is
# done). Lint's output is held in a file and printed whole after vitest's, under its own heading;
# the run fails if either failed, and says which.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
turbo run build typecheck typecheck:root --output-logs=errors-only || exit $?

lint_log="$(mktemp "${TMPDIR:-/tmp}/data-machine-lint.XXXXXX")"
lint_pid=''
# Lint runs in a process group of its own (`setsid`, where there is one), so that it can be stopped whole.
own_group=()
command -v setsid >/dev/null 2>&1 && own_group=(setsid)
stop_lint() { kill -- "-$lint_pid" 2>/dev/null || kill "$lint_pid" 2>/dev/null; }
trap '[ -n "$lint_pid" ] && stop_lint; rm -f "$lint_log"' EXIT
"${own_group[@]}" nice -n 10 turbo run lint lint:root --concurrency=1 --output-logs=errors-only >"$lint_log" 2>&1 &
lint_pid=$!

vitest run "$@"
tests_status=$?
if kill -0 "$lint_pid" 2>/dev/null; then
  # At nice 10, lint gets little of a machine other work keeps busy. What is left of it once the
  # tests are done runs at normal priority: turbo's cache keeps the packages already linted.
  stop_lint
  wait "$lint_pid" 2>/dev/null
  turbo run lint lint:root --output-logs=errors-only >"$lint_log" 2>&1
  lint_status=$?
else
  wait "$lint_pid"
  lint_status=$?
fi
lint_pid=''

echo
echo "== lint (ran beside the tests): $([ "$lint_status" -eq 0 ] && echo passed || echo "FAILED, exit $lint_status") =="
cat "$lint_log"
if [ "$tests_status" -ne 0 ] || [ "$lint_status" -ne 0 ]; then
  echo "check failed:$([ "$tests_status" -ne 0 ] && echo " tests (exit $tests_status)")$([ "$lint_status" -ne 0 ] && echo " lint (exit $lint_status)")"
  exit 1
fi
