"""Rewrite fincrm's plain demo CSV as a Chinese core-banking extract (the layout of
shared/data/core-export): Chinese headers, GB18030 corporates, mixed date, phone, amount and
code formats, Beijing-time timestamps. Used by mapped.sh to time the mapped import path on the
same rows as the plain path. Usage: to_core_export.py PLAIN_DIR OUT_DIR"""
import csv, datetime, os, sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
BJ = datetime.timezone(datetime.timedelta(hours=8))
RISK_WORDS = {"C1": "保守型", "C2": "稳健型", "C3": "平衡型", "C4": "成长型", "C5": "进取型"}
OWNERSHIP = {"state_owned": "国有", "private": "民营", "foreign": "外资", "collective": "集体",
             "individual_business": "个体", "other": "民营"}
PTYPE = {"deposit": "存款", "loan": "贷款", "credit_card": "信用卡", "wealth_management": "理财",
         "fund": "基金", "insurance": "保险"}
STATUS = {"active": "正常", "overdue": "逾期", "frozen": "冻结", "closed": "销户", "dormant": "久悬"}


def date(s, i):
    if not s:
        return ""
    y, m, d = s.split("-")
    return [s, f"{y}{m}{d}", f"{int(y)}/{int(m)}/{int(d)}"][i % 3]


def phone(s, i):
    if not s:
        return ""
    return [s, f"+86 {s[:3]} {s[3:7]} {s[7:]}", f"{s[:3]}-{s[3:7]}-{s[7:]}"][i % 3]


def yuan(fen, i):
    if fen == "":
        return ""
    v = int(fen)
    sign, v = ("-" if v < 0 else ""), abs(v)
    major = f"{v // 100:,}" if i % 2 else str(v // 100)
    return f"{sign}{major}.{v % 100:02d}"


def rows(name):
    with open(os.path.join(src, name), newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


with open(os.path.join(out, "individuals.csv"), "w", newline="", encoding="utf-8-sig") as fi, \
        open(os.path.join(out, "corporates.csv"), "w", newline="", encoding="gb18030") as fc:
    wi, wc = csv.writer(fi), csv.writer(fc)
    wi.writerow(["客户号", "姓名", "证件类型", "证件号码", "性别", "出生日期", "手机号码", "联系地址",
                 "开户机构", "客户经理", "风险承受能力", "开户日期"])
    wc.writerow(["客户号", "企业名称", "统一社会信用代码", "企业性质", "行业代码", "注册资本(万元)",
                 "成立日期", "开户机构", "客户经理", "集团客户号"])
    for i, r in enumerate(rows("customers.csv")):
        if r["kind"] == "individual":
            risk = r["risk_tolerance"]
            wi.writerow([r["customer_id"], r["name"], "身份证",
                         r["id_number"].lower() if i % 5 == 0 else r["id_number"],
                         {"male": "男", "female": "女"}.get(r["gender"], ""), date(r["birth_date"], i),
                         phone(r["phone"], i), r["address"], r["branch_id"], r["primary_rm"],
                         RISK_WORDS.get(risk, risk) if i % 2 else risk, date(r["opened_on"], i + 1)])
        else:
            cap = r["registered_capital"]
            cap = f"{int(cap) // 1_000_000}.{int(cap) % 1_000_000:06d}" if cap else ""
            wc.writerow([r["customer_id"], r["name"], r["id_number"], OWNERSHIP.get(r["ownership"], ""),
                         r["industry_code"], cap, date(r["founded_on"], i), r["branch_id"],
                         r["primary_rm"], r["group_parent"]])

with open(os.path.join(out, "holdings.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["账号", "客户号", "产品代码", "产品类别", "余额", "币种", "开户日期", "到期日期", "账户状态"])
    for i, r in enumerate(rows("holdings.csv")):
        w.writerow([r["holding_id"], r["customer_id"], r["product_code"], PTYPE[r["product_type"]],
                    yuan(r["balance"], i), ["CNY", "156", "人民币"][i % 3], date(r["opened_on"], i),
                    date(r["matures_on"], i + 2), STATUS[r["status"]]])

with open(os.path.join(out, "transactions.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["流水号", "账号", "客户号", "交易时间", "交易金额", "借贷标志", "币种", "交易渠道", "对方户名",
                "交易类型", "摘要"])
    for i, r in enumerate(rows("transactions.csv")):
        t = datetime.datetime.fromisoformat(r["posted_at"].replace("Z", "+00:00")).astimezone(BJ)
        ts = t.strftime("%Y-%m-%d %H:%M:%S") if i % 2 else t.strftime("%Y%m%d%H%M%S")
        d = {"debit": ["借", "D"], "credit": ["贷", "C"]}[r["direction"]][i % 2]
        w.writerow([r["transaction_id"], r["holding_id"], r["customer_id"], ts, yuan(r["amount"], i), d,
                    "CNY", r["channel"], r["counterparty"], r["kind"], r["memo"]])

with open(os.path.join(out, "interactions.csv"), "w", newline="", encoding="utf-8") as f:
    csv.writer(f).writerow(["时间", "客户号", "渠道", "类型", "员工号", "内容"])
