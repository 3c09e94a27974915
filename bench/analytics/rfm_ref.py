"""RFM quintile scores in Polars or DuckDB, as fincrm-analytics-bench rfm computes them.

Per customer over rows dated on or before the calibration end: recency = days since the last
purchase, frequency = number of rows, monetary = sum of amounts; each scored 1..=5 with
score = max(1, ceil((rank - 1) * 5 / (n - 1))) on the ordinal rank (recency ranked descending,
so the most recent get 5): pandas' qcut(rank(method="first"), 5).
Usage: python rfm_ref.py polars|duckdb FILE CALIBRATION_END [CUSTOMER_COL DATE_COL AMOUNT_COL]
"""
import datetime as dt
import json
import resource
import sys
import time

engine, path, end = sys.argv[1], sys.argv[2], sys.argv[3]
cust, date, amount = (sys.argv[4:7] + ["customer_id", "date", "amount"][len(sys.argv[4:7]):])
t0 = time.time()
end_d = dt.date.fromisoformat(end)
out = {"engine": engine}
if engine == "polars":
    import polars as pl
    t1 = time.time()

    def score(e):
        return pl.max_horizontal(pl.lit(1), ((e.rank("ordinal") - 1) * 5 / (pl.len() - 1)).ceil()).cast(pl.Int8)

    q = (pl.scan_csv(path, schema_overrides={cust: pl.String, date: pl.String, amount: pl.Float64})
         .select(pl.col(cust), pl.col(date).str.slice(0, 10).str.to_date("%Y-%m-%d"), pl.col(amount))
         .filter(pl.col(date) <= end_d)
         .group_by(cust)
         .agg(last=pl.col(date).max(), frequency=pl.len(), monetary=pl.col(amount).sum())
         .with_columns(recency=(pl.lit(end_d) - pl.col("last")).dt.total_days())
         .with_columns(r=score(-pl.col("recency")), f=score(pl.col("frequency")), m=score(pl.col("monetary"))))
    res = q.collect()
    out["customers"] = res.height
    out["rfm_r5"] = int((res["r"] == 5).sum())
elif engine == "duckdb":
    import duckdb
    t1 = time.time()
    con = duckdb.connect()
    con.execute(f"""
        create temp table res as
        with agg as (
            select "{cust}" as customer_id, max(d) as last, count(*) as frequency, sum("{amount}") as monetary
            from (select "{cust}", cast(substr("{date}", 1, 10) as date) as d, "{amount}"
                  from read_csv('{path}', header = true,
                                columns = {{'{cust}': 'VARCHAR', '{date}': 'VARCHAR', '{amount}': 'DOUBLE'}}))
            where d <= DATE '{end}'
            group by 1),
        s as (select *, date_diff('day', last, DATE '{end}') as recency, count(*) over () as n from agg)
        select customer_id,
            greatest(1, ceil((row_number() over (order by recency desc) - 1) * 5.0 / (n - 1)))::tinyint as r,
            greatest(1, ceil((row_number() over (order by frequency) - 1) * 5.0 / (n - 1)))::tinyint as f,
            greatest(1, ceil((row_number() over (order by monetary) - 1) * 5.0 / (n - 1)))::tinyint as m
        from s""")
    out["customers"] = con.execute("select count(*) from res").fetchone()[0]
    out["rfm_r5"] = con.execute("select count(*) from res where r = 5").fetchone()[0]
else:
    sys.exit(f"unknown engine {engine}")
t2 = time.time()
out["secs"] = {"import": t1 - t0, "query": t2 - t1}
out["total_secs"] = t2 - t1
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
