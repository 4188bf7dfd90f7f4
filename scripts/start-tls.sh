#!/bin/sh
# Start the server with TLS on (port 11211 on 127.0.0.1 unless told otherwise).
# MC_CERT / MC_KEY name an existing certificate and key; without them a
# self-signed EC P-256 certificate is made once in ./certs/. Extra arguments
# are passed to the server (e.g. -p 11311 -t 2 -l 0.0.0.0).
set -e
cd "$(dirname "$0")/.."
cert=${MC_CERT:-}
key=${MC_KEY:-}
if [ -z "$cert" ]; then
    cert=certs/server_crt.pem
    key=certs/server_key.pem
    if [ ! -f "$cert" ]; then
        mkdir -p certs
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -days 365 -subj /CN=localhost \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$key" -out "$cert" 2>/dev/null
        echo "made a self-signed certificate: $cert (key $key)" >&2
    fi
fi
listen="-l ${MC_LISTEN:-127.0.0.1}"
case " $* " in *" -l "*|*" --listen"*) listen="" ;; esac
# memcached refuses to run as root without -u; keep root's access to the key.
user=""
[ "$(id -u)" = 0 ] && user="-u root"
echo "listening with TLS; try: openssl s_client -quiet -connect 127.0.0.1:11211" >&2
exec ./memcached -Z -o "ssl_chain_cert=$cert,ssl_key=$key" $listen $user "$@"
