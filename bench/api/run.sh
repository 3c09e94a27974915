#!/usr/bin/env bash
# HTTP API load benchmark (issue #3): the demo bank at N customers, served by `fincrm serve` on
# SQLite and on PostgreSQL, loaded by oha with 64 connections for 30 s an endpoint:
#   GET /health                         framework + one database ping (the floor the goals compare to)
#   GET /version                        framework only, no database
#   GET /api/v1/customers/{id}/360      random demo customers (also once with 1 connection)
#   GET /api/v1/customers?q=…&limit=20  customer numbers, ID numbers, phones, Chinese names,
#                                       surnames and given names, pinyin surnames and full pinyin
#                                       (mixed), then each kind alone for SEARCH_KIND_SECONDS
# Every non-2xx answer (404 included, e.g. a missing route) and every transport error counts as an
# error. Prints a markdown table and writes it with oha's JSON output under the results folder.
#
# Usage: bench/api/run.sh [CUSTOMERS]          (default 1000000; 10000 for a quick look)
# Environment (defaults):
#   ENGINES="sqlite pg"   DURATION=30   CONNECTIONS=64   SEARCH_KIND_SECONDS=10   WARMUP=5
#   BENCH_DATA=<repo>/../bench-data     generated databases, kept between runs (load once)
#   CARGO_TARGET_DIR=<repo>/../target-bench
#   PG_BASE=postgres://postgres@127.0.0.1:5432   (database fincrm_bench_N is created there)
#   FINCRM_BIN=path      measure this fincrm binary (e.g. an earlier commit's) instead of building one
#   PREPARE_ONLY=1        load (or check) the databases and stop: no server, no load
# Needs: cargo, sqlite3, psql, curl, jq, python3; oha (installed with `cargo install oha --locked`
# when missing), PostgreSQL reachable at PG_BASE for the pg engine.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/bench/api"
customers="${1:-1000000}"
engines="${ENGINES:-sqlite pg}"
duration="${DURATION:-30}"
conns="${CONNECTIONS:-64}"
kind_seconds="${SEARCH_KIND_SECONDS:-10}"
warmup="${WARMUP:-5}"
data="${BENCH_DATA:-$repo/../bench-data}"
pg_base="${PG_BASE:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/../target-bench}"
# A bank runs with a keyring; this benchmark stores personal information in clear (the warning at
# start-up says so) so that search can sample ID numbers and phones from the table.
unset FINCRM_KEY_FILE FINCRM_DATABASE_URL FINCRM_CONFIG
user="${BENCH_USER:-HA7001}" # the demo bank's first head-office analyst: every customer in scope
mkdir -p "$data"
data="$(cd "$data" && pwd)"
out="$data/results/api-$customers-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"

for t in sqlite3 psql curl jq python3; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if ! command -v oha >/dev/null; then
    export PATH="$HOME/.cargo/bin:$PATH"
    command -v oha >/dev/null || cargo install oha --locked
fi
echo "== $(oha --version)"

if [ -n "${FINCRM_BIN:-}" ]; then
    bin="$(cd "$(dirname "$FINCRM_BIN")" && pwd)/$(basename "$FINCRM_BIN")"
    echo "== binary $bin"
else
    echo "== build (release, target $CARGO_TARGET_DIR)"
    (cd "$repo" && cargo build --release -q -p fincrm_cli)
    bin="$CARGO_TARGET_DIR/release/fincrm"
fi

server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# sql ENGINE URL QUERY: tab-separated rows
sql() {
    case "$1" in
        sqlite) sqlite3 -separator $'\t' "${2#sqlite://}" "$3" ;;
        pg) psql "$2" -qAtX -F $'\t' -c "$3" ;;
    esac
}

# prepare ENGINE URL: loads the demo bank (and scores it) once; later runs find it ready.
prepare() {
    local engine="$1" url="$2" ready="$data/$1-$customers.ready" have
    have="$(sql "$engine" "$url" "SELECT count(*) FROM customer" 2>/dev/null || echo 0)"
    if [ -f "$ready" ] && [ "$have" = "$customers" ]; then
        echo "   cached: $have customers ($(head -n 1 "$ready"))"
        return
    fi
    rm -f "$ready"
    case "$engine" in
        sqlite) rm -f "${url#sqlite://}" "${url#sqlite://}"-wal "${url#sqlite://}"-shm ;;
        pg) psql "$pg_base/postgres" -qAtX -c "DROP DATABASE IF EXISTS ${url##*/}" \
                -c "CREATE DATABASE ${url##*/}" >/dev/null ;;
    esac
    echo "   loading the demo bank ($customers customers) …"
    /usr/bin/time -f "%e %M" -o "$data/$engine-$customers.demo.time" \
        "$bin" --database "$url" demo --customers "$customers" > "$data/$engine-$customers.demo.log" 2>&1
    # Scores make the 360 view's score history real (one row a customer).
    local as_of=2026-10-31 # the demo bank's last day (DemoConfig::end_date)
    echo "   scoring (analytics run --as-of $as_of) …"
    /usr/bin/time -f "%e %M" -o "$data/$engine-$customers.analytics.time" \
        "$bin" --database "$url" analytics run --as-of "$as_of" > "$data/$engine-$customers.analytics.log" 2>&1
    echo "demo $(cut -d' ' -f1 "$data/$engine-$customers.demo.time") s, analytics $(cut -d' ' -f1 "$data/$engine-$customers.analytics.time") s, $(date -Is)" > "$ready"
    echo "   $(cat "$ready")"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# load NAME SECONDS CONNECTIONS TARGET... : oha's JSON into $out/ENGINE-NAME.json
load() {
    local name="$1" secs="$2" c="$3"; shift 3
    oha --no-tui --output-format json -z "${secs}s" -c "$c" -w \
        -H "Authorization: Bearer $token" "$@" > "$out/$engine-$name.json"
}
warm() { [ "$warmup" -gt 0 ] && oha --no-tui -w -z "${warmup}s" -c "$conns" -H "Authorization: Bearer $token" "$@" > /dev/null || true; }

rows=()
# row ENGINE LABEL NAME: a table row from $out/ENGINE-NAME.json
row() {
    local f="$out/$1-$3.json"
    jq -r --arg engine "$1" --arg what "$2" --argjson health "${health_rps:-0}" '
        def ms: if . == null then "—" else (. * 1000 * 100 | round / 100 | tostring) end;
        (.statusCodeDistribution // {}) as $s | (.errorDistribution // {}) as $e
        | ([$s | to_entries[] | select(.key | test("^2") | not) | .value] | add // 0) as $bad
        | ([$e | to_entries[] | .value] | add // 0) as $err
        | ([$s[]] | add // 0) as $answered
        | "| \($engine) | \($what) | \(.summary.requestsPerSec | round) | \(.latencyPercentiles.p50 | ms) | \(.latencyPercentiles.p99 | ms) | \($answered + $err) | \($bad + $err) | \([$s | to_entries[] | "\(.key):\(.value)"] + [$e | to_entries[] | "\(.key):\(.value)"] | join(" ")) | \(if $health > 0 then (.summary.requestsPerSec / $health * 1000 | round / 10 | tostring) + " %" else "—" end) |"
    ' "$f"
}

for engine in $engines; do
    case "$engine" in
        sqlite) mkdir -p "$data/sqlite-$customers"; url="sqlite://$data/sqlite-$customers/fincrm.db" ;;
        pg) url="$pg_base/fincrm_bench_$customers" ;;
        *) echo "unknown engine $engine" >&2; exit 1 ;;
    esac
    echo "== $engine: $url"
    prepare "$engine" "$url"
    [ "${PREPARE_ONLY:-0}" = 1 ] && continue

    port="$(free_port)"
    base="http://127.0.0.1:$port"
    "$bin" --database "$url" serve --listen "127.0.0.1:$port" > "$out/$engine-serve.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 120); do
        curl -fsS "$base/health" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$out/$engine-serve.log" >&2; exit 1; }
        sleep 0.5
    done
    token="$("$bin" --database "$url" tokens create --user "$user" --name "api-bench $(date -Is)" \
        --scopes customers:read --days 1 2>/dev/null)"

    echo "   URL lists from the $engine customers"
    sql "$engine" "$url" "SELECT customer_id, kind, name, coalesce(name_latin, ''), coalesce(id_number, ''), coalesce(phone, '') FROM customer" \
        | python3 "$here/sample.py" "$base" "$out/urls-$engine"
    urls="$out/urls-$engine"
    search_status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$(head -n 1 "$urls/search-mixed.txt")")"
    echo "   search probe: HTTP $search_status"

    echo "   /health, /version"
    health_rps=0
    load health "$duration" "$conns" "$base/health"
    health_rps="$(jq '.summary.requestsPerSec' "$out/$engine-health.json")"
    load version "$duration" "$conns" "$base/version"

    audit_before="$(sql "$engine" "$url" "SELECT count(*) FROM audit_log")"
    echo "   360"
    warm --urls-from-file "$urls/360.txt"
    load 360-c1 10 1 --urls-from-file "$urls/360.txt"
    load 360 "$duration" "$conns" --urls-from-file "$urls/360.txt"
    audit_after="$(sql "$engine" "$url" "SELECT count(*) FROM audit_log")"

    echo "   search"
    warm --urls-from-file "$urls/search-mixed.txt"
    load search "$duration" "$conns" --urls-from-file "$urls/search-mixed.txt"
    kinds=()
    if [ "$search_status" != 404 ] && [ "$kind_seconds" -gt 0 ]; then
        for f in "$urls"/search-*.txt; do
            k="${f##*/search-}"; k="${k%.txt}"
            [ "$k" = mixed ] && continue
            load "search-$k" "$kind_seconds" "$conns" --urls-from-file "$f"
            kinds+=("$k")
        done
    fi
    stop_server

    rows+=("$(row "$engine" '`/health` (framework + DB ping)' health)")
    rows+=("$(row "$engine" '`/version` (framework only)' version)")
    rows+=("$(row "$engine" '360, 1 connection' 360-c1)")
    rows+=("$(row "$engine" '**360**' 360)")
    rows+=("$(row "$engine" '**search** (mixed)' search)")
    for k in "${kinds[@]}"; do rows+=("$(row "$engine" "search: $k (${kind_seconds} s)" "search-$k")"); done
    ok360="$(jq '.statusCodeDistribution["200"] // 0' "$out/$engine-360.json")"
    ok360c1="$(jq '.statusCodeDistribution["200"] // 0' "$out/$engine-360-c1.json")"
    warn="$(grep -c -E 'WARN|ERROR' "$out/$engine-serve.log" || true)"
    notes+="- $engine: audit_log grew by $((audit_after - audit_before)) records during the 360 runs (200 answers: $((ok360 + ok360c1)), plus the warm-up); server log: $warn WARN/ERROR lines ($out/$engine-serve.log)"$'\n'
done

[ "${PREPARE_ONLY:-0}" = 1 ] && exit 0
{
    echo
    echo "## API load: $customers customers, $conns connections, ${duration} s a run (oha; server and load on the same $(nproc) cores)"
    echo
    echo "| engine | endpoint | req/s | p50 ms | p99 ms | requests | errors | status / errors | req/s vs /health |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    printf '%s' "${notes:-}"
    echo "- results: $out"
} | tee "$out/summary.md"
