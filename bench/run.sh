#!/usr/bin/env bash
# bench/run.sh: compare our server (OURS_BIN) with the reference memcached.
#
# Both servers run at the same time with the same flags and certificate,
# one worker thread each, pinned to SERVER_CPU; the client is pinned to
# CLIENT_CPU. Every scenario runs in alternating rounds (A B, B A, A B, ...)
# so slow drift of the machine hits both sides alike, and the medians over
# the rounds are compared. For the scenarios in CONTROL a second reference
# instance takes its turn in the same rounds (ours, ref, ref2 rotating), and
# ref2 vs. ref is the A-vs-A control: the noise floor of that row, measured
# while the machine was in the same state as for ours vs. ref.
# Writes a Markdown report to RESULTS (default bench/RESULTS.md).
#
# Usage: bench/run.sh [--quick] [--rounds N] [--secs S] [--scenarios a,b]
#                     [--modes tls,plain] [--control a,b|none] [--results F]
# Environment: OURS_BIN REF_BIN MCBENCH ROUNDS ROUND_SECS SCENARIOS MODES
#              CONTROL TARGETS NOTES IDLE_CONNS IDLE_ROUNDS
#              SERVER_CPU CLIENT_CPU RESULTS

# `make bench` may start us with sh; the rest of this file needs bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

cd "$(dirname "$0")/.." || exit 1

OURS_BIN=${OURS_BIN:-./memcached}
REF_BIN=${REF_BIN:-/usr/bin/memcached}
MCBENCH=${MCBENCH:-./bench/mcbench}
ROUNDS=${ROUNDS:-7}
ROUND_SECS=${ROUND_SECS:-1.5}
ALL_SCENARIOS="small-p1 small-p16 large-100k large-500k handshake-full handshake-resumed idle-memory"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
MODES=${MODES:-"tls plain"}
# Every scenario with a target gets an A-vs-A control row (its noise floor).
CONTROL=${CONTROL:-"small-p1 small-p16 large-100k:tls large-500k:tls handshake-full:tls handshake-resumed:tls idle-memory:tls"}
# The issue's targets: scenario:mode:metric:maximum ratio ours/reference.
TARGETS=${TARGETS:-"small-p1:tls:cpu:0.85 small-p16:tls:cpu:0.6 large-100k:tls:cpu:0.8 handshake-full:tls:cpu:0.5 idle-memory:tls:rss:0.8 small-p1:plain:cpu:1.0 small-p16:plain:cpu:1.0 small-p1:tls:p99:1.0 small-p16:tls:p99:1.0 large-100k:tls:p99:1.0 large-500k:tls:p99:1.0 handshake-full:tls:p99:1.0 handshake-resumed:tls:p99:1.0"}
NOTES=${NOTES:-bench/NOTES.md}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_ROUNDS=${IDLE_ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-bench/RESULTS.md}
SERVER_FLAGS="-t 1 -m 1024 -c 20000 -l 127.0.0.1"
QUICK=0
ORIG_ARGS="$*"

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --secs) ROUND_SECS=$2; shift ;;
    --scenarios) SCENARIOS=${2//,/ }; shift ;;
    --modes) MODES=${2//,/ }; shift ;;
    --control) CONTROL=${2//,/ }; shift ;;
    --results) RESULTS=$2; shift ;;
    -h | --help) usage 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage 64 ;;
    esac
    shift
done
[ "$CONTROL" = none ] && CONTROL=""
if [ "$QUICK" = 1 ]; then
    # A smoke run of about a minute: short rounds, few of them.
    ROUNDS=${QUICK_ROUNDS:-3}
    ROUND_SECS=${QUICK_SECS:-0.5}
    IDLE_CONNS=${QUICK_IDLE:-2000}
    IDLE_ROUNDS=1
    CONTROL="small-p1:tls"
fi

die() { echo "run.sh: $*" >&2; exit 1; }

[ -x "$MCBENCH" ] || bench/build.sh >/dev/null || die "cannot build $MCBENCH"
[ -x "$OURS_BIN" ] || die "no server at OURS_BIN=$OURS_BIN (build it, or set OURS_BIN)"
[ -x "$REF_BIN" ] || die "no reference server at REF_BIN=$REF_BIN"
command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v openssl >/dev/null || die "openssl is required"
if [ "$(nproc)" -lt 2 ]; then
    echo "run.sh: warning: 1 CPU; client and servers share it" >&2
    CLIENT_CPU=$SERVER_CPU
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge $((IDLE_CONNS + 100)) ] || die "fd limit $(ulimit -n) too low for $IDLE_CONNS idle conns"

TMP=$(mktemp -d /tmp/mcbench-run.XXXXXX) || die "mktemp failed"
RAW=$TMP/raw.txt
CMDS=$TMP/commands.txt
: >"$RAW"
: >"$CMDS"
declare -A PID PORT PREFILLED

cleanup() {
    local n
    for n in "${!PID[@]}"; do
        kill "${PID[$n]}" 2>/dev/null && wait "${PID[$n]}" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 ||
    die "openssl could not make a certificate"

USER_ARG=""
[ "$(id -u)" = 0 ] && USER_ARG="-u root"

# Listening ports come from below the ephemeral range: the client churns
# through ephemeral ports, and one of them in use would make bind() fail.
free_port() {
    local lo p
    lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ "${lo:-0}" -gt 12000 ] || lo=61000
    while :; do
        p=$((10000 + RANDOM % (lo - 10000)))
        ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
    done
}

server_args() { # mode port
    local a="$USER_ARG $SERVER_FLAGS -p $2"
    [ "$1" = tls ] && a="$a -Z -o ssl_chain_cert=$TMP/cert.pem,ssl_key=$TMP/key.pem"
    echo "$a"
}

try_start() { # name binary mode
    local name=$1 port _
    port=$(free_port)
    # shellcheck disable=SC2046
    taskset -c "$SERVER_CPU" "$2" $(server_args "$3" "$port") >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    PORT[$name]=$port
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "${PID[$name]}" 2>/dev/null || break
        sleep 0.05
    done
    kill "${PID[$name]}" 2>/dev/null
    wait "${PID[$name]}" 2>/dev/null
    unset "PID[$name]"
    return 1
}

start_server() { # name binary mode
    local attempt
    for attempt in 1 2 3; do
        try_start "$@" && return 0
        echo "run.sh: $1 did not start (attempt $attempt), retrying on another port" >&2
    done
    cat "$TMP/$1.log" >&2
    die "$1 ($2) did not start"
}

stop_server() { # name
    [ -n "${PID[$1]:-}" ] || return 0
    kill "${PID[$1]}" 2>/dev/null
    wait "${PID[$1]}" 2>/dev/null
    unset "PID[$1]"
    PREFILLED=()
}

# Client arguments of each scenario (without host, port, TLS or duration).
scenario_args() {
    local small="-k 10000 --key-prefix s: -v 32-100"
    case "$1" in
    small-p1) echo "-c 50 -P 1 $small -r 1:10" ;;
    small-p16) echo "-c 50 -P 16 $small -r 1:10" ;;
    large-100k) echo "-c 10 -P 1 -k 100 --key-prefix l100k: -v 102400 -r 0:1" ;;
    large-500k) echo "-c 10 -P 1 -k 100 --key-prefix l500k: -v 512000 -r 0:1" ;;
    handshake-full) echo "-c 16 -P 1 $small -r 0:1 --reconnect-every 1" ;;
    handshake-resumed) echo "-c 16 -P 1 $small -r 0:1 --reconnect-every 1 --tls-resume" ;;
    idle-memory) echo "-c 1 -P 1 $small -r 0:1 --idle $IDLE_CONNS" ;;
    *) die "unknown scenario '$1'" ;;
    esac
}

tls_args() { [ "$1" = tls ] && echo "--tls --cacert $TMP/cert.pem"; }

# Sets each key of the scenario once on a server (once per key set).
prefill() { # name scenario mode
    local args prefix
    args=$(scenario_args "$2")
    prefix=$(echo "$args" | sed -n 's/.*--key-prefix \([^ ]*\).*/\1/p')
    [ -n "${PREFILLED[$1:$prefix]:-}" ] && return 0
    # shellcheck disable=SC2046,SC2086
    taskset -c "$CLIENT_CPU" "$MCBENCH" -p "${PORT[$1]}" $(tls_args "$3") \
        $(echo "$args" | sed 's/--reconnect-every 1//; s/--tls-resume//; s/--idle [0-9]*//') \
        --prefill -n 1 -d 60 -q >/dev/null 2>>"$TMP/client.err" ||
        echo "run.sh: prefill of $1 for $2 failed" >&2
    PREFILLED[$1:$prefix]=1
}

# One measured client run; appends a tagged RESULT line to RAW for each pair
# named in the first argument ("main", "control" or both: the reference's
# run is the B side of both pairs).
run_side() { # pairs scenario mode side name round secs
    local args cmd out rc tls
    args=$(scenario_args "$2")
    tls=$(tls_args "$3")
    cmd="$MCBENCH -p ${PORT[$5]}${tls:+ $tls} $args -d $7 --server-pid ${PID[$5]} -q"
    echo "$2 $3: $cmd" | sed "s#-p ${PORT[$5]} #-p PORT #; s#--server-pid ${PID[$5]} #--server-pid PID #; s#$TMP/#\$CERTDIR/#" >>"$CMDS"
    # shellcheck disable=SC2086
    out=$(taskset -c "$CLIENT_CPU" $cmd 2>>"$TMP/client.err")
    rc=$?
    out=$(echo "$out" | grep '^RESULT' || echo "RESULT none=1")
    for p in $1; do
        echo "pair=$p scen=$2 mode=$3 side=$4 name=$5 round=$6 rc=$rc ${out#RESULT }" >>"$RAW"
    done
    [ "$rc" = 0 ] || echo "run.sh: $5 $2 $3 round $6: mcbench exit $rc" >&2
}

# Alternating rounds of one scenario between two running servers.
compare() { # pair scenario mode nameA nameB
    local r
    prefill "$4" "$2" "$3"
    prefill "$5" "$2" "$3"
    for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
            run_side "$1" "$2" "$3" A "$4" "$r" "$ROUND_SECS"
            run_side "$1" "$2" "$3" B "$5" "$r" "$ROUND_SECS"
        else
            run_side "$1" "$2" "$3" B "$5" "$r" "$ROUND_SECS"
            run_side "$1" "$2" "$3" A "$4" "$r" "$ROUND_SECS"
        fi
    done
}

# Ours, the reference and a second reference in the same rounds, each taking
# every position in turn; the reference's run counts for both pairs.
compare3() { # scenario mode
    local r secs=$ROUND_SECS
    prefill ours "$1" "$2"
    prefill ref "$1" "$2"
    prefill ref2 "$1" "$2"
    for r in $(seq "$ROUNDS"); do
        case $((r % 3)) in
        1)
            run_side main "$1" "$2" A ours "$r" "$secs"
            run_side "main control" "$1" "$2" B ref "$r" "$secs"
            run_side control "$1" "$2" A ref2 "$r" "$secs"
            ;;
        2)
            run_side "main control" "$1" "$2" B ref "$r" "$secs"
            run_side control "$1" "$2" A ref2 "$r" "$secs"
            run_side main "$1" "$2" A ours "$r" "$secs"
            ;;
        0)
            run_side control "$1" "$2" A ref2 "$r" "$secs"
            run_side main "$1" "$2" A ours "$r" "$secs"
            run_side "main control" "$1" "$2" B ref "$r" "$secs"
            ;;
        esac
    done
}

# Memory per idle connection needs a fresh server each time: a server that
# already held many connections reuses that memory and shows no growth.
idle_round() { # pair mode side name binary round
    start_server "$4" "$5" "$2"
    run_side "$1" idle-memory "$2" "$3" "$4" "$6" 1
    stop_server "$4"
}

compare_idle() { # pair mode binA binB
    local r
    for r in $(seq "$IDLE_ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
            idle_round "$1" "$2" A idleA "$3" "$r"
            idle_round "$1" "$2" B idleB "$4" "$r"
        else
            idle_round "$1" "$2" B idleB "$4" "$r"
            idle_round "$1" "$2" A idleA "$3" "$r"
        fi
    done
}

in_list() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

# CONTROL entries are "scenario" (both modes) or "scenario:mode".
in_control() { in_list "$1" "$CONTROL" || in_list "$1:$2" "$CONTROL"; }

run_mode() { # mode
    local mode=$1 s
    start_server ours "$OURS_BIN" "$mode"
    start_server ref "$REF_BIN" "$mode"
    for s in $SCENARIOS; do
        in_control "$s" "$mode" && [ "$s" != idle-memory ] && { start_server ref2 "$REF_BIN" "$mode"; break; }
    done
    for s in $SCENARIOS; do
        [ "$s" = idle-memory ] && continue
        [ "$s" = handshake-resumed ] && [ "$mode" = plain ] && continue
        echo "run.sh: $s $mode" >&2
        if in_control "$s" "$mode"; then
            compare3 "$s" "$mode"
        else
            compare main "$s" "$mode" ours ref
        fi
    done
    stop_server ours
    stop_server ref
    stop_server ref2
    if in_list idle-memory "$SCENARIOS"; then
        echo "run.sh: idle-memory $mode" >&2
        compare_idle main "$mode" "$OURS_BIN" "$REF_BIN"
        in_control idle-memory "$mode" && compare_idle control "$mode" "$REF_BIN" "$REF_BIN"
    fi
}

# Medians per pair/scenario/mode/side, one Markdown row per scenario.
summarize() { # pair
    awk -v want="$1" '
    function med(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        if (n == 0) return "NA"
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function add(k, f, v) { if (v != "" && v != "NA") vals[k, f] = vals[k, f] " " v }
    function ratio(a, b) { return (a == "NA" || b == "NA" || b + 0 == 0) ? "NA" : sprintf("%.3f", a / b) }
    function num(v, fmt) { return v == "NA" ? "NA" : sprintf(fmt, v) }
    {
        delete kv
        for (i = 1; i <= NF; i++) { eq = index($i, "="); kv[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
        if (kv["pair"] != want) next
        row = kv["scen"] " | " kv["mode"]
        if (!(row in seen)) { seen[row] = 1; order[++nrows] = row }
        k = row SUBSEP kv["side"]
        add(k, "cpu", kv["server_cpu_us_per_op"]); add(k, "ops", kv["ops_per_sec"])
        add(k, "p99", kv["p99_us"]); add(k, "rss", kv["server_rss_per_idle_conn_bytes"])
        if (kv["rc"] != 0 || kv["errors"] + 0 > 0) bad[row] = 1
    }
    END {
        for (r = 1; r <= nrows; r++) {
            row = order[r]; a = row SUBSEP "A"; b = row SUBSEP "B"
            if (row ~ /^idle-memory/) {
                ra = med(vals[a, "rss"]); rb = med(vals[b, "rss"])
                printf "| %s | %s | %s | %s | | | | | | | server RSS bytes per idle connection%s |\n", row, num(ra, "%.0f"), num(rb, "%.0f"), ratio(ra, rb), bad[row] ? "; errors" : ""
                continue
            }
            ca = med(vals[a, "cpu"]); cb = med(vals[b, "cpu"]); oa = med(vals[a, "ops"]); ob = med(vals[b, "ops"])
            pa = med(vals[a, "p99"]); pb = med(vals[b, "p99"])
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row, num(ca, "%.2f"), num(cb, "%.2f"), ratio(ca, cb), num(oa, "%.0f"), num(ob, "%.0f"), ratio(oa, ob), num(pa, "%.0f"), num(pb, "%.0f"), ratio(pa, pb), bad[row] ? "errors" : ""
        }
    }' "$RAW"
}

# One row per target: median ratio of the main pair, the same ratio of the
# A-vs-A control pair (its distance from 1.000 is the noise floor), verdict.
targets() {
    awk -v targets="$TARGETS" '
    function med(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        if (n == 0) return "NA"
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function add(k, v) { if (v != "" && v != "NA") vals[k] = vals[k] " " v }
    function ratio(pair, scen, mode, metric,   a, b) {
        a = med(vals[pair, scen, mode, "A", metric]); b = med(vals[pair, scen, mode, "B", metric])
        return (a == "NA" || b == "NA" || b + 0 == 0) ? "NA" : a / b
    }
    {
        delete kv
        for (i = 1; i <= NF; i++) { eq = index($i, "="); kv[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
        k = kv["pair"] SUBSEP kv["scen"] SUBSEP kv["mode"] SUBSEP kv["side"]
        add(k SUBSEP "cpu", kv["server_cpu_us_per_op"]); add(k SUBSEP "p99", kv["p99_us"])
        add(k SUBSEP "rss", kv["server_rss_per_idle_conn_bytes"])
    }
    END {
        names["cpu"] = "server CPU µs/op"; names["p99"] = "p99 latency"; names["rss"] = "RSS per idle connection"
        n = split(targets, t, " ")
        for (i = 1; i <= n; i++) {
            split(t[i], f, ":"); scen = f[1]; mode = f[2]; metric = f[3]; max = f[4] + 0
            r = ratio("main", scen, mode, metric)
            if (r == "NA") continue
            c = ratio("control", scen, mode, metric)
            noise = c == "NA" ? "NA" : (c > 1 ? c - 1 : 1 - c)
            if (r <= max) verdict = "met"
            else if (noise != "NA" && r <= max + noise) verdict = "within the noise floor"
            else verdict = "**not met**"
            printf "| %s | %s | %s | ≤ %.2f | %.3f | %s | %s | %s |\n", scen, mode, names[metric], max, r,
                c == "NA" ? "-" : sprintf("%.3f", c), noise == "NA" ? "-" : sprintf("±%.3f", noise), verdict
        }
    }' "$RAW"
}

table_header() { # labelA labelB
    echo "| scenario | mode | CPU µs/op $1 | $2 | ratio | ops/s $1 | $2 | ratio | p99 µs $1 | $2 | ratio | note |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
}

version_of() { "$1" -V 2>/dev/null | head -1 || echo "?"; }

write_results() {
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
    {
        echo "# Benchmark results"
        echo
        echo "Generated by \`OURS_BIN=$OURS_BIN bench/run.sh${ORIG_ARGS:+ $ORIG_ARGS}\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
        if [ "$(readlink -f "$OURS_BIN")" = "$(readlink -f "$REF_BIN")" ]; then
            echo
            echo "**A and B are the same binary here: every ratio below is noise, not a difference between servers.**"
        fi
        echo
        echo "- Machine: $(nproc) CPUs, $cpu, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
        echo "- A (\"ours\"): \`$OURS_BIN\` ($(version_of "$OURS_BIN")); B (\"ref\"): \`$REF_BIN\` ($(version_of "$REF_BIN"))"
        echo "- Server flags (both): \`$(server_args tls PORT | sed "s#$TMP/#\$CERTDIR/#g")\` (TLS; plain drops -Z and -o); EC P-256 certificate"
        echo "- Servers pinned to CPU $SERVER_CPU (\`taskset -c $SERVER_CPU\`), client to CPU $CLIENT_CPU"
        echo "- $ROUNDS rounds of $ROUND_SECS s per scenario, order A B, B A, ...; rows with a control: ours, ref and ref2 take turns in the same rounds (each in every position), the ref run counting for both pairs; idle-memory: $IDLE_ROUNDS rounds of $IDLE_CONNS connections, fresh servers each"
        echo "- Values are medians over the rounds. Ratio = A / B: below 1 is better for CPU µs/op and p99, above 1 is better for ops/s."
        echo "- Load from other processes before the run: $BUSY CPUs busy; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
        [ -n "$BUSY_NOTE" ] && echo "- **$BUSY_NOTE**"
        echo "- CPU µs/op = server utime+stime over the measured phase / requests; handshake-* ops are connect + handshake + one get + close."
        echo
        echo "## Targets"
        echo
        echo "Ratio = ours / reference (median over the rounds). The A-vs-A column is the same ratio for a second reference instance against the reference, measured in the same rounds as ours against the reference; its distance from 1.000 is the noise floor of that row. \"-\": no control run for that row."
        echo
        echo "| scenario | mode | metric | target | ours/ref | A-vs-A | noise | verdict |"
        echo "|---|---|---|--:|--:|--:|--:|---|"
        targets
        if [ -r "$NOTES" ]; then
            echo
            sed -n '/^## /,$p' "$NOTES"
        fi
        echo
        echo "## Ours (A) vs. reference (B)"
        echo
        table_header ours ref
        summarize main
        if grep -q 'pair=control' "$RAW"; then
            echo
            echo "## Control: reference (A) vs. a second reference instance (B)"
            echo
            echo "Same binary on both sides: the distance of these ratios from 1.000 is the noise floor."
            echo
            table_header ref2 ref
            summarize control
        fi
        echo
        echo "## Client commands"
        echo
        echo '```'
        sort -u "$CMDS"
        echo '```'
        echo
        echo "<details><summary>Raw RESULT lines</summary>"
        echo
        echo '```'
        cat "$RAW"
        echo '```'
        echo
        echo "</details>"
    } >"$RESULTS"
}

# CPUs kept busy by anything, over one second (before our servers start).
busy_cpus() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
    echo "$a $b" | awk -v n="$(nproc)" '{busy = $3 - $1; idle = $4 - $2; printf "%.2f", (busy + idle) ? n * busy / (busy + idle) : 0}'
}

BUSY=$(busy_cpus)
BUSY_NOTE=""
if awk -v b="$BUSY" 'BEGIN {exit !(b > 0.15)}'; then
    BUSY_NOTE="Warning: before the run other processes kept $BUSY CPUs busy; expect noisy numbers (compare with the control table)."
    echo "run.sh: $BUSY_NOTE" >&2
fi

START=$(date +%s)
for m in $MODES; do
    case "$m" in tls | plain) run_mode "$m" ;; *) die "unknown mode '$m'" ;; esac
done
write_results
sed -n '/^## Ours/,/^## Client/p' "$RESULTS" | sed '$d'
echo "run.sh: done in $(($(date +%s) - START)) s; report in $RESULTS" >&2
if [ -s "$TMP/client.err" ]; then
    echo "run.sh: client messages:" >&2
    sort "$TMP/client.err" | uniq -c | sort -rn | head -5 >&2
fi
