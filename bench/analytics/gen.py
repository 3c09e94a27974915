"""Synthetic transaction log for the analytics benchmark: customer_id,date,amount.

Per customer: a purchase count drawn from a lognormal (median 9, mean ~20, p99 ~175), a first
purchase day uniform over the first 1000 days of 2021-01-01..2023-12-31, an active span
(exponential, mean 700 days, cut at the end) over which the other purchases are uniform, and a
mean spend (lognormal around 50) with gamma noise per purchase. Ids are shuffled strings
("C0012345"); rows are sorted by date, as a real log is. Seeded, so reruns give the same file.

Usage: python gen.py CUSTOMERS OUT.csv [SEED]
"""
import sys
import time

import numpy as np
import polars as pl

n = int(sys.argv[1])
out = sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
t0 = time.time()
rng = np.random.default_rng(seed)
DAYS = 1095  # 2021-01-01 .. 2023-12-31
counts = np.maximum(1, np.rint(rng.lognormal(np.log(9.0), 1.2638, n))).astype(np.int64)
counts = np.minimum(counts, 5000)
first = rng.integers(0, 1000, n)
span = np.minimum(rng.exponential(700.0, n), DAYS - 1 - first).astype(np.int64)
spend = rng.lognormal(np.log(50.0), 0.8, n)
ids = np.array([f"C{i:07d}" for i in rng.permutation(n)])

cust = np.repeat(np.arange(n), counts)
is_first = np.zeros(len(cust), dtype=bool)
starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
is_first[starts] = True
offset = (rng.random(len(cust)) * (span[cust] + 1)).astype(np.int64)
offset[is_first] = 0
day = first[cust] + offset
amount = np.round(rng.gamma(4.0, spend[cust] / 4.0), 2)
order = np.argsort(day, kind="stable")
df = pl.DataFrame({
    "customer_id": ids[cust[order]],
    "date": (np.datetime64("2021-01-01") + day[order].astype("timedelta64[D]")),
    "amount": amount[order],
})
df.write_csv(out, date_format="%Y-%m-%d", float_precision=2)
print(f"{n} customers, {len(df)} rows, counts mean {counts.mean():.1f} median {np.median(counts):.0f} "
      f"p99 {np.percentile(counts, 99):.0f} -> {out} in {time.time() - t0:.1f} s", file=sys.stderr)
