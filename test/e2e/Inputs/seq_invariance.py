"""seq_invariance.py MODEL X.npy LENGTHS.npy WORKDIR [--threads 1,3]

A compiled sequence model's rows are the same bits (outputs and ledger
records, but for "input") however they are fed, against a first run of X
with --lengths LENGTHS on the default threads:
  - the padding past each input's length replaced by NaN (never read);
  - on other thread counts;
  - a shuffled batch with rows repeated;
  - each of the first 24 rows alone, trimmed to its own length, without
    --lengths (a file of [1, T, ...]);
  - the rows of each length together, trimmed, without --lengths.
Prints one line per check and "all equal" or exits 1.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np


def run(exe, x, lengths, work, tag, extra=()):
    xp = os.path.join(work, tag + "_x.npy")
    np.save(xp, x)
    cmd = [exe, xp, "-o", os.path.join(work, tag + "_y.npy"),
           "--stats", os.path.join(work, tag + "_s.jsonl"), "-q"] + list(extra)
    if lengths is not None:
        lp = os.path.join(work, tag + "_len.npy")
        np.save(lp, np.asarray(lengths, dtype=np.int64))
        cmd += ["--lengths", lp]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"seq_invariance: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    y = np.load(os.path.join(work, tag + "_y.npy"))
    with open(os.path.join(work, tag + "_s.jsonl")) as f:
        recs = [json.loads(line) for line in f]
    for r in recs:
        del r["input"]
    return y, recs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("x")
    ap.add_argument("lengths")
    ap.add_argument("work")
    ap.add_argument("--threads", default="1,3")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    x = np.load(a.x)
    lengths = np.load(a.lengths).astype(np.int64)
    y0, s0 = run(a.model, x, lengths, a.work, "base")
    bad = 0

    def check(name, rows, y, s):
        nonlocal bad
        same = (y.view(np.uint32).tobytes() == y0[rows].view(np.uint32).tobytes()
                and s == [s0[i] for i in rows])
        bad += not same
        print(f"{name}: {len(rows)} rows, {'equal' if same else 'DIFFER'}")

    xn = x.copy()
    xn[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = np.nan
    check("nan padding", list(range(len(x))), *run(a.model, xn, lengths, a.work, "nan"))
    for t in a.threads.split(","):
        check(f"{t} threads", list(range(len(x))),
              *run(a.model, x, lengths, a.work, "t" + t, ["--threads", t]))
    rng = np.random.default_rng(1)
    rows = list(rng.permutation(len(x))) + list(rng.integers(0, len(x), 50))
    check("shuffled, repeated", rows, *run(a.model, x[rows], lengths[rows], a.work, "shuf"))
    ys, ss = [], []
    for i in range(min(24, len(x))):
        y, s = run(a.model, x[i:i + 1, :lengths[i]], None, a.work, "one")
        ys.append(y[0])
        ss += s
    check("alone, trimmed", list(range(min(24, len(x)))), np.stack(ys), ss)
    for T in sorted(set(lengths.tolist())):
        rows = [i for i in range(len(x)) if lengths[i] == T]
        check(f"tokens {T} only, trimmed", rows,
              *run(a.model, x[rows, :T], None, a.work, f"len{T}"))
    print("all equal" if not bad else f"{bad} checks differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
