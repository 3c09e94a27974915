"""The CLV pipeline in pymc-marketing 1.3 (MAP, flat priors), its summary in Polars.

The reference of ../shared/BENCHMARKS.md: "Polars summary + pymc-marketing MAP (flat priors)".
With flat priors the maximum a posteriori is the maximum-likelihood fit, so its parameters are
comparable with fincrm's and lifetimes'. Same conventions as fincrm-analytics-bench clv: daily
purchases (amounts summed per customer and day, the first day not counted as a repeat), time in
weeks, 12 months at 1 %/month. One difference is pymc-marketing's own: its month is 30.4375 days
(lifetimes and fincrm's `Lifetimes` convention: 30), which makes its CLV total about 1 % higher.

Usage: python pymc_clv.py FILE CALIBRATION_END [CUSTOMER_COL DATE_COL AMOUNT_COL]
Prints one JSON object (seconds per step, peak RSS, fitted values). Runs in .venv-pymc
(Python 3.12, requirements-pymc.txt).
"""
import json
import sys
import time
import warnings

from steps import Steps, csv_args

warnings.filterwarnings("ignore")
t_import = time.time()
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
from pymc_extras.prior import Prior  # noqa: E402
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel  # noqa: E402

path, end, cust, date, amount = csv_args(sys.argv[1:])
steps = Steps(t_import)
lap = steps.lap

end_day = pl.lit(end).str.to_date("%Y-%m-%d")
daily = (
    pl.scan_csv(path, schema_overrides={cust: pl.Utf8, date: pl.Utf8, amount: pl.Float64})
    .select(
        pl.col(cust).alias("customer_id"),
        pl.col(date).str.slice(0, 10).str.to_date("%Y-%m-%d").alias("day"),
        pl.col(amount).alias("amount"),
    )
    .filter(pl.col("day") <= end_day)
    .group_by("customer_id", "day")
    .agg(pl.col("amount").sum())
)
summary = (
    daily.group_by("customer_id")
    .agg(
        pl.col("day").min().alias("first"),
        pl.col("day").max().alias("last"),
        pl.len().alias("days"),
        pl.col("amount").sum().alias("total"),
        pl.col("amount").sort_by("day").first().alias("first_amount"),
    )
    .select(
        "customer_id",
        (pl.col("days") - 1).cast(pl.Float64).alias("frequency"),
        ((pl.col("last") - pl.col("first")).dt.total_days() / 7.0).alias("recency"),
        ((end_day - pl.col("first")).dt.total_days() / 7.0).alias("T"),
        pl.when(pl.col("days") > 1)
        .then((pl.col("total") - pl.col("first_amount")) / (pl.col("days") - 1))
        .otherwise(0.0)
        .alias("monetary_value"),
    )
    .collect()
)
lap("summary")
# pymc-marketing takes pandas; columns by hand (to_pandas would need pyarrow).
s = pd.DataFrame({c: summary[c].to_numpy() for c in summary.columns})
out = {"customers": len(s)}

flat = {k: Prior("HalfFlat") for k in ("r", "alpha", "a", "b")}
try:
    bg = BetaGeoModel(model_config=flat)
    bg.fit(s[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False)
    lap("bgnbd_fit")
    fitted = bg.fit_summary()
    out["bgnbd"] = {k: float(fitted[k]) for k in ("a", "b", "alpha", "r")}
    rep = s[s["frequency"] > 0][["customer_id", "frequency", "monetary_value"]]
    gg = GammaGammaModel(model_config={k: Prior("HalfFlat") for k in ("p", "q", "v")})
    gg.fit(rep, method="map", progressbar=False)
    lap("gg_fit")
    fitted = gg.fit_summary()
    out["gg"] = {k: float(fitted[k]) for k in ("p", "q", "v")}
    clv = gg.expected_customer_lifetime_value(
        transaction_model=bg, data=s, future_t=12, discount_rate=0.01, time_unit="W"
    )
    lap("clv")
    out["clv_sum"] = float(clv.sum())
except Exception as e:  # report a failed fit, don't hide it
    out["error"] = f"{type(e).__name__}: {e}".strip()
print(json.dumps(steps.report(out)))
