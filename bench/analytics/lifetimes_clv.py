"""The CLV pipeline in lifetimes 0.11.3: summary -> BG/NBD -> Gamma-Gamma -> 12-month CLV.

Same conventions as fincrm-analytics-bench clv: exact weeks (freq="D", freq_multiplier=7),
12 months at 1 %/month with lifetimes' weekly month (freq="W"), margin 1.
Usage: python lifetimes_clv.py FILE CALIBRATION_END [CUSTOMER_COL DATE_COL AMOUNT_COL]
Prints one JSON object (seconds per step, peak RSS, fitted values).
"""
import json
import sys
import time
import warnings

from steps import Steps, csv_args

warnings.filterwarnings("ignore")
t_import = time.time()
import pandas as pd  # noqa: E402
from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402

path, end, cust, date, amount = csv_args(sys.argv[1:])
steps = Steps(t_import)
lap = steps.lap

df = pd.read_csv(path, usecols=[cust, date, amount], dtype={cust: str, date: str, amount: float})
lap("read_csv")
df[date] = pd.to_datetime(df[date].str.slice(0, 10), format="%Y-%m-%d")
lap("parse_dates")
s = summary_data_from_transaction_data(df, cust, date, monetary_value_col=amount,
                                       observation_period_end=end, freq="D", freq_multiplier=7)
lap("summary")
out = {"customers": len(s), "rows": len(df)}
try:
    bg = BetaGeoFitter(penalizer_coef=0.0)
    bg.fit(s["frequency"], s["recency"], s["T"])
    lap("bgnbd_fit")
    out["bgnbd"] = bg.params_.to_dict()
    rep = s[s["frequency"] > 0]
    gg = GammaGammaFitter(penalizer_coef=0.0)
    gg.fit(rep["frequency"], rep["monetary_value"])
    lap("gg_fit")
    out["gg"] = gg.params_.to_dict()
    clv = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
                                     time=12, discount_rate=0.01, freq="W")
    lap("clv")
    out["clv_sum"] = float(clv.sum())
except Exception as e:  # lifetimes raises ConvergenceError on hard data: report, don't hide
    out["error"] = f"{type(e).__name__}: {e}".strip()
print(json.dumps(steps.report(out)))
