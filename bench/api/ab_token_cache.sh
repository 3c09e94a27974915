#!/usr/bin/env bash
# A/B of the API token cache (issue #3): one fincrm binary on the demo bank that
# `bench/api/run.sh N` loaded, `[auth] token_cache_seconds` 0 (off) and 5 (on), alternating,
# ROUNDS rounds of SECS seconds for the 360 and the mixed search, 64 connections, per engine.
# Prints one line per run; oha's JSON goes under BENCH_DATA/results.
#
# Usage: FINCRM_BIN=path bench/api/ab_token_cache.sh [CUSTOMERS]     (default 1000000)
# Environment: ENGINES ("sqlite pg"), SECS (20), ROUNDS (2), BENCH_DATA (<repo>/../bench-data),
#              PG_BASE (postgres://postgres@127.0.0.1:5432)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
customers="${1:-1000000}"
data="${BENCH_DATA:-$repo/../bench-data}"
bin="${FINCRM_BIN:?set FINCRM_BIN to the fincrm binary to measure}"
secs="${SECS:-20}"
rounds="${ROUNDS:-2}"
pg_base="${PG_BASE:-postgres://postgres@127.0.0.1:5432}"
export PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || { echo "oha is missing: cargo install oha --locked" >&2; exit 1; }
out="$data/results/ab-token-cache-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"
printf '[auth]\ntoken_cache_seconds = 0\n' > "$out/off.toml"
printf '[auth]\ntoken_cache_seconds = 5\n' > "$out/on.toml"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
pid=""
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true' EXIT
for engine in ${ENGINES:-sqlite pg}; do
    case "$engine" in
        sqlite) url="sqlite://$data/sqlite-$customers/fincrm.db"
                rows() { sqlite3 -separator $'\t' "${url#sqlite://}" "$1"; } ;;
        pg) url="$pg_base/fincrm_bench_$customers"
            rows() { psql "$url" -qAtX -F $'\t' -c "$1"; } ;;
        *) echo "unknown engine $engine" >&2; exit 1 ;;
    esac
    rows "SELECT customer_id, kind, name, coalesce(name_latin, ''), coalesce(id_number, ''), coalesce(phone, '') FROM customer" \
        | python3 "$repo/bench/api/sample.py" "$base" "$out/urls-$engine"
    for round in $(seq 1 "$rounds"); do
        for mode in off on; do
            env -u FINCRM_CONFIG "$bin" --config "$out/$mode.toml" --database "$url" serve \
                --listen "127.0.0.1:$port" > "$out/$engine-$mode-$round.log" 2>&1 &
            pid=$!
            for _ in $(seq 1 120); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 0.5; done
            token="$("$bin" --database "$url" tokens create --user HA7001 --name "ab $(date -Is)" \
                --scopes customers:read --days 1 2>/dev/null)"
            oha --no-tui -w -z 5s -c 64 -H "Authorization: Bearer $token" \
                --urls-from-file "$out/urls-$engine/360.txt" > /dev/null
            for what in 360 search-mixed; do
                f="$out/$engine-$mode-$round-$what.json"
                oha --no-tui --output-format json -w -z "${secs}s" -c 64 \
                    -H "Authorization: Bearer $token" --urls-from-file "$out/urls-$engine/$what.txt" > "$f"
                jq -r --arg l "$engine cache $mode, round $round, $what" '"\($l): \(.summary.requestsPerSec | round) req/s, p50 \(.latencyPercentiles.p50 * 1000 * 100 | round / 100) ms, p99 \(.latencyPercentiles.p99 * 1000 * 100 | round / 100) ms, non-200 \([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0), errors \([.errorDistribution[]?] | add // 0)"' "$f"
            done
            kill -TERM "$pid"; wait "$pid" || true; pid=""
        done
    done
done
echo "results in $out"
