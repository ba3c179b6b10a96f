#!/usr/bin/env bash
# Checks the Prometheus material with promtool: the rule file (syntax and PromQL), its unit
# tests, and the scrape configuration. Exits non-zero on any failure, or when promtool is
# missing (deploy/local/setup.sh installs it; MINHU_SKIP_PROMTOOL=1 skips on purpose).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

promtool=$(command -v promtool || true)
[ -n "$promtool" ] || { [ -x "$root/.venv/bin/promtool" ] && promtool="$root/.venv/bin/promtool"; } || true
if [ -z "$promtool" ]; then
  if [ "${MINHU_SKIP_PROMTOOL:-}" = 1 ]; then
    echo "prometheus: SKIPPED (no promtool, MINHU_SKIP_PROMTOOL=1)"
    exit 0
  fi
  echo "prometheus: promtool not found: run deploy/local/setup.sh (it takes promtool from Debian's" >&2
  echo "prometheus: prometheus package), or put one on PATH; MINHU_SKIP_PROMTOOL=1 skips" >&2
  exit 1
fi
echo "prometheus: $("$promtool" --version 2>&1 | head -n 1)"

cd "$here"
"$promtool" check rules minhu-rules.yml
"$promtool" test rules minhu-rules.test.yml
"$promtool" check config prometheus.yml

# The Kubernetes scrape job, appended to the configuration, if this promtool knows
# kubernetes_sd_configs (Debian's build leaves Kubernetes discovery out).
python=python3
[ -x "$root/.venv/bin/python" ] && python="$root/.venv/bin/python"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp minhu-rules.yml "$tmp/"
"$python" - "$tmp/prometheus.yml" <<'PY'
import sys, yaml
base = yaml.safe_load(open("prometheus.yml"))
extra = yaml.safe_load(open("scrape-kubernetes.yml"))
base["scrape_configs"] = extra["scrape_configs"] + base["scrape_configs"]
yaml.safe_dump(base, open(sys.argv[1], "w"), sort_keys=False)
PY
if out=$("$promtool" check config "$tmp/prometheus.yml" 2>&1); then
  echo "$out"
elif grep -q "kubernetes_sd_configs not found" <<<"$out"; then
  echo "prometheus: scrape-kubernetes.yml parsed as YAML; promtool check SKIPPED (this promtool has no Kubernetes discovery)"
else
  echo "$out" >&2
  exit 1
fi
echo "prometheus: OK"
