#!/usr/bin/env bash
# Analytics benchmark: fincrm (release) vs lifetimes 0.11.3 and pymc-marketing 1.3 (CLV
# pipeline), Polars / DuckDB (RFM quintiles) and scikit-learn (k-means), one process per step on
# the same CSV, wall time and peak RSS of each from /usr/bin/time -v. See README.md beside this
# script.
#
#   bench/analytics/run.sh                     # 1M customers (~20M rows, generated once, ~650 MB)
#   CUSTOMERS=100000 bench/analytics/run.sh    # quick check
#   DATA=/path/tx.csv CALIBRATION_END=2023-12-31 CUSTOMER_COL=customer_id DATE_COL=posted_at \
#     AMOUNT_COL=amount bench/analytics/run.sh # any CSV (dates %Y-%m-%d, %Y%m%d or RFC 3339)
#   SKIP_LIFETIMES=1 ...                       # skip the slow lifetimes run
#   SKIP_PYMC=1 ...                            # skip pymc-marketing (Python >= 3.12, own venv)
#   STORE=sqlite:///path/fincrm.db STORE_AS_OF=2026-11-01 ...
#                                              # also `fincrm analytics run` on a store holding
#                                              # the demo bank of the same size (`fincrm demo
#                                              # --customers 1000000`), for a day it has no
#                                              # completed run of: the pipeline from the store
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CUSTOMERS=${CUSTOMERS:-1000000}
END=${CALIBRATION_END:-2023-12-31}
CUSTOMER_COL=${CUSTOMER_COL:-customer_id}
DATE_COL=${DATE_COL:-date}
AMOUNT_COL=${AMOUNT_COL:-amount}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-analytics}
VENV=$HERE/.venv
PY=$VENV/bin/python

if [[ ! -x /usr/bin/time ]]; then
    echo "installing GNU time" >&2
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
if [[ ! -x $PY ]] || ! "$PY" -c "import lifetimes, polars, duckdb, sklearn" 2>/dev/null; then
    echo "creating $VENV (pinned: requirements.txt)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
fi

# pymc-marketing 1.x needs Python >= 3.12 (on 3.11 pip would quietly install the old 0.19): its
# own virtualenv, from the first 3.12+ interpreter found (PATH, then pyenv). None: not run.
PYMC_VENV=$HERE/.venv-pymc
PYMC=$PYMC_VENV/bin/python
if [[ ${SKIP_PYMC:-0} != 1 ]] && { [[ ! -x $PYMC ]] || ! "$PYMC" -c "import pymc_marketing" 2>/dev/null; }; then
    PY312=
    for candidate in python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 python3.13; do
        if "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
            PY312=$candidate
            break
        fi
    done
    if [[ -n $PY312 ]]; then
        echo "creating $PYMC_VENV with $PY312 (pinned: requirements-pymc.txt)" >&2
        "$PY312" -m venv "$PYMC_VENV"
        "$PYMC_VENV/bin/pip" install -q --upgrade pip
        "$PYMC_VENV/bin/pip" install -q -r "$HERE/requirements-pymc.txt"
    else
        echo "no Python >= 3.12 found: pymc-marketing is not run" >&2
        SKIP_PYMC=1
    fi
fi

if [[ -z ${DATA:-} ]]; then
    DATA=$HERE/data/tx_$CUSTOMERS.csv
    if [[ ! -s $DATA ]]; then
        mkdir -p "$HERE/data"
        echo "generating $DATA" >&2
        "$PY" "$HERE/gen.py" "$CUSTOMERS" "$DATA.tmp" && mv "$DATA.tmp" "$DATA"
    fi
fi

echo "building fincrm-analytics-bench (release)" >&2
(cd "$ROOT" && cargo build --release -q -p fincrm_analytics_batch --bin fincrm-analytics-bench)
BIN=$CARGO_TARGET_DIR/release/fincrm-analytics-bench

OUT=$HERE/out/$(date +%Y%m%d-%H%M%S)-$(basename "$DATA" .csv)
mkdir -p "$OUT"
COLS=("$CUSTOMER_COL" "$DATE_COL" "$AMOUNT_COL")
run() { # name command...
    local name=$1; shift
    echo "== $name" >&2
    # Warm the page cache the same way for everyone: the file was read just before.
    /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.json" 2> >(tee "$OUT/$name.log" >&2) || {
        echo "   $name failed (see $OUT/$name.log)" >&2; }
}
cat "$DATA" >/dev/null
run fincrm_clv "$BIN" clv "$DATA" "$END" "${COLS[@]}"
run fincrm_rfm "$BIN" rfm "$DATA" "$END" "${COLS[@]}"
run polars_rfm "$PY" "$HERE/rfm_ref.py" polars "$DATA" "$END" "${COLS[@]}"
run duckdb_rfm "$PY" "$HERE/rfm_ref.py" duckdb "$DATA" "$END" "${COLS[@]}"
run fincrm_kmeans "$BIN" kmeans "$DATA" "$END" "${COLS[@]}"
run sklearn_kmeans "$PY" "$HERE/kmeans_ref.py" "$DATA" "$END" "${COLS[@]}"
if [[ ${SKIP_PYMC:-0} != 1 ]]; then
    # pytensor compiles each model's C code once and caches it (~/.pytensor): a warm-up on the
    # first 20,000 rows fills the cache, so the measured run is pymc-marketing's steady state.
    head -20001 "$DATA" >"$OUT/warmup.csv"
    "$PYMC" "$HERE/pymc_clv.py" "$OUT/warmup.csv" "$END" "${COLS[@]}" >/dev/null 2>&1 || true
    rm -f "$OUT/warmup.csv"
    run pymc_clv "$PYMC" "$HERE/pymc_clv.py" "$DATA" "$END" "${COLS[@]}"
fi
if [[ -n ${STORE:-} ]]; then
    : "${STORE_AS_OF:?set STORE_AS_OF to a day the store has no completed analytics run for}"
    echo "building fincrm (release)" >&2
    (cd "$ROOT" && cargo build --release -q -p fincrm_cli)
    run fincrm_store "$CARGO_TARGET_DIR/release/fincrm" --database "$STORE" analytics run \
        --as-of "$STORE_AS_OF"
fi
if [[ ${SKIP_LIFETIMES:-0} != 1 ]]; then
    run lifetimes_clv "$PY" "$HERE/lifetimes_clv.py" "$DATA" "$END" "${COLS[@]}"
fi
"$PY" "$HERE/report.py" "$OUT" "$DATA" | tee "$OUT/report.md"
