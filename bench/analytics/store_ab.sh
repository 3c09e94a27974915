#!/usr/bin/env bash
# A/B of `fincrm analytics run` from the store: each binary on its own copy of a database, one
# after the other, with the wall time, peak RSS and the run's phase times (from its log).
#
#   bench/analytics/store_ab.sh AS_OF BINARY_1 DB_1 BINARY_2 DB_2 [BINARY DB ...]
#
# Make the copies from one loaded database (`fincrm demo --customers 1000000`, then one
# `analytics run` so there is a previous run), and alternate which binary gets which copy in a
# second round with a later AS_OF: a run leaves its scores in the copy, and the machine drifts.
# Logs land beside each database as BINARY-AS_OF.log. Copy a database only after checkpointing it
# (`python3 -c "import sqlite3; sqlite3.connect('DB').execute('pragma wal_checkpoint(TRUNCATE)')"`):
# committed pages may still be in DB-wal, and a copy of the file alone misses them.
set -euo pipefail
if [[ $# -lt 3 || $(( ($# - 1) % 2 )) -ne 0 ]]; then
    sed -n 2,9p "$0" >&2
    exit 2
fi
as_of=$1
shift
while [[ $# -gt 0 ]]; do
    bin=$1 db=$2
    shift 2
    log=$(dirname "$db")/$(basename "$bin")-$as_of.log
    /usr/bin/time -f "%e s %M KB" "$bin" --database "sqlite://$db" analytics run --as-of "$as_of" >"$log" 2>&1
    # The log is coloured: strip the escapes, then keep each phase line's name and times.
    phases=$(sed 's/\x1b\[[0-9;]*m//g' "$log" |
        grep -o 'analytics: [a-z ]*.\{0,60\}elapsed_ms=[0-9]*\( store_writes_ms=[0-9]*\)\?' |
        sed 's/analytics: analytics:/analytics:/; s/customers=[0-9]* //; s/previous=[0-9]* //' | tr '\n' ' ' || true)
    echo "$(basename "$bin") $as_of: $(tail -1 "$log") | $phases"
done
