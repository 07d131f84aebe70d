"""sluice.rank's statistics on hand-made cases with known values, and a
`python3 -m sluice rank` folder checked against a direct computation.

    rank_check.py hand
    rank_check.py OUT LEDGER.jsonl ...   (the ledgers given to rank, in order)
"""
import itertools
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

from sluice import rank as rk


def show(what, got, want):
    ok = got is None and want is None or (got is not None and want is not None
                                          and abs(got - want) < 1e-12)
    print("%s: %s %s" % (what, "none" if got is None else "%.6f" % got,
                         "ok" if ok else "WRONG, expected %r" % want))


if sys.argv[1] == "hand":
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    # d = 1 1 1 1 0: rho = 1 - 6*4/(5*24) = 0.8; 2 discordant pairs of 10: tau = 0.6
    show("spearman no ties", rk.spearman(x, y), 0.8)
    show("kendall no ties", rk.kendall_tau_b(x, y), 0.6)
    show("spearman reversed", rk.spearman(x, x[::-1]), -1.0)
    show("kendall reversed", rk.kendall_tau_b(x, x[::-1]), -1.0)
    # y tied in pairs: ranks 1.5 1.5 3.5 3.5; rho = 4 / (sqrt(5) * 2);
    # 4 concordant, 0 discordant, 2 pairs tied in y: tau-b = 4 / sqrt(6 * (6 - 2))
    x, y = [1, 2, 3, 4], [1, 1, 2, 2]
    show("spearman ties", rk.spearman(x, y), 2 / math.sqrt(5))
    show("kendall ties", rk.kendall_tau_b(x, y), 4 / math.sqrt(24))
    show("kendall ties, blocks of 1", rk.kendall_tau_b(x, y, block=1), 4 / math.sqrt(24))
    show("spearman constant", rk.spearman(x, [3, 3, 3, 3]), None)
    show("kendall constant", rk.kendall_tau_b(x, [3, 3, 3, 3]), None)
    print("rankdata:", rk.rankdata([10, 20, 10, 30, 20, 20]).tolist())
    sys.exit(0)

out, paths = sys.argv[1], sys.argv[2:]
r = json.load(open(os.path.join(out, "rank.json")))
recs = [sorted((json.loads(l) for l in open(p)), key=lambda d: d["input"]) for p in paths]


def key(rs):
    # FLOPs, then exit depth: exitK -> K, "end" after every exit.
    return [(d["flops"], 10**9 if d["exit"] == "end" else int(d["exit"][4:])) for d in rs]


def avg_ranks(k):
    order = sorted(range(len(k)), key=lambda i: k[i])
    ranks = [0.0] * len(k)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and k[order[j + 1]] == k[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a, b):
    ra, rb = avg_ranks(a), avg_ranks(b)
    n = len(ra)
    ma, mb = sum(ra) / n, sum(rb) / n
    num = sum((p - ma) * (q - mb) for p, q in zip(ra, rb))
    den = math.sqrt(sum((p - ma) ** 2 for p in ra) * sum((q - mb) ** 2 for q in rb))
    return num / den if den else None


def kendall(a, b):
    c = d = ta = tb = 0
    for i, j in itertools.combinations(range(len(a)), 2):
        sa = (a[i] > a[j]) - (a[i] < a[j])
        sb = (b[i] > b[j]) - (b[i] < b[j])
        ta += sa == 0
        tb += sb == 0
        c += sa * sb > 0
        d += sa * sb < 0
    n0 = len(a) * (len(a) - 1) // 2
    den = math.sqrt((n0 - ta) * (n0 - tb))
    return (c - d) / den if den else None


keys = [key(rs) for rs in recs]
for p in r["pairs"]:
    i, j = [l["name"] for l in r["ledgers"]].index(p["a"]), [l["name"] for l in
                                                            r["ledgers"]].index(p["b"])
    print("%s vs %s:" % (p["a"], p["b"]))
    show("  spearman", p["spearman"], spearman(keys[i], keys[j]))
    show("  kendall", p["kendall_tau_b"], kendall(keys[i], keys[j]))
for l, k, rs in zip(r["ledgers"], keys, recs):
    want_hard = sorted(range(len(k)), key=lambda i: (tuple(-v for v in k[i]), i))[:r["top"]]
    want_easy = sorted(range(len(k)), key=lambda i: (k[i], i))[:r["top"]]
    print("%s: hardest %s, easiest %s: %s" % (
        l["name"], [e["input"] for e in l["hardest"]][:3],
        [e["input"] for e in l["easiest"]][:3],
        [e["input"] for e in l["hardest"]] == [rs[i]["input"] for i in want_hard]
        and [e["input"] for e in l["easiest"]] == [rs[i]["input"] for i in want_easy]))
svg = os.path.join(out, "rank.svg")
if os.path.exists(svg):
    root = ET.parse(svg).getroot()
    images = list(root.iter("{http://www.w3.org/2000/svg}image"))
    print("svg: %s, %d images" % (root.tag.split("}")[1], len(images)))
