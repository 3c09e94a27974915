#!/usr/bin/env python3
"""Builds oha URL files from the demo bank's customers (issue #3 API benchmark).

Reads tab-separated rows `customer_id, kind, name, name_latin, id_number, phone` on stdin (all
customers, any order: they are sorted here, so SQLite and PostgreSQL give the same files) and
writes into OUT_DIR, one full URL a line:

  360.txt             GET /api/v1/customers/{id}/360 for SAMPLE random customers
  search-mixed.txt    GET /api/v1/customers?q=…&limit=LIMIT, every kind below in equal shares
  search-KIND.txt     the same, one kind of query only:
      number      a full customer number            C2000123456
      id_number   a full resident ID number         110101199003071234
      phone       a full mobile number              13812345678
      name_zh     a full name in Chinese characters 王秀英
      surname_zh  a surname in Chinese characters   王
      given_zh    a given name in Chinese characters 秀英
      pinyin      a surname's pinyin, lower case    wang
      pinyin_full a full name in pinyin, no spaces   zhangweimin

Deterministic: the same customers and seed give the same files.

Usage: sample.py BASE_URL OUT_DIR [SAMPLE=20000] [LIMIT=20] [SEED=3]
"""

import random
import sys
from pathlib import Path
from urllib.parse import quote

base, out = sys.argv[1].rstrip("/"), Path(sys.argv[2])
sample = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 20
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 3

rows = []
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    f += [""] * (6 - len(f))
    rows.append(tuple(f[:6]))
rows.sort()
if not rows:
    sys.exit("no customers on stdin")
rng = random.Random(seed)
picked = [rows[rng.randrange(len(rows))] for _ in range(sample)]
individuals = [r for r in picked if r[1] == "individual"]

KINDS = ["number", "id_number", "phone", "name_zh", "surname_zh", "given_zh", "pinyin", "pinyin_full"]


def query(kind, r):
    cid, _, name, latin, idn, phone = r
    if kind == "number":
        return cid
    if kind == "id_number":
        return idn or None
    if kind == "phone":
        return phone or None
    if kind == "name_zh":
        return name
    if kind == "surname_zh":
        return name[:1]
    if kind == "given_zh":
        return name[1:] or None
    if kind == "pinyin":
        return latin.split(" ")[0].lower() or None
    if kind == "pinyin_full":
        return latin.lower().replace(" ", "") or None
    raise ValueError(kind)


out.mkdir(parents=True, exist_ok=True)
(out / "360.txt").write_text("".join(f"{base}/api/v1/customers/{quote(r[0])}/360\n" for r in picked))
per_kind = {}
for kind in KINDS:
    # Names, ID numbers and phones are drawn from individuals (corporates have a company name and
    # a USCC); customer numbers from everyone.
    src = picked if kind == "number" else individuals
    qs = [q for q in (query(kind, r) for r in src) if q]
    urls = [f"{base}/api/v1/customers?q={quote(q, safe='')}&limit={limit}\n" for q in qs]
    per_kind[kind] = urls
    (out / f"search-{kind}.txt").write_text("".join(urls))
n = min(len(v) for v in per_kind.values())
mixed = [u for kind in KINDS for u in per_kind[kind][:n]]
rng.shuffle(mixed)
(out / "search-mixed.txt").write_text("".join(mixed))
print(f"{len(picked)} 360 URLs, {len(mixed)} mixed search URLs ({n} a kind)", file=sys.stderr)
