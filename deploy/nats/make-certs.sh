#!/usr/bin/env bash
# Makes a private CA and one certificate per NATS node for deploy/nats/*.conf:
#
#   deploy/nats/make-certs.sh OUT_DIR [NODE...]      (nodes default to nats-0 nats-1 nats-2)
#
# writes OUT_DIR/ca.pem, OUT_DIR/ca-key.pem and, per node, OUT_DIR/<node>/server.pem and
# OUT_DIR/<node>/server-key.pem. Copy <node>/server*.pem and ca.pem to /etc/nats/tls/ on that
# node (key mode 0600, owner nats), and ca.pem to every client (minhu: SSL_CERT_FILE). Keep
# ca-key.pem offline: whoever holds it can mint cluster members.
#
# Each node certificate is valid for serverAuth and clientAuth (cluster routes use mutual TLS)
# and names the node (what the other nodes' routes dial), the client-facing name `nats`,
# localhost and 127.0.0.1, plus $NATS_CERT_EXTRA_SANS (comma-separated, e.g. "DNS:nats.minhu.svc,IP:10.0.0.5").
# An organisation with its own PKI issues the same kind of certificates instead; this script
# is also what deploy/check.sh uses to validate the configuration with throw-away certificates.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [NODE...]}
shift
nodes=("$@")
[ ${#nodes[@]} -gt 0 ] || nodes=(nats-0 nats-1 nats-2)
days=${NATS_CERT_DAYS:-825}
mkdir -p "$out"
umask 077

if [ ! -f "$out/ca.pem" ]; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$out/ca-key.pem" -out "$out/ca.pem" -days 3650 \
    -subj "/O=minhu/CN=minhu NATS CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

for node in "${nodes[@]}"; do
  mkdir -p "$out/$node"
  sans="DNS:$node,DNS:nats,DNS:localhost,IP:127.0.0.1"
  [ -z "${NATS_CERT_EXTRA_SANS:-}" ] || sans="$sans,$NATS_CERT_EXTRA_SANS"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$out/$node/server-key.pem" -out "$out/$node/server.csr" \
    -subj "/O=minhu/CN=$node" 2>/dev/null
  openssl x509 -req -in "$out/$node/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" \
    -CAcreateserial -out "$out/$node/server.pem" -days "$days" \
    -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$sans") \
    2>/dev/null
  rm -f "$out/$node/server.csr"
  chmod 644 "$out/$node/server.pem"
done
chmod 644 "$out/ca.pem"
echo "make-certs: CA $out/ca.pem; node certificates for ${nodes[*]} in $out/<node>/" >&2
