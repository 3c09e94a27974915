"""lifetimes 0.11.3 on the raw CDNOW purchase log, in exact weeks (freq="D", freq_multiplier=7).

Gives the constants of crates/fincrm_analytics_batch/tests/cdnow.rs. The `tight` values of
shared/data/reference/clv_reference.json are fitted on the published summary, whose recency, T
and zbar are rounded to 2 decimals; from the raw log the MLE moves by up to 1.2e-4 relative.
Run: bench/analytics/.venv/bin/python bench/analytics/cdnow_lifetimes.py
"""
import json
import os
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

warnings.filterwarnings("ignore")
DATA = os.path.join(os.path.dirname(__file__), "../../../shared/data")
df = pd.read_csv(f"{DATA}/cdnow_sample_transactions.csv", dtype={"customer_id": str, "date": str})
df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
s = summary_data_from_transaction_data(
    df, "customer_id", "date", monetary_value_col="dollars",
    observation_period_end="1997-09-30", freq="D", freq_multiplier=7)
bg = BetaGeoFitter(penalizer_coef=0.0)
bg.fit(s["frequency"], s["recency"], s["T"], tol=1e-12, maxiter=20000)
rep = s[s["frequency"] > 0]
gg = GammaGammaFitter(penalizer_coef=0.0)
gg.fit(rep["frequency"], rep["monetary_value"])
clv = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
                                 time=12, discount_rate=0.01, freq="W")
pn = ParetoNBDFitter(penalizer_coef=0.0)
pn.fit(s["frequency"], s["recency"], s["T"], tol=1e-12, maxiter=20000)
print(json.dumps({
    "bgnbd": bg.params_.to_dict(),
    "gg": gg.params_.to_dict(),
    "pnbd": pn.params_.to_dict(),
    "clv_first10": {k.lstrip("0"): v for k, v in clv.head(10).items()},
    "clv_sum": clv.sum(),
}, indent=1))
