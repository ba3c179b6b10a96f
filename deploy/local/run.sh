#!/usr/bin/env bash
# Runs minhu: every role in one process, the embedded default configuration, and a local
# JetStream server it starts and stops itself. Extra arguments go to `minhu serve`
# (e.g. --roles gateway, --nats-url nats://host:4222, --config minhu.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/setup.sh --run
cargo build --release --locked -p minhu
exec target/release/minhu serve "$@"
