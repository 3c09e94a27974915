#!/usr/bin/env bash
# A/B of fincrm binaries on the demo bank that `bench/api/run.sh N` loaded: each binary
# serves the same database in turn (the order alternating by round), ROUNDS rounds of SECS
# seconds, 64 connections, for the 360 and the mixed search (WHAT). One line per run with
# req/s, p50, p99, p99.9 and the slowest request; with STALLS=1 oha also logs every request and
# the line adds the bursts in which every connection waited more than 30 ms at once (a stall of
# the whole server, e.g. a checkpoint under the write lock): how many, and the longest wait;
# for the mixed search also p50 and p99 of the audited lookups (ID and phone numbers) apart.
#
# Usage: bench/api/ab_binaries.sh BIN [BIN ...]
# Environment: ENGINE (sqlite, or pg), CUSTOMERS (1000000), ROUNDS (3), SECS (20),
#              WHAT ("360 search-mixed"), STALLS (0), BENCH_DATA (<repo>/../bench-data),
#              PG_BASE (postgres://postgres@127.0.0.1:5432: the bank is database fincrm_bench_N)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
customers="${CUSTOMERS:-1000000}"
data="${BENCH_DATA:-$repo/../bench-data}"
rounds="${ROUNDS:-3}"
secs="${SECS:-20}"
[ "$#" -ge 1 ] || { echo "usage: $0 BIN [BIN ...]" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || { echo "oha is missing: cargo install oha --locked" >&2; exit 1; }
case "${ENGINE:-sqlite}" in
    sqlite)
        db="$data/sqlite-$customers/fincrm.db"
        [ -f "$db" ] || { echo "no demo bank at $db: run bench/api/run.sh $customers first" >&2; exit 1; }
        url="sqlite://$db"
        customers_tsv() { sqlite3 -separator $'\t' "$db" "$1"; } ;;
    pg)
        url="${PG_BASE:-postgres://postgres@127.0.0.1:5432}/fincrm_bench_$customers"
        customers_tsv() { psql "$url" -qAtX -F $'\t' -c "$1"; }
        [ "$(customers_tsv "SELECT count(*) FROM customer" 2>/dev/null)" = "$customers" ] \
            || { echo "no demo bank of $customers at $url: ENGINES=pg bench/api/run.sh $customers first" >&2; exit 1; } ;;
    *) echo "ENGINE is sqlite or pg" >&2; exit 1 ;;
esac
out="$data/results/ab-binaries-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
customers_tsv "SELECT customer_id, kind, name, coalesce(name_latin, ''), coalesce(id_number, ''), coalesce(phone, '') FROM customer" \
    | python3 "$repo/bench/api/sample.py" "$base" "$out/urls"
pid=""
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true' EXIT

# stalls FILE: bursts of requests over 30 ms that took in every connection, from oha's log.
stalls() {
    python3 - "$1" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT start, end FROM oha ORDER BY start").fetchall()
bursts = []  # [last start, longest ms, requests]
for start, end in rows:
    ms = (end - start) * 1000
    if ms <= 30:
        continue
    if bursts and start - bursts[-1][0] < 0.05:
        bursts[-1] = [start, max(bursts[-1][1], ms), bursts[-1][2] + 1]
    else:
        bursts.append([start, ms, 1])
whole = [b for b in bursts if b[2] >= 64]
print(f"stalls={len(whole)} longest={max((b[1] for b in whole), default=0):.0f}ms")
PY
}

# split FILE: the search's latency by kind from oha's log, audited lookups (a full ID number or
# mobile number: digits, maybe a final X) against every other kind.
split() {
    python3 - "$1" <<'PY'
import re, sqlite3, sys
from urllib.parse import parse_qs, urlsplit
audited, other = [], []
for url, start, end in sqlite3.connect(sys.argv[1]).execute("SELECT url, start, end FROM oha"):
    q = parse_qs(urlsplit(url).query).get("q", [""])[0]
    (audited if re.fullmatch(r"\d{11}|\d{17}[\dX]", q) else other).append((end - start) * 1000)
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
print(" ".join(f"{name}: n={len(xs)} p50={pct(xs, .5):.1f} p99={pct(xs, .99):.1f}"
               for name, xs in (("audited", audited), ("other", other))))
PY
}

for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 0 ]; then order="$(printf '%s\n' "$@" | tac)"; else order="$(printf '%s\n' "$@")"; fi
    for bin in $order; do
        name="$(basename "$bin")"
        "$bin" --database "$url" serve --listen "127.0.0.1:$port" > "$out/$name-$r-serve.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 120); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 0.5; done
        token="$("$bin" --database "$url" tokens create --user HA7001 --name "ab $(date -Is)" \
            --scopes customers:read --days 1 2>/dev/null)"
        for what in ${WHAT:-360 search-mixed}; do
            args=(--no-tui -w -c 64 -H "Authorization: Bearer $token" --urls-from-file "$out/urls/$what.txt")
            oha "${args[@]}" -z 5s > /dev/null
            log=()
            [ "${STALLS:-0}" = 1 ] && log=(--db-url "$out/$name-$r-$what.db")
            oha "${args[@]}" -z "${secs}s" --output-format json "${log[@]}" > "$out/$name-$r-$what.json"
            line="$(jq -r --arg n "$name" --arg w "$what" --arg r "$r" '
                def ms: . * 1000 * 10 | round / 10;
                "\($r) \($n) \($w) req/s=\(.summary.requestsPerSec | round) p50=\(.latencyPercentiles.p50 | ms) p99=\(.latencyPercentiles.p99 | ms) p99.9=\(.latencyPercentiles["p99.9"] | ms) max=\(.summary.slowest | ms) status=\(.statusCodeDistribution | tostring)"
            ' "$out/$name-$r-$what.json")"
            [ "${STALLS:-0}" = 1 ] && line="$line $(stalls "$out/$name-$r-$what.db")"
            [ "${STALLS:-0}" = 1 ] && [ "$what" = search-mixed ] && line="$line; $(split "$out/$name-$r-$what.db")"
            echo "$line"
        done
        kill -TERM "$pid"; wait "$pid" || true; pid=""
    done
done
echo "results: $out"
