"""Summarises a run.sh output directory as a Markdown table (wall and peak RSS from time -v)."""
import json
import os
import re
import sys

out, data = sys.argv[1], sys.argv[2]


def time_v(name):
    try:
        text = open(os.path.join(out, f"{name}.time")).read()
    except OSError:
        return None, None
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    h, m, s = wall.groups()
    secs = int(h or 0) * 3600 + int(m) * 60 + float(s)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    return secs, rss


def result(name):
    """The step's JSON: its last line (the bench steps), or the whole output (`fincrm analytics
    run` prints its report indented)."""
    try:
        text = open(os.path.join(out, f"{name}.json")).read().strip()
    except OSError:
        return {}
    for candidate in (text.splitlines()[-1:] or [""])[0], text:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    return {}


names = ["fincrm_clv", "fincrm_store", "lifetimes_clv", "pymc_clv", "fincrm_rfm", "polars_rfm",
         "duckdb_rfm", "fincrm_kmeans", "sklearn_kmeans"]
res = {n: result(n) for n in names}
tv = {n: time_v(n) for n in names}
rows = res["fincrm_clv"].get("rows") or res["fincrm_rfm"].get("rows")
cust = res["fincrm_clv"].get("customers") or res["fincrm_rfm"].get("customers")
print(f"\n{os.path.basename(data)}: {rows} rows, {cust} customers; cores: {os.cpu_count()}\n")
print("| run | process wall s | peak RSS MiB | steps (s) |")
print("|---|---|---|---|")
for n in names:
    w, m = tv[n]
    if w is None:
        continue
    secs = res[n].get("secs", {})
    order = res[n].get("steps") or list(secs)
    steps = ", ".join(f"{k} {secs[k]:.2f}" for k in order if k in secs)
    err = f" **{res[n]['error']}**" if "error" in res[n] else ""
    print(f"| {n} | {w:.2f} | {m:.0f} | {steps}{err} |")


def ratio(a, b):
    (wa, ma), (wb, mb) = tv[a], tv[b]
    if wa is None or wb is None:
        return
    print(f"- {b} / {a}: {wb / wa:.1f}x wall, {mb / ma:.1f}x memory")


print()
ratio("fincrm_clv", "lifetimes_clv")
if res["fincrm_store"].get("already_completed"):
    print("- fincrm_store: the store had a completed run for STORE_AS_OF, so nothing was "
          "computed: no ratio (choose a later day)")
elif res["fincrm_store"]:
    print(f"- fincrm_store: every customer of the store scored "
          f"({res['fincrm_store'].get('customers')} customers, the whole run: summary, fits, "
          f"CLV, RFM, k-means segments, tiers, stages, scores written)")
    ratio("fincrm_store", "lifetimes_clv")
ratio("fincrm_clv", "pymc_clv")
ratio("fincrm_rfm", "polars_rfm")
ratio("fincrm_rfm", "duckdb_rfm")
ratio("fincrm_kmeans", "sklearn_kmeans")

fits = {n: sum(res[n].get("secs", {}).get(k, float("nan")) for k in ("bgnbd_fit", "gg_fit"))
        for n in ("fincrm_clv", "pymc_clv")}
if all(v == v for v in fits.values()):  # both measured (NaN otherwise)
    print(f"- BG/NBD + Gamma-Gamma fits from the summary (in-process step times): fincrm "
          f"{fits['fincrm_clv']:.2f} s, pymc-marketing MAP {fits['pymc_clv']:.2f} s: "
          f"{fits['pymc_clv'] / fits['fincrm_clv']:.1f}x")
a = res["fincrm_clv"]
for other, label in (("lifetimes_clv", "lifetimes"), ("pymc_clv", "pymc-marketing")):
    b = res[other]
    if "bgnbd" in a and "bgnbd" in b:
        worst = max(abs(a["bgnbd"][k] / b["bgnbd"][k] - 1) for k in "r alpha a b".split())
        worst_gg = max(abs(a["gg"][k] / b["gg"][k] - 1) for k in "pqv")
        print(f"- agreement with {label}: BG/NBD params {worst:.1e} rel, Gamma-Gamma "
              f"{worst_gg:.1e}, CLV sum {abs(a['clv_sum'] / b['clv_sum'] - 1):.1e}")
r5 = {n: res[n].get("rfm_r5") for n in ["fincrm_rfm", "polars_rfm", "duckdb_rfm"]}
print(f"- RFM customers with R=5: {r5}")
a, b = res["fincrm_kmeans"], res["sklearn_kmeans"]
if "kmeans_iterations" in a and "kmeans_iterations" in b:
    fa, fb = a["secs"]["kmeans_fit"], b["secs"]["kmeans_fit"]
    print(f"- k-means fit alone (in-process): fincrm {fa:.2f} s, {a['kmeans_iterations']} iterations; "
          f"scikit-learn {fb:.2f} s, {b['kmeans_iterations']} iterations: {fb / fa:.1f}x")
    print(f"- k-means inertia per customer (z-scored units): fincrm "
          f"{a['kmeans_inertia_per_point']:.5f}, scikit-learn {b['kmeans_inertia_per_point']:.5f}")
