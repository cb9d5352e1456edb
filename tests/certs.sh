#!/usr/bin/env bash
# Makes the test certificates at test time with the openssl command:
#
#   tests/certs.sh DIR
#
#   DIR/ca.pem             a private test CA (trust it with tls_trust_file)
#   DIR/server.pem/.key    for localhost and IP 127.0.0.1, signed by the CA
#   DIR/wrong.pem/.key     for wrong.example only, signed by the CA
#   DIR/expired.pem/.key   for localhost/127.0.0.1, expired in 2020
#   DIR/self.pem/.key      self-signed, for localhost/127.0.0.1
#   DIR/client.pem/.key    a client certificate signed by the CA
#
# Keys are P-256 (fast). Nothing here is ever used outside the tests.
set -eu
dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$1" 2>/dev/null; chmod 600 "$1"; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 \
	-subj "/O=outboxfs tests/CN=outboxfs test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out ca.pem 2>/dev/null

# Extensions for a server certificate; $1 is the subjectAltName.
ext() {
	printf 'basicConstraints=CA:FALSE\n'
	printf 'keyUsage=digitalSignature\n'
	printf 'extendedKeyUsage=%s\n' "${2:-serverAuth}"
	printf 'subjectAltName=%s\n' "$1"
}

# sign NAME CN SAN [EKU]: NAME.key, NAME.pem signed by the CA for a year.
sign() {
	key "$1.key"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
	ext "$3" "${4:-serverAuth}" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
		-set_serial "0x$(openssl rand -hex 8)" -days 365 -sha256 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

sign server localhost "DNS:localhost,IP:127.0.0.1,IP:::1"
sign wrong wrong.example "DNS:wrong.example"
sign client "outboxfs test client" "email:client@example.com" clientAuth

# Expired: `openssl ca` takes explicit start and end dates.
key expired.key
openssl req -new -key expired.key -subj "/CN=localhost" \
	-out expired.csr 2>/dev/null
mkdir -p ca.db
: >ca.db/index.txt
openssl rand -hex 8 >ca.db/serial
cat >ca.db/ca.cnf <<EOF
[ ca ]
default_ca = test
[ test ]
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = anything
x509_extensions = srv
unique_subject = no
[ anything ]
commonName = supplied
[ srv ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
openssl ca -batch -config ca.db/ca.cnf -startdate 20190101000000Z \
	-enddate 20200101000000Z -in expired.csr -out expired.pem \
	-notext 2>/dev/null
rm -rf expired.csr ca.db

key self.key
openssl req -x509 -new -key self.key -sha256 -days 365 -subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-out self.pem 2>/dev/null

for f in ca server wrong expired self client; do
	[ -s "$f.pem" ] || { echo "certs.sh: $f.pem not made" >&2; exit 1; }
done
