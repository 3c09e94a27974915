#!/usr/bin/env bash
# Import benchmark (issue #2): fincrm import of the demo bank's customers, holdings and
# transactions from CSV, on SQLite and on PostgreSQL, side by side with each database's own bulk
# load of the same rows measured in the same run:
#   - SQLite:     the sqlite3 CLI's `.import --csv` (a prepared INSERT in one transaction) into a
#                 table with the same columns, keys and indexes;
#   - PostgreSQL: psql `\copy … from … csv header` into fincrm's own (indexed) tables.
# Also: the demo generator's wall time and peak memory.
#
# Usage: bench/import/run.sh [CUSTOMERS]        (default 1000000; e.g. 100000 for a quick look)
# Needs: sqlite3 and psql clients, PostgreSQL on 127.0.0.1:5432 (trust), /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/../.."
customers="${1:-1000000}"
work="${BENCH_DIR:-bench-out/import-$customers}"
pg_base="${PG_BASE:-postgres://postgres@127.0.0.1:5432}"
mkdir -p "$work"
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

cargo build --release -q -p fincrm_cli
bin=target/release/fincrm

# measure NAME CMD...: wall seconds and peak RSS (MiB) into $work/NAME.time
measure() {
    local name="$1"; shift
    /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@"
}
wall() { cut -d' ' -f1 "$work/$1.time"; }
rss_mib() { awk '{printf "%.0f", $2/1024}' "$work/$1.time"; }

echo "== demo bank: $customers customers -> CSV"
rm -rf "$work/csv"
measure demo "$bin" demo --customers "$customers" --out "$work/csv" > "$work/demo.json"
# The load compared is customers + holdings + transactions (what BENCHMARKS.md measures).
rm -rf "$work/load" && mkdir -p "$work/load"
for f in customers holdings transactions; do ln -s "$(realpath "$work/csv/$f.csv")" "$work/load/$f.csv"; done
rows=0
for f in customers holdings transactions; do
    n=$(($(wc -l < "$work/csv/$f.csv") - 1)); rows=$((rows + n)); echo "  $f: $n rows"
done
echo "  total rows: $rows"

echo "== fincrm import -> SQLite"
rm -f "$work/fincrm.db"*
measure sqlite_fincrm "$bin" --database "sqlite://$work/fincrm.db" import "$work/load" --report-dir "$work/report-sqlite" > /dev/null

echo "== sqlite3 .import (reference) -> same columns, keys and indexes"
rm -f "$work/ref.db"*
cat > "$work/ref.sql" <<SQL
PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-262144;
CREATE TABLE customer (customer_id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, name_latin TEXT, id_type TEXT, id_number TEXT, gender TEXT, birth_date TEXT, phone TEXT, email TEXT, address TEXT, branch_id TEXT, primary_rm TEXT, risk_tolerance TEXT, opened_on TEXT, status TEXT, occupation TEXT, ownership TEXT, industry_code TEXT, registered_capital INTEGER, founded_on TEXT, group_parent TEXT);
CREATE INDEX customer_id_number_idx ON customer (id_number) WHERE id_number IS NOT NULL;
CREATE INDEX customer_phone_idx ON customer (phone) WHERE phone IS NOT NULL;
CREATE INDEX customer_branch_idx ON customer (branch_id);
CREATE INDEX customer_primary_rm_idx ON customer (primary_rm);
CREATE TABLE holding (holding_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, product_code TEXT NOT NULL, product_type TEXT NOT NULL, balance INTEGER NOT NULL, currency TEXT NOT NULL, "limit" INTEGER, opened_on TEXT, matures_on TEXT, status TEXT NOT NULL);
CREATE INDEX holding_customer_idx ON holding (customer_id);
CREATE TABLE bank_transaction (transaction_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, holding_id TEXT NOT NULL, posted_at TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, direction TEXT NOT NULL, channel TEXT, counterparty TEXT, kind TEXT, memo TEXT);
CREATE INDEX bank_transaction_customer_time_idx ON bank_transaction (customer_id, posted_at);
CREATE INDEX bank_transaction_holding_idx ON bank_transaction (holding_id);
.import --csv --skip 1 $work/csv/customers.csv customer
.import --csv --skip 1 $work/csv/holdings.csv holding
.import --csv --skip 1 $work/csv/transactions.csv bank_transaction
SQL
measure sqlite_ref sqlite3 "$work/ref.db" < "$work/ref.sql"

echo "== fincrm import -> PostgreSQL"
db="fincrm_bench_$$"
psql "$pg_base/postgres" -qAtc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
"$bin" --database "$pg_base/$db" migrate 2>/dev/null
measure pg_fincrm "$bin" --database "$pg_base/$db" import "$work/load" --report-dir "$work/report-pg" > /dev/null

echo "== psql \\copy (reference) -> fincrm's tables, emptied, indexes in place"
ref="fincrm_bench_ref_$$"
psql "$pg_base/postgres" -qAtc "DROP DATABASE IF EXISTS $ref" -c "CREATE DATABASE $ref" >/dev/null
"$bin" --database "$pg_base/$ref" migrate 2>/dev/null
# The reference loads into the same tables with the same keys, indexes and foreign keys.
cat > "$work/ref-pg.sql" <<SQL
\copy customer (customer_id, kind, name, name_latin, id_type, id_number, gender, birth_date, phone, email, address, branch_id, primary_rm_id, risk_tolerance_text, opened_on, status, occupation, ownership, industry_code, registered_capital_minor, founded_on, group_parent_id) from '$work/csv/customers.csv' csv header
\copy holding (holding_id, customer_id, product_code, product_type, balance_minor, currency, limit_minor, opened_on, matures_on, status) from '$work/csv/holdings.csv' csv header
\copy bank_transaction (transaction_id, customer_id, holding_id, posted_at, amount_minor, currency, direction, channel, counterparty, kind, memo) from '$work/csv/transactions.csv' csv header
SQL
# risk_tolerance is C1..C5 in the CSV and an integer in the table: COPY it into a text column.
psql "$pg_base/$ref" -qAtc "ALTER TABLE customer ADD COLUMN risk_tolerance_text TEXT"
measure pg_ref psql "$pg_base/$ref" -q -v ON_ERROR_STOP=1 -f "$work/ref-pg.sql"

psql "$pg_base/postgres" -qAtc "DROP DATABASE $db" -c "DROP DATABASE $ref" >/dev/null

rate() { awk -v r="$rows" -v s="$(wall "$1")" 'BEGIN{printf "%.0f", r/s}'; }
ratio() { awk -v a="$(wall "$1")" -v b="$(wall "$2")" 'BEGIN{printf "%.2f", a/b}'; }
cat <<TABLE

## Import benchmark: $customers customers, $rows rows (customers + holdings + transactions)
| load | wall s | rows/s | peak MiB | vs the database's own load |
|---|---|---|---|---|
| fincrm import → SQLite | $(wall sqlite_fincrm) | $(rate sqlite_fincrm) | $(rss_mib sqlite_fincrm) | $(ratio sqlite_fincrm sqlite_ref)x the time |
| sqlite3 \`.import\` (reference) | $(wall sqlite_ref) | $(rate sqlite_ref) | $(rss_mib sqlite_ref) | 1.00x |
| fincrm import → PostgreSQL | $(wall pg_fincrm) | $(rate pg_fincrm) | $(rss_mib pg_fincrm) | $(ratio pg_fincrm pg_ref)x the time |
| psql \`\\copy\` (reference) | $(wall pg_ref) | $(rate pg_ref) | $(rss_mib pg_ref) (psql only) | 1.00x |

demo --out: $(wall demo) s, peak $(rss_mib demo) MiB
TABLE
