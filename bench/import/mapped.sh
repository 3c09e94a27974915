#!/usr/bin/env bash
# Mapped-path benchmark (issue #9): the same rows imported (a) from fincrm's plain CSV and (b) as
# a Chinese core-banking extract through mappings/core-export-sample.toml (GB18030, Chinese
# headers and codes, mixed date/phone/amount formats, Beijing time), both into fresh SQLite files
# in the same run. Usage: bench/import/mapped.sh [CUSTOMERS] (default 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
customers="${1:-100000}"
work="bench-out/mapped-$customers"
mkdir -p "$work"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release -q -p fincrm_cli
bin=target/release/fincrm

rm -rf "$work/plain" "$work/extract"
"$bin" demo --customers "$customers" --out "$work/all" > /dev/null
mkdir -p "$work/plain"
for f in customers holdings transactions; do ln -s "$(realpath "$work/all/$f.csv")" "$work/plain/$f.csv"; done
python3 bench/import/to_core_export.py "$work/all" "$work/extract"
rows=0
for f in customers holdings transactions; do rows=$((rows + $(wc -l < "$work/all/$f.csv") - 1)); done

rm -f "$work"/*.db*
/usr/bin/time -f "%e %M" -o "$work/plain.time" "$bin" --database "sqlite://$work/plain.db" import "$work/plain" --report-dir "$work/r1" > /dev/null 2>&1
/usr/bin/time -f "%e %M" -o "$work/mapped.time" "$bin" --database "sqlite://$work/mapped.db" import --mapping mappings/core-export-sample.toml "$work/extract" --report-dir "$work/r2" > "$work/mapped.out" 2>&1
tail -1 "$work/mapped.out"
p=$(cut -d' ' -f1 "$work/plain.time"); m=$(cut -d' ' -f1 "$work/mapped.time")
awk -v r="$rows" -v p="$p" -v m="$m" -v c="$customers" 'BEGIN {
  printf "\n## Mapped vs plain import, %d customers, %d rows (customers, holdings, transactions), SQLite\n", c, r
  printf "| path | wall s | rows/s |\n|---|---|---|\n"
  printf "| plain CSV (fincrm layout) | %.2f | %.0f |\n", p, r/p
  printf "| core-banking extract through the mapping | %.2f | %.0f |\n", m, r/m
  printf "mapped / plain time: %.2fx\n", m/p }'
