#!/usr/bin/env bash
# Makes a private CA and node certificates for a TLS test set-up (mutual authentication):
#   scripts/make-certs.sh DIR [NAME...]     (default names: fleetd fleetctl)
# DIR/ca.pem, DIR/ca.key: the CA (keep ca.key offline in a real deployment);
# DIR/NAME.pem, DIR/NAME.key: one certificate per node, signed by the CA, valid 825 days,
# with NAME, localhost and 127.0.0.1 as subject alternative names (CAF checks the chain, not names).
# Keys are unencrypted P-256 keys readable by the owner only.
set -euo pipefail
dir=${1:?usage: scripts/make-certs.sh DIR [NAME...]}
shift
names=("$@")
((${#names[@]})) || names=(fleetd fleetctl)
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
    -subj "/CN=fleetd private CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
fi
for name in "${names[@]}"; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' "$name" \
    >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 825 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
done
chmod 644 "$dir"/*.pem
echo "$dir: ca.pem $(printf '%s.pem/.key ' "${names[@]}")"
