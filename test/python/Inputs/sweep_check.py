"""Checks a `python3 -m sluice sweep` folder against the executable.

    sweep_check.py OUT LABELS.npy [SETTING Y.npy STATS.jsonl SUMMARY.txt ...]

SETTING is t1=0.745,t2=0.2 (or "dense": the executable's --force-exit never):
the sweep's accuracy and exit histogram equal the executable's outputs and
ledger at those --set values, bit for bit, its mean FLOPs the ledger's mean,
and its accuracy what the executable printed (4 decimals).  Then the Pareto
front, recomputed here pair by pair, the CSV against the JSON, and the SVG
parsed as XML."""
import csv
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np

out, labels = sys.argv[1], np.load(sys.argv[2]).astype(np.int64)
r = json.load(open(os.path.join(out, "sweep.json")))
rows = r["settings"]
print("model %s, %d inputs, swept %s, %d settings" % (r["model"], r["inputs"],
                                                      ",".join(r["swept"]), len(rows)))
args = sys.argv[3:]
for k in range(0, len(args), 4):
    setting, ypath, stats, summary = args[k:k + 4]
    if setting == "dense":
        row = r["dense"]
    else:
        want = {kv.split("=")[0]: float(kv.split("=")[1]) for kv in setting.split(",")}
        match = [s for s in rows if s["thresholds"] == want]
        assert len(match) == 1, (setting, [s["thresholds"] for s in rows])
        row = match[0]
    y = np.load(ypath)
    recs = [json.loads(l) for l in open(stats)]
    acc = float(np.mean(np.argmax(y, axis=1) == labels))
    mean = float(np.mean([x["flops"] for x in recs]))
    flops = np.array([x["flops"] for x in recs], dtype=np.float64)
    exits = {e: sum(x["exit"] == e for x in recs) for e in row["exits"]}
    printed = float(re.search(r"accuracy ([0-9.]+)", open(summary).read()).group(1))
    ok = (row["accuracy"] == acc and "%.4f" % row["accuracy"] == "%.4f" % printed
          and row["mean_flops"] == mean and row["exits"] == exits
          and row["p90_flops"] == float(np.percentile(flops, 90))
          and row["max_flops"] == flops.max())
    print("%s: accuracy %.4f, mean FLOPs %.3f, exits %s: %s" % (
        setting, row["accuracy"], row["mean_flops"],
        " ".join(str(v) for v in row["exits"].values()),
        "equal to the executable" if ok else "DIFFERENT (executable: accuracy %r printed %r, "
        "mean %r, exits %s)" % (acc, printed, mean, exits)))

# The front: no other point has accuracy >= and FLOPs <=, one strictly.
front = set()
for i, a in enumerate(rows):
    if not any((b["accuracy"] >= a["accuracy"] and b["mean_flops"] <= a["mean_flops"]
                and (b["accuracy"] > a["accuracy"] or b["mean_flops"] < a["mean_flops"]))
               for b in rows):
        front.add(i)
flags = {s["index"] for s in rows if s["pareto"]}
listed = r["pareto"]
by_flops = [rows[i]["mean_flops"] for i in listed]
print("pareto: %d points, recomputed: %s, flags: %s, by FLOPs: %s, accuracy rising: %s" % (
    len(listed), set(listed) == front, flags == front, by_flops == sorted(by_flops),
    all(rows[a]["accuracy"] < rows[b]["accuracy"]
        or (rows[a]["accuracy"], rows[a]["mean_flops"]) == (rows[b]["accuracy"],
                                                            rows[b]["mean_flops"])
        for a, b in zip(listed, listed[1:]))))

with open(os.path.join(out, "sweep.csv")) as f:
    table = list(csv.DictReader(f))
same = len(table) == len(rows) and all(
    float(t["mean_flops"]) == s["mean_flops"] and int(t["correct"]) == s["correct"]
    and all(float(t[k]) == s["thresholds"][k] for k in r["swept"])
    and int(t["pareto"]) == s["pareto"] for t, s in zip(table, rows))
print("csv: %d rows, same as the json: %s" % (len(table), same))
root = ET.parse(os.path.join(out, "sweep.svg")).getroot()
text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
print("svg: %s, %s" % (root.tag.split("}")[1], "Pareto front" in text and "dense" in text))
