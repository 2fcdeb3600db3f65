#!/usr/bin/env bash
# province/mosquitto/make-certs.sh DIR [HOSTNAME...]
# Makes a provincial CA and a broker certificate signed by it (EC P-256):
#   DIR/ca.crt (pin this in every station: sync.tls.caFile), DIR/ca.key,
#   DIR/server.crt, DIR/server.key (for the broker).
# The broker certificate names localhost and 127.0.0.1 plus any HOSTNAME given.
set -euo pipefail
dir="${1:?usage: make-certs.sh DIR [HOSTNAME...]}"
shift
mkdir -p "$dir"
cd "$dir"
san="DNS:localhost,IP:127.0.0.1"
for h in "$@"; do san="$san,DNS:$h"; done
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=loa provincial CA" -out ca.crt
openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
openssl req -new -key server.key -subj "/CN=${1:-localhost}" -out server.csr
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 825 -extfile server.ext -out server.crt 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 644 ca.crt server.crt
