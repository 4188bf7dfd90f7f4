#!/bin/sh
# gen-certs.sh DIR - generate the certificates the TLS tests use.
#
# Everything is made at test time so no private key is committed and nothing
# expires in the repository. EC P-256 keys, 30-day validity, CN=localhost with
# subjectAltName IP:127.0.0.1,DNS:localhost. Output in DIR:
#   ca_crt.pem ca_key.pem                    test CA
#   server_crt.pem server_key.pem            server cert signed by the CA
#   server2_crt.pem server2_key.pem          second server cert (rotation tests)
#   client_crt.pem client_key.pem            client cert signed by the CA
#   foreign_ca_crt.pem                       an unrelated CA
#   foreign_client_crt.pem foreign_client_key.pem  client cert from that CA
#   mismatch_key.pem                         a key no certificate matches
# Idempotent: when every file exists and still verifies, nothing is redone.
# POSIX sh; needs only the openssl command line tool.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 64
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

OPENSSL=${OPENSSL:-openssl}
DAYS=30
SAN="subjectAltName=IP:127.0.0.1,DNS:localhost"

files="ca_crt.pem ca_key.pem server_crt.pem server_key.pem client_crt.pem client_key.pem
server2_crt.pem server2_key.pem foreign_ca_crt.pem foreign_client_crt.pem
foreign_client_key.pem mismatch_key.pem"

all_present() {
    for f in $files; do
        [ -s "$f" ] || return 1
    done
    # Regenerate when a certificate expires within a day or no longer chains.
    for c in server_crt.pem server2_crt.pem client_crt.pem; do
        "$OPENSSL" x509 -in "$c" -noout -checkend 86400 >/dev/null 2>&1 || return 1
        "$OPENSSL" verify -CAfile ca_crt.pem "$c" >/dev/null 2>&1 || return 1
    done
    "$OPENSSL" verify -CAfile foreign_ca_crt.pem foreign_client_crt.pem >/dev/null 2>&1
}

if all_present; then
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

newkey() {
    "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$1"
}

# make_ca NAME CN: self-signed CA key and certificate in $tmp.
make_ca() {
    newkey "$tmp/$1_key.pem"
    "$OPENSSL" req -new -x509 -sha256 -days "$DAYS" -key "$tmp/$1_key.pem" \
        -subj "/O=memcached-tls test/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$tmp/$1_crt.pem"
}

# make_leaf NAME CA USAGE: key and certificate signed by CA, for USAGE
# (serverAuth or clientAuth).
make_leaf() {
    newkey "$tmp/$1_key.pem"
    "$OPENSSL" req -new -sha256 -key "$tmp/$1_key.pem" \
        -subj "/O=memcached-tls test/CN=localhost" -out "$tmp/$1.csr"
    printf '%s\n%s\n%s\n%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=$3" \
        "$SAN" >"$tmp/$1.ext"
    "$OPENSSL" x509 -req -sha256 -days "$DAYS" -in "$tmp/$1.csr" \
        -CA "$tmp/$2_crt.pem" -CAkey "$tmp/$2_key.pem" -CAcreateserial \
        -CAserial "$tmp/$2.srl" -extfile "$tmp/$1.ext" -out "$tmp/$1_crt.pem"
}

make_ca ca "memcached-tls test CA"
make_leaf server ca serverAuth
make_leaf server2 ca serverAuth
make_leaf client ca clientAuth
make_ca foreign_ca "memcached-tls foreign CA"
make_leaf foreign_client foreign_ca clientAuth
newkey "$tmp/mismatch_key.pem"

for f in $files; do
    # Rename into place so a reader never sees a half-written file.
    cp "$tmp/$f" "./$f.new"
    mv -f "./$f.new" "./$f"
done
chmod 644 ./*_crt.pem
exit 0
