"""Batch invariance of a compiled sequence model: an input's outputs and its
ledger record (tokens, exit, decisions, FLOPs) are the same bits whatever
batch it is in, wherever it sits, whatever the padding and the file's token
count, on any number of threads, and equal to running it alone.

    %python %S/Inputs/invariance.py X.npy LENS.npy PAD EXE [EXE...]

X.npy: the inputs ([N, T, d] floats or [N, T] ids), LENS.npy their counts;
PAD: what to pad with where padding is changed (nan for floats, an integer
for ids). The reference is the first EXE on the batch as given, on 1 thread.
Then, with every EXE (the same model built other ways, e.g. -ftile-rows=3):

  threads 2     the same batch on 2 threads
  at k tokens   the inputs of at most k = ceil(T / 2) tokens, laid out at k
                (a file shorter than X's), padded with PAD
  shuffled      each input 50 times, in a shuffled order, the copies padded
                with random numbers (or random ids), at the model's max
                count, on 1 and on 2 threads
  alone         each input in a file of its own, [n, d] (no padding, no
                --lengths), whose output is [out]

Outputs are compared as bytes, ledger records field by field but "input".
Prints one line per check, e.g. "enc alone: 12 inputs, same bits", and exit
status 1 if any differs. NumPy only.
"""
import json
import os
import subprocess
import sys

import numpy as np

x_path, lens_path, pad = sys.argv[1:4]
exes = [os.path.abspath(e) for e in sys.argv[4:]]
x = np.load(x_path)
lens = np.load(lens_path).astype(np.int64)
N, T = x.shape[:2]
ids = x.dtype.kind in "iu"
bad = 0


def run(exe, xs, lens_=None, threads=1, tag="run"):
    """The outputs and the ledger records (without "input") of one run."""
    xf, yf, lf = tag + "_x.npy", tag + "_y.npy", tag + "_l.jsonl"
    np.save(xf, xs)
    cmd = [exe, xf, "-o", yf, "--stats", lf, "-q", "--threads", str(threads)]
    if lens_ is not None:
        np.save(tag + "_lens.npy", np.asarray(lens_, np.int64))
        cmd += ["--lengths", tag + "_lens.npy"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("invariance: %s failed:\n%s" % (" ".join(cmd), r.stderr))
    recs = []
    for line in open(lf):
        rec = json.loads(line)
        del rec["input"]
        recs.append(rec)
    return np.load(yf), recs


def check(what, y, recs, rows):
    """y[j] and recs[j] against the reference's rows[j]."""
    global bad
    diff = [j for j in range(len(rows))
            if y[j].tobytes() != ref_y[rows[j]].tobytes() or recs[j] != ref_recs[rows[j]]]
    for j in diff[:5]:
        print("  %s: row %d (input %d): %r %r, expected %r %r" %
              (what, j, rows[j], y[j].tolist(), recs[j], ref_y[rows[j]].tolist(),
               ref_recs[rows[j]]))
    print("%s: %d inputs, %s" % (what, len(rows), "same bits" if not diff else
                                 "%d DIFFER" % len(diff)))
    bad += bool(diff)


name = os.path.basename(exes[0])
ref_y, ref_recs = run(exes[0], x, lens, 1, "ref")
assert [r["tokens"] for r in ref_recs] == lens.tolist()
g = np.random.default_rng(7)
for exe in exes:
    tag = os.path.basename(exe)
    y, recs = run(exe, x, lens, 2, "t2")
    check(tag + " threads 2", y, recs, list(range(N)))

    k = (T + 1) // 2  # the inputs of at most k tokens, laid out at k
    sub = [i for i in range(N) if lens[i] <= k]
    xk = np.empty((len(sub), k) + x.shape[2:], x.dtype)
    xk[...] = int(pad) if ids else float(pad)
    for j, i in enumerate(sub):
        xk[j, :lens[i]] = x[i, :lens[i]]
    y, recs = run(exe, xk, lens[sub], 1, "short")
    check("%s at %d tokens (%s padding)" % (tag, k, pad), y, recs, sub)

    rows = g.permutation(np.repeat(np.arange(N), 50))
    if ids:
        xs = g.integers(-5, 1000, (len(rows), T)).astype(x.dtype)
    else:
        xs = (g.standard_normal((len(rows), T) + x.shape[2:]) * 100).astype(x.dtype)
    for j, i in enumerate(rows):
        xs[j, :lens[i]] = x[i, :lens[i]]
    for threads in (1, 2):
        y, recs = run(exe, xs, lens[rows], threads, "shuffled")
        check("%s shuffled x50 (threads %d)" % (tag, threads), y, recs, list(rows))

    ys, rs = [], []
    for i in range(N):
        y, recs = run(exe, x[i, :lens[i]], None, 1, "alone")
        assert y.shape == ref_y.shape[1:], y.shape
        ys.append(y)
        rs.extend(recs)
    check(tag + " alone", np.stack(ys), rs, list(range(N)))
sys.exit(1 if bad else 0)
