"""Check a -fzero-stats model's ReLU counts (sluicec -fzero-stats, python3 -m
sluice zeros) on an example's test inputs.

    zeros_check.py LIB.so X.npy STATS.jsonl OUT_DIR [--ref EXAMPLE/ref/zeros.json]
                   [--lengths L.npy]

- the Python ledger's records equal the executable's --stats file, byte
  for byte (STATS.jsonl: the same model compiled as an executable);
- per input and ReLU, against PyTorch's counts (--ref, examples/common/
  zeros_ref.py): the same ReLUs run, the same elements, the same zeros but
  for inputs within 1e-5 of 0 (near), whose sign may round either way;
  per unit, the same rows and zero counts within the same allowance;
- the counts are the same bits for the batch at once on 2 threads, in a
  shuffled order, and one input at a time (the per-unit counters too);
- the tool's zeros.json agrees with the ledger and the counters, its CSV
  with its JSON, its SVG is well-formed XML.
Prints one line per check for FileCheck; exits 1 on a mismatch.
"""
import argparse
import csv
import json
import os
import sys
import xml.etree.ElementTree as ET

import numpy as np

import sluice

bad = []


def check(ok, what):
    if not ok:
        bad.append(what)
        print("MISMATCH: " + what)


def run(m, x, lengths, idx):
    if lengths is None:
        return m.run(x[idx])[1]
    return m.run(x[idx], lengths=lengths[idx])[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("x")
    ap.add_argument("stats")
    ap.add_argument("out")
    ap.add_argument("--ref")
    ap.add_argument("--lengths")
    a = ap.parse_args()
    x = np.load(a.x)
    lengths = np.load(a.lengths) if a.lengths else None
    n = len(x)
    m = sluice.load(a.lib)
    info = m.info
    names = [r.name for r in info.relus]
    print("%s: %d ReLUs: %s" % (info.name, len(names), ", ".join(names)))

    # The whole batch on 2 threads: the ledger and the per-unit counters.
    m.threads = 2
    m.reset_zero_counts()
    led = run(m, x, lengths, np.arange(n))
    units = m.zero_counts()
    with open(a.stats) as f:
        check(led.to_jsonl() == f.read(), "the Python ledger differs from the executable's")

    # Batch invariance: shuffled, and one input at a time on one thread.
    perm = np.random.default_rng(1).permutation(n)
    m.reset_zero_counts()
    shuffled = run(m, x, lengths, perm)
    units_shuffled = m.zero_counts()
    m.threads = 1
    m.reset_zero_counts()
    alone = np.stack([run(m, x, lengths, np.array([i])).slots[0] for i in range(n)])
    units_alone = m.zero_counts()
    for r in info.relus:
        s = slice(r.slot, r.slot + 2)
        check(np.array_equal(led.slots[perm, s], shuffled.slots[:, s]),
              "%s: counts differ in a shuffled batch" % r.name)
        check(np.array_equal(led.slots[:, s], alone[:, s]),
              "%s: counts differ one input at a time" % r.name)
        for other, how in ((units_shuffled, "shuffled"), (units_alone, "one at a time")):
            check(np.array_equal(units[r.name][0], other[r.name][0]) and
                  units[r.name][1] == other[r.name][1],
                  "%s: per-unit counts differ %s" % (r.name, how))
    print("batch invariance: %d inputs, shuffled and one at a time: %s"
          % (n, "same" if not bad else "DIFFERENT"))

    # The ledger against the counters: every row a ReLU ran is in both.
    for r in info.relus:
        z = led.zeros[r.name].astype(np.int64)
        u, rows = units[r.name]
        check(int(z[:, 0].sum()) == int(u.sum()), "%s: ledger zeros %d, unit zeros %d"
              % (r.name, int(z[:, 0].sum()), int(u.sum())))
        check(int(z[:, 1].sum()) == rows * r.width, "%s: ledger elements %d, rows %d x %d"
              % (r.name, int(z[:, 1].sum()), rows, r.width))

    if a.ref:
        with open(a.ref) as f:
            ref = json.load(f)
        check(ref["inputs"] == n, "the reference has %d inputs, not %d" % (ref["inputs"], n))
        exact = near_ok = 0
        for i in range(n):
            want = ref["per_input"][i]
            for r in info.relus:
                got = led.zeros[r.name][i].tolist()
                w = want.get(r.name)
                if w is None:
                    check(got[1] == 0, "input %d: %s ran here, not in PyTorch" % (i, r.name))
                    continue
                check(got[1] == w[1], "input %d: %s computed %d elements, PyTorch %d"
                      % (i, r.name, got[1], w[1]))
                if got[0] == w[0]:
                    exact += 1
                elif abs(got[0] - w[0]) <= w[2]:
                    near_ok += 1
                else:
                    check(False, "input %d: %s: %d zeros, PyTorch %d (%d near 0)"
                          % (i, r.name, got[0], w[0], w[2]))
        check(set(ref["units"]) <= set(names), "the reference names ReLUs the model lacks")
        for name, w in ref["units"].items():
            u, rows = units[name]
            check(rows == w["rows"], "%s: %d rows ran, PyTorch %d" % (name, rows, w["rows"]))
            diff = int(np.abs(u - np.array(w["zeros"])).sum())
            check(diff <= w["near"], "%s: per-unit zeros differ by %d (%d near 0)"
                  % (name, diff, w["near"]))
        print("vs PyTorch: %d counts equal, %d within the near-zero allowance"
              % (exact, near_ok))

    # The tool's files.
    with open(os.path.join(a.out, "zeros.json")) as f:
        t = json.load(f)
    check([r["name"] for r in t["relus"]] == names, "zeros.json lists other ReLUs")
    check(t["inputs"] == n, "zeros.json: %d inputs" % t["inputs"])
    for r, tr in zip(info.relus, t["relus"]):
        z = led.zeros[r.name].astype(np.int64)
        u, rows = units[r.name]
        check(tr["zeros"] == int(z[:, 0].sum()) and tr["elements"] == int(z[:, 1].sum()),
              "zeros.json: %s totals" % r.name)
        check(tr["inputs_run"] == int((z[:, 1] > 0).sum()), "zeros.json: %s inputs" % r.name)
        check(tr["dead_units"] == (int((u == rows).sum()) if rows else 0),
              "zeros.json: %s dead units" % r.name)
        check(tr["skippable_flops"] == 2.0 * z[:, 0].sum() * r.dense_out,
              "zeros.json: %s skippable FLOPs" % r.name)
        frac = np.array([np.nan if v is None else v for v in t["per_input_fraction"][r.name]])
        want = led.zero_fraction(r.name)
        check(np.array_equal(np.isnan(frac), np.isnan(want)) and
              np.allclose(frac[~np.isnan(frac)], want[~np.isnan(want)], rtol=0, atol=1e-12),
              "zeros.json: %s fractions" % r.name)
    with open(os.path.join(a.out, "zeros.csv")) as f:
        rows = list(csv.DictReader(f))
    check([r["name"] for r in rows] == names, "zeros.csv lists other ReLUs")
    for row, tr in zip(rows, t["relus"]):
        check(int(row["dead_units"]) == tr["dead_units"], "zeros.csv: %s" % row["name"])
    root = ET.parse(os.path.join(a.out, "zeros.svg")).getroot()
    check(root.tag.endswith("svg"), "zeros.svg is not an SVG")
    print("tool files: %s" % ("agree" if not bad else "DISAGREE"))
    print("%d mismatches" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
