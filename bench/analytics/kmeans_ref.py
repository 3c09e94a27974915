"""k-means on RFM features in scikit-learn, as fincrm-analytics-bench kmeans computes it.

Per customer over rows dated on or before the calibration end (Polars): days since the last
purchase, number of rows, sum of amounts; features ln(1 + x) of each, z-scored
(StandardScaler); KMeans(k=8, k-means++, one start, 300 iterations, tol=1e-4, seed 42),
scikit-learn's defaults with n_init fixed at 1.
Usage: python kmeans_ref.py FILE CALIBRATION_END [CUSTOMER_COL DATE_COL AMOUNT_COL]
"""
import datetime as dt
import json
import sys
import time

from steps import Steps, csv_args

t_import = time.time()
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

path, end, cust, date, amount = csv_args(sys.argv[1:])
end_d = dt.date.fromisoformat(end)
steps = Steps(t_import)
lap = steps.lap

agg = (pl.scan_csv(path, schema_overrides={cust: pl.String, date: pl.String, amount: pl.Float64})
       .select(pl.col(cust), pl.col(date).str.slice(0, 10).str.to_date("%Y-%m-%d"), pl.col(amount))
       .filter(pl.col(date) <= end_d)
       .group_by(cust)
       .agg(last=pl.col(date).max(), frequency=pl.len(), monetary=pl.col(amount).sum())
       .with_columns(recency=(pl.lit(end_d) - pl.col("last")).dt.total_days())
       .collect())
lap("rfm_agg")
x = np.log1p(np.column_stack([
    agg["recency"].to_numpy().astype(float),
    agg["frequency"].to_numpy().astype(float),
    np.maximum(agg["monetary"].to_numpy(), 0.0),
]))
z = StandardScaler().fit_transform(x)
lap("features")
km = KMeans(n_clusters=8, init="k-means++", n_init=1, max_iter=300, tol=1e-4, random_state=42).fit(z)
lap("kmeans_fit")
sizes = sorted(np.bincount(km.labels_, minlength=8).tolist())
out = {
    "customers": int(agg.height),
    "kmeans_iterations": int(km.n_iter_),
    "kmeans_inertia_per_point": float(km.inertia_) / agg.height,
    "kmeans_sizes": sizes,
}
print(json.dumps(steps.report(out)))
