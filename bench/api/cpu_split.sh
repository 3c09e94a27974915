#!/usr/bin/env bash
# Where the CPU goes under load (issue #3): CPU-seconds of the fincrm server and of PostgreSQL's
# processes during one oha run (64 connections), read from /proc. The rest of the two cores is
# oha's. Needs a demo bank loaded by `bench/api/run.sh N` and its URL lists.
#
# Usage: FINCRM_BIN=path bench/api/cpu_split.sh ENGINE URL_FILE [SECS=15] [CUSTOMERS=1000000]
#   ENGINE sqlite or pg; URL_FILE e.g. BENCH_DATA/results/api-…/urls-pg/360.txt
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
engine="$1"; urls="$2"; secs="${3:-15}"; customers="${4:-1000000}"
data="${BENCH_DATA:-$repo/../bench-data}"
bin="${FINCRM_BIN:?set FINCRM_BIN to the fincrm binary to measure}"
export PATH="$HOME/.cargo/bin:$PATH"
case "$engine" in
    sqlite) url="sqlite://$data/sqlite-$customers/fincrm.db" ;;
    pg) url="${PG_BASE:-postgres://postgres@127.0.0.1:5432}/fincrm_bench_$customers" ;;
    *) echo "unknown engine $engine" >&2; exit 1 ;;
esac
# The URL files name the port they were sampled for.
port="$(head -n 1 "$urls" | sed -E 's#^http://127\.0\.0\.1:([0-9]+)/.*#\1#')"
env -u FINCRM_CONFIG "$bin" --database "$url" serve --listen "127.0.0.1:$port" > /dev/null 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.5; done
token="$("$bin" --database "$url" tokens create --user HA7001 --name "cpu $(date -Is)" \
    --scopes customers:read --days 1 2>/dev/null)"
oha --no-tui -z 5s -c 64 -H "Authorization: Bearer $token" --urls-from-file "$urls" > /dev/null
# utime + stime, in clock ticks, of the processes whose command line starts with $1.
ticks() {
    local t=0 p
    for p in $(pgrep -f "^$1" || true); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
server0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); pg0=$(ticks postgres)
oha --no-tui -z "${secs}s" -c 64 -H "Authorization: Bearer $token" --urls-from-file "$urls" \
    | grep -E "Requests/sec|50.00%|99.00%"
server1=$(awk '{print $14 + $15}' "/proc/$pid/stat"); pg1=$(ticks postgres)
hz="$(getconf CLK_TCK)"
echo "CPU-seconds over ${secs} s (two cores: $((2 * secs))): fincrm $(((server1 - server0) / hz)), PostgreSQL processes $(((pg1 - pg0) / hz))"
