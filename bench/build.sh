#!/bin/sh
# Builds bench/mcbench without automake (the top-level Makefile.am builds it
# too once the lead adds it; see bench/README.md). Usage: bench/build.sh [CC]
set -eu
cd "$(dirname "$0")/.."
CC=${1:-${CC:-gcc}}
FLAGS="-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wmissing-prototypes -pthread"
# shellcheck disable=SC2046,SC2086
$CC $FLAGS $(pkg-config --cflags libevent openssl) -o bench/mcbench bench/*.c \
    $(pkg-config --libs libevent openssl) -lm -pthread
echo "built bench/mcbench with $CC"
