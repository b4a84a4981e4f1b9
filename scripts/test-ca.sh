#!/usr/bin/env bash
# A private CA and server certificates, for the TLS tests (tests/it/tls.rs, tests/python) and for
# trying HTTPS locally:
#
#   scripts/test-ca.sh DIR [NAME]
#
# makes DIR/ca.pem + DIR/ca.key (once; later calls reuse them) and issues DIR/NAME.pem +
# DIR/NAME.key (NAME defaults to "server"): EC P-256, for localhost, 127.0.0.1 and ::1, valid two
# days. Then e.g.
#
#   vidstream serve --config <(printf '[tls]\ncert_file="DIR/server.pem"\nkey_file="DIR/server.key"\n')
#   aws --ca-bundle DIR/ca.pem --endpoint-url https://127.0.0.1:8080 kinesisvideo list-streams
set -euo pipefail
dir=${1:?usage: scripts/test-ca.sh DIR [NAME]}
name=${2:-server}
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2)
if [[ ! -f ca.pem || ! -f ca.key ]]; then
  openssl req -x509 "${ec[@]}" -subj "/CN=vidstream test CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
fi
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" "basicConstraints=CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$name.ext"
openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$name.key" -out "$name.csr" 2>/dev/null
openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile "$name.ext" -out "$name.pem" 2>/dev/null
rm -f "$name.csr" "$name.ext"
chmod 600 ./*.key
