#!/bin/sh
# Check that project #includes follow the layer table in STYLE.md section 1:
# dependencies point downward only. Prints each violation; exits 1 if any.
cd "$(dirname "$0")/.." || exit 2

# module: the project headers it may include (besides its own and config.h)
allowed() {
    case "$1" in
    memcached) echo "*" ;;
    listener|thread) echo "conn thread listener settings stats tls logger clock" ;;
    conn) echo "transport process resp stats settings logger clock tls" ;;
    transport|transport_tcp) echo "transport" ;;
    tls) echo "transport tls_hs tls_record settings logger stats clock" ;;
    tls_hs) echo "tls_record x25519" ;;
    tls_record) echo "aes_gcm" ;;
    aes_gcm|x25519) echo "" ;;
    proto_text|proto_meta) echo "proto_text proto_meta buf" ;;
    process|process_stats|process_meta)
        echo "process process_meta process_stats proto_text proto_meta items resp stats settings clock logger tls" ;;
    resp) echo "items" ;;
    items|slabs|assoc|hash) echo "items slabs assoc hash settings stats clock logger" ;;
    settings|daemon) echo "settings logger" ;;
    stats|logger|clock) echo "" ;;
    *) echo "?" ;;
    esac
}

status=0
for f in *.c *.h; do
    mod=${f%.*}
    [ "$mod" = config ] && continue
    ok=$(allowed "$mod")
    [ "$ok" = "*" ] && continue
    if [ "$ok" = "?" ]; then
        echo "$f: module not in the layer table (tools/check-deps.sh)"
        status=1
        continue
    fi
    for inc in $(sed -n 's/^#include "\([a-z_]*\)\.h"/\1/p' "$f"); do
        [ "$inc" = "$mod" ] && continue
        [ "$inc" = config ] && continue
        case " $ok " in
        *" $inc "*) ;;
        *) echo "$f: includes $inc.h, which its layer may not use"; status=1 ;;
        esac
    done
done
[ $status -eq 0 ] && echo "layering ok"
exit $status
